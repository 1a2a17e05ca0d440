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
