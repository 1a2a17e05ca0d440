import { csvSafe } from '@shipshape/security';
import { RIS_HEADER, SAMPLE_HEADER } from '../domain/reference.js';
import type { DatasetRecord, GlassStorage, IsolateRecord, ResultCode } from '../types.js';

/**
 * One CSV cell, safe against CSV/formula injection (`@shipshape/security`'s `csvSafe`: `= + - @`,
 * tab or CR first → prefixed `'`, numbers included, as GLASS files have no signed numbers), then
 * quoted when it holds a quote, comma or line break.
 */
export function csvCell(value: unknown): string {
  const text = csvSafe(value, { allowNumbers: false });
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvLine(values: readonly unknown[]): string {
  return `${values.map(csvCell).join(',')}\r\n`;
}

export const ISOLATE_BASE_COLUMNS = [
  'isolate_id',
  'source_row',
  'patient_id',
  'specimen_date',
  'year',
  'sex',
  'age_years',
  'age_group',
  'specimen',
  'organism_raw',
  'pathogen',
  'origin',
  'first_isolate_glass',
  'first_isolate_episode',
] as const;

// isolates.csv shows only interpretations; numbers without breakpoints and unreadable values are blank.
const SHOWN: ReadonlySet<ResultCode> = new Set(['S', 'SDD', 'I', 'R', 'NS', 'NI']);

function isolateLine(i: IsolateRecord, antibiotics: readonly string[]): string {
  const results = antibiotics.map((code) => {
    const r = i.results[code];
    return r && SHOWN.has(r) ? r : '';
  });
  return csvLine([
    i.isolateId,
    i.sourceRow,
    i.patientId,
    i.specimenDate,
    i.year,
    i.sex,
    i.ageYears,
    i.ageGroup,
    i.specimen,
    i.organismRaw,
    i.pathogen,
    i.origin,
    i.firstIsolateGlass ? 1 : 0,
    i.firstIsolateEpisode ? 1 : 0,
    ...results,
  ]);
}

/** isolates.csv (SPEC §4.1), streamed page by page from storage. */
export async function* isolatesCsv(
  storage: GlassStorage,
  dataset: DatasetRecord,
): AsyncGenerator<string> {
  yield csvLine([...ISOLATE_BASE_COLUMNS, ...dataset.antibiotics]);
  for await (const isolate of storage.iterateIsolates(dataset.id)) {
    yield isolateLine(isolate, dataset.antibiotics);
  }
}

/** glass_ris.csv (SPEC §4.2). The caller refuses it while the quality report is blocking. */
export function* risCsv(dataset: DatasetRecord): Generator<string> {
  yield csvLine(RIS_HEADER);
  for (const row of dataset.ris ?? []) yield csvLine(RIS_HEADER.map((h) => row[h]));
}

/** glass_sample.csv (SPEC §4.3); header only when the input had no culture-negative rows. */
export function* sampleCsv(dataset: DatasetRecord): Generator<string> {
  yield csvLine(SAMPLE_HEADER);
  for (const row of dataset.sample ?? []) yield csvLine(SAMPLE_HEADER.map((h) => row[h]));
}

/**
 * The per-row issue list of a quality report, as CSV (first 50 rows per rule, as recorded): each
 * row with the text of its finding; a finding without rows (or a rule that passed) on one line.
 */
export function* qualityIssuesCsv(dataset: DatasetRecord): Generator<string> {
  yield 'row,rule,severity,code,message,rule_count\n';
  const cell = (v: string | number) => {
    const text = csvSafe(String(v));
    return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  const entries = [...(dataset.quality?.entries ?? [])].sort((a, b) => a.rule - b.rule);
  const lines: { row: number; line: string }[] = [];
  for (const e of entries) {
    // Reports stored before entries had `messages` read as one text, the entry's.
    const messages =
      e.messages && e.messages.length > 0
        ? e.messages
        : [{ message: e.message, count: e.count, rows: e.rows }];
    for (const m of messages) {
      const rows = m.rows.length > 0 ? m.rows : [0];
      for (const row of rows)
        lines.push({
          row,
          line: `${row === 0 ? '' : row},${e.rule},${e.severity},${cell(e.code)},${cell(m.message)},${e.count}\n`,
        });
    }
  }
  lines.sort((a, b) => a.row - b.row);
  for (const l of lines) yield l.line;
}
