import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { CubeBuilder } from './domain/cube.js';
import { assertDatasetFields } from './domain/dataset-fields.js';
import { encodedIsolate, type IsolateFields, resultsEncoder } from './domain/encoded.js';
import {
  ageGroup,
  buildHeaderIndex,
  buildResultIndex,
  classifyResult,
  type DateOrder,
  DayCache,
  dateShape,
  type HeaderResolution,
  mapOrganism,
  mapSpecimen,
  memoise,
  normaliseValue,
  parseAge,
  type ResultClass,
  resolveHeaders,
  shapeToDays,
  slashEvidence,
} from './domain/normalize.js';
import { QualityAccumulator } from './domain/quality.js';
import { RIS_RULE_CODES } from './domain/quality-rules.js';
import {
  type Canonical,
  DEFAULT_TABLES,
  DIGIT_RESULTS,
  PATHOGEN_OTHER,
  REQUIRED_COLUMNS,
  type ReferenceTables,
  SPECIMEN_OTHER,
} from './domain/reference.js';
import {
  buildPanelIndex,
  checkRis,
  HashSet53,
  hash53,
  RisAggregator,
  RisCandidates,
  SampleAggregator,
} from './domain/ris.js';
import { type Encoding, InputError, openRecords, type SourceRecord } from './io/input.js';
import { asStorageError, storageFault } from './storage/errors.js';
import type {
  DatasetCounts,
  DatasetRecord,
  DateFormat,
  FirstIsolateFlag,
  FirstIsolateKey,
  GlassStorage,
  InputFormat,
  IsolateRecord,
  ResultCode,
} from './types.js';

/** Tunables of the standardizer. All optional. */
export interface ProcessOptions {
  /** Episode length for the episode first-isolate rule, days. @default 365 */
  readonly episodeDays?: number;
  /** Specimen taken more than this many days after admission → hospital origin. @default 2 */
  readonly originHospitalDays?: number;
  /** Isolates per storage transaction. @default 1000 */
  readonly batchSize?: number;
  /** Rows read before the per-column date order and digit coding are decided. @default 10000 */
  readonly lookaheadRows?: number;
  /** More header columns than this is a file ERROR. @default 1000 */
  readonly maxColumns?: number;
  /** A cell longer than this (characters) makes its row a quality ERROR. @default 32768 */
  readonly maxCellChars?: number;
  /** Override any reference table (SPEC's *configurable* lists). */
  readonly tables?: Partial<ReferenceTables>;
  /** "Today" for the future-date check. @default new Date() */
  readonly now?: Date;
}

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

interface Config {
  episodeDays: number;
  originHospitalDays: number;
  batchSize: number;
  lookaheadRows: number;
  maxColumns: number;
  maxCellChars: number;
  tables: ReferenceTables;
  nowDays: number;
}

function positiveInt(name: string, value: number | undefined, fallback: number, min = 1): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min) {
    throw new Error(
      `glass-standardizer: option "${name}" must be an integer >= ${min}, got ${JSON.stringify(value)}`,
    );
  }
  return v;
}

const KNOWN_OPTIONS: { readonly [K in keyof Required<ProcessOptions>]: true } = {
  episodeDays: true,
  originHospitalDays: true,
  batchSize: true,
  lookaheadRows: true,
  maxColumns: true,
  maxCellChars: true,
  tables: true,
  now: true,
};

