import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { planColumns } from './domain/column-plan.js';
import { CubeBuilder } from './domain/cube.js';
import { firstIsolatePass } from './domain/first-isolates.js';
import { buildHeaderIndex, buildResultIndex, resolveHeaders } from './domain/normalize.js';
import type { ProcessConfig } from './domain/process-options.js';
import { QualityAccumulator } from './domain/quality.js';
import { RIS_RULE_CODES } from './domain/quality-rules.js';
import { REQUIRED_COLUMNS } from './domain/reference.js';
import {
  buildPanelIndex,
  checkRis,
  RisAggregator,
  RisCandidates,
  SampleAggregator,
} from './domain/ris.js';
import {
  COMPLETENESS_FIELDS,
  type MutableCounts,
  placeholderIds,
  rowStandardizer,
} from './domain/row-standardizer.js';
import { type Encoding, InputError, openRecords, type SourceRecord } from './io/input.js';
import type { DatasetOutcome } from './processing/dataset-status.js';
import type {
  DatasetCounts,
  DatasetRecord,
  DateFormat,
  GlassStorage,
  InputFormat,
  IsolateRecord,
} from './types.js';

export { markFirstIsolates } from './domain/first-isolates.js';
export { type ProcessOptions, resolveProcessOptions } from './domain/process-options.js';

export interface ProcessJob {
  /** A dataset created with `storage.createDataset`; its country/year/batchId are used. */
  readonly datasetId: string;
  /** A file path or a readable byte stream. */
  readonly input: Readable | string;
  /** Overrides the dataset's stored format. */
  readonly format?: InputFormat;
  /** Overrides the dataset's stored date format. */
  readonly dateFormat?: DateFormat | null;
  /** CSV text encoding. @default 'auto' */
  readonly encoding?: Encoding;
}

export interface ProgressEvent {
  readonly datasetId: string;
  readonly progress: number;
  readonly rowsRead: number;
  readonly phase: 'reading' | 'first-isolates' | 'outputs' | 'analytics' | 'done';
}

export interface ProcessHooks {
  readonly onProgress?: (event: ProgressEvent) => void;
  readonly signal?: AbortSignal;
}

export class AbortedError extends Error {
  constructor() {
    super('glass-standardizer: processing aborted');
    this.name = 'AbortError';
  }
}

function emptyCounts(): DatasetCounts {
  return {
    rowsRead: 0,
    isolates: 0,
    noGrowthRows: 0,
    duplicateRows: 0,
    skippedRows: 0,
    firstIsolatesGlass: 0,
    firstIsolatesEpisode: 0,
    risRows: 0,
    sampleRows: 0,
    bytesRead: 0,
  };
}

type Outcome = DatasetOutcome;

/** What `standardize` reports to the one writer of the dataset's status. */
export interface StandardizeHooks extends ProcessHooks {
  /** Stores the dataset's progress: while reading (every ~500 ms at most), then 90. */
  readonly saveProgress: (progress: number) => Promise<unknown>;
}

/**
 * Standardizes one uploaded file into the (already `processing`) dataset: streams rows, stores
 * isolates in batches, computes first isolates, RIS/SAMPLE, the quality report and the analytics
 * cube, and resolves with what the dataset is to store once `done`. It never writes the
 * dataset's status (see processing/dataset-status.ts).
 */
