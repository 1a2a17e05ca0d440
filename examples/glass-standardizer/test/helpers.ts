import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  buildPanelIndex,
  checkRis,
  createSqliteStorage,
  type DatasetRecord,
  type GlassStorage,
  PANELS,
  type ProcessOptions,
  processDataset,
} from '../src/index.js';

// Copies of ../shared/glass/samples, so the repo's tests do not depend on a folder beside it.
export const SAMPLES = fileURLToPath(new URL('./fixtures/samples', import.meta.url));
export const NOW = new Date('2025-06-30T00:00:00Z');

export interface Harness {
  storage: GlassStorage;
  dir: string;
  run(
    input: string | import('node:stream').Readable,
    extra?: {
      format?: 'csv' | 'xlsx';
      dateFormat?: 'DMY' | 'MDY' | 'YMD';
      options?: ProcessOptions;
      year?: number;
      encoding?: 'auto' | 'utf-8' | 'latin1';
    },
  ): Promise<DatasetRecord>;
  close(): Promise<void>;
}

/** A SQLite storage in a temp directory, and a one-call processDataset. */
export async function harness(storage?: GlassStorage): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'glass-test-'));
  const store = storage ?? createSqliteStorage({ filename: join(dir, 'glass.db') });
  await store.init();
  return {
    storage: store,
    dir,
    async run(input, extra = {}) {
      const d = await store.createDataset({
        country: 'KEN',
        year: extra.year ?? 2024,
        batchId: 'B-1',
        format: extra.format ?? 'csv',
        ...(extra.dateFormat ? { dateFormat: extra.dateFormat } : {}),
      });
      return processDataset(
        { datasetId: d.id, input, ...(extra.encoding ? { encoding: extra.encoding } : {}) },
        store,
        { now: NOW, ...extra.options },
      );
    },
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function entry(d: DatasetRecord, code: string) {
  const e = d.quality?.entries.find((x) => x.code === code);
  if (!e)
    throw new Error(
      `no quality entry ${code}; have ${d.quality?.entries.map((x) => x.code).join(', ')}`,
    );
  return e;
}

/** Codes of the entries that found something. */
export function active(d: DatasetRecord): string[] {
  return (d.quality?.entries ?? []).filter((e) => e.count > 0).map((e) => e.code);
}

/** SPEC rules 12–16 on a RIS output, checked independently of the pipeline's own report. */
export function risViolations(d: DatasetRecord) {
  return checkRis(
    d.ris ?? [],
    { country: d.country, year: d.year, batchId: d.batchId },
    buildPanelIndex(PANELS),
  );
}

export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\n') {
      row.push(cell.replace(/\r$/, ''));
      rows.push(row);
      row = [];
      cell = '';
    } else cell += ch;
  }
  if (cell !== '' || row.length > 0) rows.push([...row, cell]);
  return rows;
}

export async function collect(lines: AsyncIterable<string> | Iterable<string>): Promise<string> {
  let out = '';
  for await (const line of lines) out += line;
  return out;
}