export function resolveProcessOptions(options: ProcessOptions = {}): Config {
  for (const key of Object.keys(options)) {
    if (!(key in KNOWN_OPTIONS)) {
      throw new Error(
        `glass-standardizer: unknown option "${key}"; known options: ${Object.keys(KNOWN_OPTIONS).join(', ')}`,
      );
    }
  }
  if (
    options.now !== undefined &&
    !(options.now instanceof Date && Number.isFinite(options.now.getTime()))
  ) {
    throw new Error(
      `glass-standardizer: option "now" must be a valid Date, got ${String(options.now)}`,
    );
  }
  return {
    episodeDays: positiveInt('episodeDays', options.episodeDays, 365),
    originHospitalDays: positiveInt('originHospitalDays', options.originHospitalDays, 2, 0),
    batchSize: positiveInt('batchSize', options.batchSize, 1000),
    lookaheadRows: positiveInt('lookaheadRows', options.lookaheadRows, 10_000),
    maxColumns: positiveInt('maxColumns', options.maxColumns, 1000),
    maxCellChars: positiveInt('maxCellChars', options.maxCellChars, 32_768),
    tables: { ...DEFAULT_TABLES, ...options.tables },
    nowDays: Math.floor((options.now ?? new Date()).getTime() / 86_400_000),
  };
}

const COMPLETENESS_FIELDS = [
  'patient_id',
  'date',
  'specimen',
  'organism',
  'sex',
  'age',
  'origin',
  'results',
] as const;
type CompletenessField = (typeof COMPLETENESS_FIELDS)[number];

type DateColumn = 'specimen_date' | 'admission_date' | 'date_of_birth';

interface DateColumnPlan {
  order: DateOrder;
  decided: 'evidence' | 'declared' | 'ambiguous-default' | 'unneeded';
}

/** Per-column decisions taken from the look-ahead rows. */
interface ColumnPlan {
  dates: Partial<Record<Canonical, DateColumnPlan>>;
  digitColumns: Set<number>;
}

function planColumns(
  rows: readonly SourceRecord[],
  headers: HeaderResolution,
  declared: DateFormat | null,
  results: ReturnType<typeof buildResultIndex>,
  q: QualityAccumulator,
  headerCells: readonly string[],
): ColumnPlan {
  const dates: Partial<Record<Canonical, DateColumnPlan>> = {};
  for (const column of ['specimen_date', 'admission_date', 'date_of_birth'] as const) {
    const index = headers.canonical[column];
    if (index === undefined) continue;
    let dmy = 0;
    let mdy = 0;
    let ambiguous = 0;
    for (const r of rows) {
      const evidence = slashEvidence(dateShape(r.cells[index] ?? ''));
      if (evidence === 'DMY') dmy++;
      else if (evidence === 'MDY') mdy++;
      else if (evidence === 'ambiguous') ambiguous++;
    }
    let plan: DateColumnPlan;
    if (dmy > 0 || mdy > 0) {
      plan = { order: dmy >= mdy ? 'DMY' : 'MDY', decided: 'evidence' };
    } else if (ambiguous === 0) {
      plan = { order: declared === 'MDY' ? 'MDY' : 'DMY', decided: 'unneeded' };
    } else if (declared === 'DMY' || declared === 'MDY') {
      plan = { order: declared, decided: 'declared' };
    } else {
      plan = { order: 'DMY', decided: 'ambiguous-default' };
      q.add('DATE_AMBIGUOUS', undefined, headerCells[index] ?? column);
    }
    dates[column] = plan;
  }
  const digitColumns = new Set<number>();
  for (const indexes of headers.antibiotics.values()) {
    for (const index of indexes) {
      let digits = 0;
      let other = 0;
      for (const r of rows) {
        const c = classifyResult(r.cells[index] ?? '', results);
        if (c.kind === 'digit') digits++;
        else if (c.kind !== 'not_tested') other++;
      }
      if (digits > 0 && other === 0) digitColumns.add(index);
    }
  }
  return { dates, digitColumns };
}

function resultFromClass(c: ResultClass, digitColumn: boolean): ResultCode | undefined {
  switch (c.kind) {
    case 'not_tested':
      return undefined;
    case 'interpreted':
      return c.value;
    case 'digit':
      return digitColumn ? DIGIT_RESULTS[c.digit] : 'NO_BREAKPOINT';
    case 'numeric':
      return 'NO_BREAKPOINT';
    default:
      return 'UNREADABLE';
  }
}