export async function standardize(
  job: ProcessJob,
  dataset: DatasetRecord,
  storage: GlassStorage,
  config: ProcessConfig,
  hooks: StandardizeHooks,
): Promise<Outcome> {
  const { tables } = config;
  const q = new QualityAccumulator();
  const counts: MutableCounts = { ...emptyCounts() };
  const request = { country: dataset.country, year: dataset.year, batchId: dataset.batchId };
  const panels = buildPanelIndex(tables.panels);
  const results = buildResultIndex(tables);
  const headerIndex = buildHeaderIndex(tables);
  const format = job.format ?? dataset.format;
  const declared = job.dateFormat !== undefined ? job.dateFormat : dataset.dateFormat;
  const totalBytes =
    typeof job.input === 'string'
      ? await stat(job.input).then(
          (s) => s.size,
          () => 0,
        )
      : 0;
  const checkAbort = () => {
    if (hooks.signal?.aborted) throw new AbortedError();
  };

  const fileError = (err: InputError) => {
    q.addFile(err.code, 'ERROR', err.message, err.row);
  };

  let reader: Awaited<ReturnType<typeof openRecords>>;
  try {
    reader = await openRecords(job.input, {
      format,
      ...(job.encoding ? { encoding: job.encoding } : {}),
    });
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    fileError(err);
    return finishEmpty(q, counts, []);
  }

  const iterator = reader.records[Symbol.asyncIterator]();
  // Early returns leave the reader mid-file: close it (the XLSX reader holds the file open).
  try {
    let headerRecord: SourceRecord | undefined;
    const lookahead: SourceRecord[] = [];
    let exhausted = false;
    try {
      const first = await iterator.next();
      if (first.done)
        throw new InputError('EMPTY_FILE', 'file is empty: no header row and no data');
      headerRecord = first.value;
      if (headerRecord.cells.length > config.maxColumns) {
        throw new InputError(
          'TOO_MANY_COLUMNS',
          `header has ${headerRecord.cells.length} columns; at most ${config.maxColumns} are accepted`,
          headerRecord.row,
        );
      }
      while (lookahead.length < config.lookaheadRows) {
        const next = await iterator.next();
        if (next.done) {
          exhausted = true;
          break;
        }
        lookahead.push(next.value);
      }
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      fileError(err);
      for (const n of reader.notices) q.addFile(n.code, n.severity, n.message, undefined, n.values);
      return finishEmpty(q, counts, []);
    }
    for (const n of reader.notices) q.addFile(n.code, n.severity, n.message, undefined, n.values);
    const noticesSeen = reader.notices.length;

    const headerCells = headerRecord.cells.map((c) => c.trim());
    const headers = resolveHeaders(headerCells, headerIndex);
    for (const h of headers.unmapped) q.add('UNMAPPED_HEADERS', undefined, h);
    const missing = REQUIRED_COLUMNS.filter((c) => headers.canonical[c] === undefined);
    for (const m of missing) {
      q.add('REQUIRED_COLUMNS', 1, m, { missing });
    }
    if (headers.antibiotics.size === 0) {
      q.add('REQUIRED_COLUMNS', 1, '(antibiotics)', { antibiotics: 'none' });
    }
    const antibioticCodes = [...headers.antibiotics.keys()].sort();
    if (lookahead.length === 0) {
      q.add('HEADER_ONLY', headerRecord.row, undefined);
    }
    if (q.count('REQUIRED_COLUMNS') > 0 || lookahead.length === 0) {
      return finishEmpty(q, counts, antibioticCodes);
    }

    const plan = planColumns(lookahead, headers, declared, results, q, headerCells);
    const sample = new SampleAggregator();
    const ris = new RisAggregator(panels, request);
    const candidates = new RisCandidates(ris, tables.panels);
    const rows = rowStandardizer({
      config,
      year: dataset.year,
      headers,
      headerCells,
      plan,
      results,
      panels,
      q,
      counts,
      sample,
      ris,
      candidates,
    });
    let batch: IsolateRecord[] = [];
    let lastProgressAt = 0;

    const flush = async (force = false) => {
      if (batch.length === 0 || (!force && batch.length < config.batchSize)) return;
      const items = batch;
      batch = [];
      await storage.insertIsolates(dataset.id, items);
      checkAbort();
      const now = Date.now();
      if (now - lastProgressAt > 500) {
        lastProgressAt = now;
        const progress =
          totalBytes > 0 ? Math.min(89, Math.floor((reader.bytesRead() / totalBytes) * 90)) : 0;
        hooks.onProgress?.({
          datasetId: dataset.id,
          progress,
          rowsRead: counts.rowsRead,
          phase: 'reading',
        });
        await hooks.saveProgress(progress);
      }
    };

    try {
      for (const record of lookahead) {
        const isolate = rows.row(record);
        if (isolate) batch.push(isolate);
        // Awaiting only full batches: an await per row costs a promise and a microtask turn.
        if (batch.length >= config.batchSize) await flush();
      }
      lookahead.length = 0;
      if (!exhausted) {
        for (;;) {
          const next = await iterator.next();
          if (next.done) break;
          const isolate = rows.row(next.value);
          if (isolate) batch.push(isolate);
          if (batch.length >= config.batchSize) await flush();
        }
      }
      await flush(true);
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      fileError(err);
      await storage.deleteIsolates(dataset.id);
      return finishEmpty(q, counts, antibioticCodes);
    }
    for (const n of reader.notices.slice(noticesSeen)) {
      q.addFile(n.code, n.severity, n.message, undefined, n.values);
    }
    counts.isolates = rows.isolates();
    counts.bytesRead = reader.bytesRead();
    const unreadable = rows.unreadableShare();
    if (unreadable !== undefined) q.setShare('RESULT_UNREADABLE', unreadable);
    checkAbort();
    hooks.onProgress?.({
      datasetId: dataset.id,
      progress: 90,
      rowsRead: counts.rowsRead,
      phase: 'first-isolates',
    });
    await hooks.saveProgress(90);

    const firsts = await firstIsolatePass({
      storage,
      datasetId: dataset.id,
      year: dataset.year,
      isolates: counts.isolates,
      episodeDays: config.episodeDays,
      placeholders: placeholderIds(tables),
      candidates,
      q,
      checkAbort,
    });
    counts.firstIsolatesGlass = firsts.glass;
    counts.firstIsolatesEpisode = firsts.episode;
    hooks.onProgress?.({
      datasetId: dataset.id,
      progress: 95,
      rowsRead: counts.rowsRead,
      phase: 'outputs',
    });

    const risRows = ris.rows();
    for (const v of checkRis(risRows, request, panels)) {
      q.add(RIS_RULE_CODES[v.rule], v.index + 2, v.value);
    }
    const sampleRows = counts.noGrowthRows > 0 ? sample.rows(request) : [];
    counts.risRows = risRows.length;
    counts.sampleRows = sampleRows.length;
    const completeness = rows.completeness();
    q.addCount('COMPLETENESS', 0);

    // The analytics cube, from the final first-isolate flags: one lean pass over the stored
    // isolates here, so that no analytics request ever scans them (see domain/cube.ts).
    hooks.onProgress?.({
      datasetId: dataset.id,
      progress: 98,
      rowsRead: counts.rowsRead,
      phase: 'analytics',
    });
    const cube = new CubeBuilder(antibioticCodes);
    let aggregated = 0;
    for await (const row of storage.iterateAggregateRows(dataset.id)) {
      cube.add(row);
      if (++aggregated % 5000 === 0) checkAbort();
    }
    await storage.saveAnalytics(dataset.id, JSON.stringify(cube.build()));
    hooks.onProgress?.({
      datasetId: dataset.id,
      progress: 100,
      rowsRead: counts.rowsRead,
      phase: 'done',
    });
    return {
      counts,
      quality: q.report(completeness),
      ris: risRows,
      sample: sampleRows,
      antibiotics: antibioticCodes,
    };
  } finally {
    await iterator.return?.();
  }
}

function finishEmpty(q: QualityAccumulator, counts: DatasetCounts, antibiotics: string[]): Outcome {
  const completeness: Record<string, number> = {};
  for (const field of COMPLETENESS_FIELDS) completeness[field] = 0;
  return { counts, quality: q.report(completeness), ris: [], sample: [], antibiotics };
}