// Which of two results for the same antibiotic (e.g. disk and MIC columns) to keep.
const RESULT_RANK: Record<ResultCode, number> = {
  R: 5,
  NS: 5,
  I: 5,
  SDD: 5,
  S: 5,
  NI: 3,
  NO_BREAKPOINT: 2,
  UNREADABLE: 1,
};

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

/**
 * Standardizes one uploaded file into the dataset: streams rows, stores isolates in batches,
 * computes first isolates, RIS/SAMPLE, the quality report and the analytics cube. Resolves with the
 * final dataset record (status done, failed or interrupted); rejects with a `StorageError` when the
 * storage becomes unavailable (the dataset is left `processing` for the caller to retry), and when
 * the storage fails while recording a failure.
 */
export async function processDataset(
  job: ProcessJob,
  storage: GlassStorage,
  options: ProcessOptions = {},
  hooks: ProcessHooks = {},
): Promise<DatasetRecord> {
  const config = resolveProcessOptions(options);
  const dataset = await storage.getDataset(job.datasetId);
  if (!dataset) {
    throw new Error(
      `glass-standardizer: processDataset: dataset "${job.datasetId}" does not exist`,
    );
  }
  assertDatasetFields(dataset);
  const startedAt = new Date().toISOString();
  await storage.deleteIsolates(dataset.id);
  await storage.updateDataset(dataset.id, {
    status: 'processing',
    progress: 0,
    startedAt,
    finishedAt: null,
    error: null,
  });
  try {
    const outcome = await run(job, dataset, storage, config, hooks);
    return (await storage.updateDataset(dataset.id, {
      status: 'done',
      progress: 100,
      finishedAt: new Date().toISOString(),
      ...outcome,
    })) as DatasetRecord;
  } catch (err) {
    const aborted = err instanceof AbortedError || hooks.signal?.aborted === true;
    const fault = storageFault(err);
    // The storage went away: nothing can be recorded now. The caller retries the dataset once
    // the storage answers again (it is still `processing`, so a restart resumes it too).
    if (fault === 'unavailable' && !aborted) throw asStorageError(err);
    // A full disk: the partial isolates go first, which frees room to record the failure.
    await storage.deleteIsolates(dataset.id);
    return (await storage.updateDataset(dataset.id, {
      status: aborted ? 'interrupted' : 'failed',
      finishedAt: new Date().toISOString(),
      error: aborted
        ? 'processing was interrupted'
        : fault === 'full'
          ? 'the disk under DATA_DIR filled up while the dataset was stored; free space, then upload the file again'
          : (err as Error).message,
    })) as DatasetRecord;
  }
}

type Outcome = Pick<DatasetRecord, 'counts' | 'quality' | 'ris' | 'sample' | 'antibiotics'>;

async function run(
  job: ProcessJob,
  dataset: DatasetRecord,
  storage: GlassStorage,
  config: Config,
  hooks: ProcessHooks,
): Promise<Outcome> {
  const { tables } = config;
  const q = new QualityAccumulator();
  const counts = { ...emptyCounts() } as { -readonly [K in keyof DatasetCounts]: DatasetCounts[K] };
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
    const col = headers.canonical;
    const cell = (cells: readonly string[], name: Canonical): string => {
      const index = col[name];
      return index === undefined ? '' : (cells[index] ?? '').trim();
    };
    const placeholders = new Set(tables.placeholderPatientIds.map((p) => p.toLowerCase()));
    const seenRows = new HashSet53();
    const sample = new SampleAggregator();
    const glassSpecimens = new Set(tables.panels.flatMap((p) => p.specimens));
    const filled: Record<CompletenessField, number> = {
      patient_id: 0,
      date: 0,
      specimen: 0,
      organism: 0,
      sex: 0,
      age: 0,
      origin: 0,
      results: 0,
    };
    let resultCells = 0;
    let unreadableCells = 0;
    let batch: IsolateRecord[] = [];
    let isolateId = 0;
    let lastProgressAt = 0;
    const contradicted = new Set<string>();
    const day = new DayCache();
    const headerWidth = headerCells.length;
    // Pure per-cell conversions, memoised for this file: the same few values repeat on every row.
    const classify = memoise((raw) => classifyResult(raw, results));
    // Per date column: a cell's text → the order evidence it gives and its day number.
    const dateReader = (name: DateColumn) => {
      const order = plan.dates[name]?.order ?? 'DMY';
      return memoise((raw) => {
        const shape = dateShape(raw);
        return { evidence: slashEvidence(shape), days: shapeToDays(shape, order), order };
      });
    };
    const readDate = {
      specimen_date: dateReader('specimen_date'),
      admission_date: dateReader('admission_date'),
      date_of_birth: dateReader('date_of_birth'),
    };
    const normalised = memoise(normaliseValue);
    const specimenOf = memoise((raw) => mapSpecimen(raw, tables));
    const organismOf = memoise((raw) => mapOrganism(raw, tables));
    // One slot per antibiotic of the file; a row's results are kept by slot for the RIS.
    const slots = [...headers.antibiotics];
    const slotOf = new Map(slots.map(([code], s) => [code, s]));
    const rowResults: (ResultCode | undefined)[] = slots.map(() => undefined);
    const encodeResults = resultsEncoder(slots.map(([code]) => code));
    const ris = new RisAggregator(panels, request);
    const candidates = new RisCandidates(ris, tables.panels);
    // Per stratum: the slot of each panel antibiotic (-1 when the file has no such column).
    const panelSlots: number[][] = [];
    const slotsOfStratum = (stratum: number): number[] => {
      let found = panelSlots[stratum];
      if (!found) {
        found = ris.antibiotics(stratum).map((code) => slotOf.get(code) ?? -1);
        panelSlots[stratum] = found;
      }
      return found;
    };

    const parseDate = (
      cells: readonly string[],
      name: DateColumn,
      row: number,
    ): { days: number | undefined; raw: string } => {
      const raw = cell(cells, name);
      const { evidence, days, order } = readDate[name](raw);
      if (
        (evidence === 'DMY' || evidence === 'MDY') &&
        evidence !== order &&
        !contradicted.has(name)
      ) {
        contradicted.add(name);
        q.add('DATE_ORDER_CONTRADICTED', row, raw, {
          column: name,
          order,
          evidence,
          lookaheadRows: config.lookaheadRows,
        });
      }
      return { days, raw };
    };

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
        await storage.updateDataset(dataset.id, { progress });
      }
    };

    const handleRow = (record: SourceRecord): IsolateRecord | undefined => {
      const { cells, row } = record;
      counts.rowsRead++;
      if (cells.every((c) => c.trim() === '')) {
        counts.skippedRows++;
        return undefined;
      }
      for (let i = 0; i < cells.length; i++) {
        if ((cells[i] as string).length > config.maxCellChars) {
          q.add(
            'CELL_TOO_LARGE',
            row,
            `${headerCells[i] ?? `column ${i + 1}`}: ${(cells[i] as string).length} characters`,
            { maxCellChars: config.maxCellChars },
          );
          counts.skippedRows++;
          return undefined;
        }
      }
      if (cells.length !== headerWidth) {
        q.add('COLUMN_COUNT', row, String(cells.length), { headerWidth });
      }
      const rowHash = hash53(cells.join('\u0001'));
      if (!seenRows.add(rowHash)) {
        counts.duplicateRows++;
        q.add('DUPLICATE_ROWS', row, undefined);
        return undefined;
      }

      const patientId = cell(cells, 'patient_id');
      const placeholder = placeholders.has(patientId.toLowerCase());
      if (placeholder) q.add('PATIENT_PLACEHOLDER', row, patientId);
      if (patientId !== '' && !placeholder) filled.patient_id++;

      const spec = parseDate(cells, 'specimen_date', row);
      let dateDays: number | null = null;
      if (spec.days === undefined) {
        q.add('DATE_INVALID', row, spec.raw);
      } else if (spec.days > config.nowDays) {
        q.add('DATE_FUTURE', row, spec.raw);
      } else if (day.year(spec.days) < 1990) {
        q.add('DATE_BEFORE_1990', row, spec.raw);
      } else {
        dateDays = spec.days;
        filled.date++;
      }

      const sexRaw = normalised(cell(cells, 'sex'));
      const sex = tables.sexValues[sexRaw] ?? 'UNK';
      if (sex !== 'UNK') filled.sex++;
      else if (sexRaw !== '') q.add('SEX_INVALID', row, cell(cells, 'sex'));

      let ageYears: number | null = null;
      if (col.age !== undefined) {
        const ageRaw = cell(cells, 'age');
        const age = parseAge(ageRaw);
        if (age.ok && age.years <= 120) ageYears = age.years;
        else if (ageRaw !== '') q.add('AGE_INVALID', row, ageRaw);
      } else if (col.date_of_birth !== undefined) {
        const dob = parseDate(cells, 'date_of_birth', row);
        if (dob.days !== undefined && dateDays !== null) {
          const years = Math.floor((dateDays - dob.days) / 365.25);
          if (years >= 0 && years <= 120) ageYears = years;
          else q.add('AGE_INVALID', row, dob.raw);
        } else if (dob.raw !== '') {
          q.add('AGE_INVALID', row, dob.raw);
        }
      }
      if (ageYears !== null) filled.age++;

      let origin: 'CO' | 'HO' | 'UNK' = 'UNK';
      const originRaw = normalised(cell(cells, 'origin'));
      if (originRaw !== '') origin = tables.originValues[originRaw] ?? 'UNK';
      if (col.admission_date !== undefined) {
        const adm = parseDate(cells, 'admission_date', row);
        if (adm.days !== undefined && dateDays !== null) {
          if (adm.days > dateDays) {
            q.add('ADMISSION_AFTER_SPECIMEN', row, `${adm.raw} > ${spec.raw}`);
          } else if (originRaw === '') {
            origin = dateDays - adm.days > config.originHospitalDays ? 'HO' : 'CO';
          }
        }
      }
      if (origin !== 'UNK') filled.origin++;

      const specimenRaw = cell(cells, 'specimen_type');
      const specimen = specimenOf(specimenRaw);
      if (specimenRaw !== '') filled.specimen++;
      const organismRaw = cell(cells, 'organism');
      const organism = organismOf(organismRaw);
      if (organism.kind !== 'empty') filled.organism++;
      const group = ageGroup(ageYears, tables);
      if (
        dateDays !== null &&
        day.year(dateDays) === dataset.year &&
        glassSpecimens.has(specimen)
      ) {
        const key = patientId === '' || placeholder ? `row:${row}` : `p:${patientId}`;
        sample.add(specimen, sex, origin, group, key);
      }
      if (organism.kind === 'no_growth') {
        counts.noGrowthRows++;
        return undefined;
      }
      if (organism.kind === 'unknown') {
        q.add('ORGANISM_UNKNOWN', row, organismRaw);
      }
      const pathogen = organism.kind === 'pathogen' ? organism.code : PATHOGEN_OTHER;

      let readable = 0;
      for (let s = 0; s < slots.length; s++) {
        const [code, indexes] = slots[s] as [string, readonly number[]];
        let best: ResultCode | undefined;
        for (const index of indexes) {
          const raw = cells[index] ?? '';
          const c = classify(raw);
          if (c.kind === 'not_tested') continue;
          resultCells++;
          const value = resultFromClass(c, plan.digitColumns.has(index));
          if (value === 'UNREADABLE') {
            unreadableCells++;
            q.add('RESULT_UNREADABLE', row, raw.trim());
          }
          if (value && (best === undefined || RESULT_RANK[value] > RESULT_RANK[best])) best = value;
          if (
            plan.digitColumns.has(index) &&
            c.kind !== 'digit' &&
            !contradicted.has(`d${index}`)
          ) {
            contradicted.add(`d${index}`);
            q.add('DIGIT_CODING_CONTRADICTED', row, headerCells[index] ?? code, {
              lookaheadRows: config.lookaheadRows,
            });
          }
        }
        rowResults[s] = best;
        if (best !== undefined && best !== 'UNREADABLE') readable++;
      }
      if (readable === 0) q.add('NO_RESULTS', row, undefined);
      else filled.results++;
      if (
        pathogen !== PATHOGEN_OTHER &&
        specimen !== SPECIMEN_OTHER &&
        !panels.has(`${specimen}|${pathogen}`)
      ) {
        q.add('PANEL_MISMATCH', row, `${specimen}/${pathogen}`);
      } else if (pathogen !== PATHOGEN_OTHER && specimen === SPECIMEN_OTHER) {
        q.add('PANEL_MISMATCH', row, `${specimenRaw || '(empty)'}/${pathogen}`);
      }

      isolateId++;
      if (dateDays !== null && day.year(dateDays) === dataset.year) {
        // Whether it counts is known only after the first-isolate pass; keep what the RIS needs.
        const stratum = ris.stratum(specimen, pathogen, sex, origin, group);
        if (stratum >= 0) {
          const panel = slotsOfStratum(stratum);
          candidates.keep(isolateId, stratum, (a) => {
            const slot = panel[a] as number;
            return slot < 0 ? undefined : rowResults[slot];
          });
        }
      }
      const presumedFirst = dateDays !== null && patientId !== '' && !placeholder;
      const fields: IsolateFields = {
        isolateId,
        sourceRow: row,
        patientId,
        specimenDate: dateDays === null ? null : day.iso(dateDays),
        dateDays,
        year: dateDays === null ? null : day.year(dateDays),
        sex,
        ageYears,
        ageGroup: group,
        specimen,
        organismRaw,
        pathogen,
        origin,
        ward: col.ward === undefined ? null : cell(cells, 'ward'),
        laboratory: col.laboratory === undefined ? null : cell(cells, 'laboratory'),
        // Stored as a lone isolate would be (first by both rules when it can be first at all), so
        // the first-isolate pass rewrites only the isolates of patients with several.
        firstIsolateGlass: presumedFirst,
        firstIsolateEpisode: presumedFirst,
      };
      return encodedIsolate(fields, encodeResults(rowResults));
    };

    try {
      for (const record of lookahead) {
        const isolate = handleRow(record);
        if (isolate) batch.push(isolate);
        // Awaiting only full batches: an await per row costs a promise and a microtask turn.
        if (batch.length >= config.batchSize) await flush();
      }
      lookahead.length = 0;
      if (!exhausted) {
        for (;;) {
          const next = await iterator.next();
          if (next.done) break;
          const isolate = handleRow(next.value);
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
    counts.isolates = isolateId;
    counts.bytesRead = reader.bytesRead();
    if (unreadableCells > 0) q.setShare('RESULT_UNREADABLE', unreadableCells / resultCells);
    checkAbort();
    hooks.onProgress?.({
      datasetId: dataset.id,
      progress: 90,
      rowsRead: counts.rowsRead,
      phase: 'first-isolates',
    });
    await storage.updateDataset(dataset.id, { progress: 90 });

    // First isolates, in storage order (patient, pathogen, date, row): flat memory. The RIS is
    // aggregated in the same pass from GLASS-rule first isolates.
    let outOfYear = 0;
    const firsts = await markFirstIsolates(
      storage,
      dataset.id,
      config.episodeDays,
      placeholders,
      checkAbort,
      (key) => {
        if (key.year !== dataset.year) outOfYear++;
        else candidates.count(key.isolateId);
      },
    );
    if (outOfYear > 0) {
      q.addCount('OUTSIDE_YEAR', outOfYear, { year: dataset.year });
    }
    counts.firstIsolatesGlass = firsts.glass;
    counts.firstIsolatesEpisode = firsts.episode;
    q.addCount('NOT_FIRST_ISOLATE', counts.isolates - firsts.glass, {
      noPatient: firsts.noPatient,
    });
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
    const measured = counts.isolates;
    const completeness: Record<string, number> = {};
    for (const field of COMPLETENESS_FIELDS) {
      completeness[field] = measured === 0 ? 0 : Math.round((filled[field] / measured) * 1000) / 10;
    }
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

/**
 * GLASS rule: earliest isolate per patient × pathogen × specimen × year (ties: lower row).
 * Episode rule: counted when no counted isolate of the same patient and pathogen lies within
 * `episodeDays` before it. Isolates without patient id or date are never first isolates.
 * Writes only the flags that differ from the stored ones, in isolate id order.
 */
export async function markFirstIsolates(
  storage: GlassStorage,
  datasetId: string,
  episodeDays: number,
  placeholders: ReadonlySet<string>,
  checkAbort: () => void = () => undefined,
  onGlassFirst: (key: FirstIsolateKey) => void = () => undefined,
): Promise<{ glass: number; episode: number; noPatient: number }> {
  let group = '';
  let seenSpecimenYear = new Set<string>();
  let lastCounted: number | undefined;
  // Changed flags by isolate id (bit 4 = changed, bit 1 GLASS, bit 2 episode), written after the
  // pass in id order: the storage then touches each page of the table once, not once per patient.
  let changes = new Uint8Array(1024);
  let maxId = 0;
  let glass = 0;
  let episode = 0;
  let keyed = 0;
  let noPatient = 0;
  for await (const key of storage.iterateFirstIsolateKeys(datasetId)) {
    keyed++;
    if (keyed % 5000 === 0) checkAbort();
    let isGlass = false;
    let isEpisode = false;
    if (key.patientId === '' || placeholders.has(key.patientId.toLowerCase())) {
      noPatient++;
    } else {
      const g = `${key.patientId}\u0000${key.pathogen}`;
      if (g !== group) {
        group = g;
        seenSpecimenYear = new Set();
        lastCounted = undefined;
      }
      const sy = `${key.specimen}|${key.year}`;
      isGlass = !seenSpecimenYear.has(sy);
      if (isGlass) seenSpecimenYear.add(sy);
      isEpisode = lastCounted === undefined || key.dateDays - lastCounted > episodeDays;
      if (isEpisode) lastCounted = key.dateDays;
      if (isGlass) {
        glass++;
        onGlassFirst(key);
      }
      if (isEpisode) episode++;
    }
    if (isGlass === key.glass && isEpisode === key.episode) continue;
    if (key.isolateId >= changes.length) {
      const grown = new Uint8Array(Math.max(changes.length * 2, key.isolateId + 1));
      grown.set(changes);
      changes = grown;
    }
    changes[key.isolateId] = 4 | (isGlass ? 1 : 0) | (isEpisode ? 2 : 0);
    maxId = Math.max(maxId, key.isolateId);
  }
  let pending: FirstIsolateFlag[] = [];
  for (let id = 1; id <= maxId; id++) {
    const f = changes[id] as number;
    if (f === 0) continue;
    pending.push({ isolateId: id, glass: (f & 1) !== 0, episode: (f & 2) !== 0 });
    if (pending.length >= 5000) {
      await storage.setFirstIsolateFlags(datasetId, pending);
      pending = [];
      checkAbort();
    }
  }
  await storage.setFirstIsolateFlags(datasetId, pending);
  const total = await storage.countIsolates(datasetId);
  // Undated isolates are not in the key order at all.
  return { glass, episode, noPatient: noPatient + (total - keyed) };
}
