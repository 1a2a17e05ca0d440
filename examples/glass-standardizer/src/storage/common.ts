import { randomUUID } from 'node:crypto';
import { resultsJsonOf } from '../domain/encoded.js';
import type {
  AggregateRow,
  DatasetCounts,
  DatasetRecord,
  FirstIsolateKey,
  IsolateRecord,
  NewDataset,
  QualityReport,
  ResultCode,
  RisRow,
  SampleRow,
} from '../types.js';

export const DATASET_COLUMNS = [
  'id',
  'status',
  'progress',
  'country',
  'year',
  'batch_id',
  'format',
  'date_format',
  'filename',
  'upload_path',
  'created_at',
  'updated_at',
  'started_at',
  'finished_at',
  'error',
  'counts',
  'quality',
  'ris',
  'sample',
  'antibiotics',
  'owner',
] as const;

export const ISOLATE_COLUMNS = [
  'dataset_id',
  'isolate_id',
  'source_row',
  'patient_id',
  'specimen_date',
  'date_days',
  'year',
  'sex',
  'age_years',
  'age_group',
  'specimen',
  'organism_raw',
  'pathogen',
  'origin',
  'ward',
  'laboratory',
  'first_glass',
  'first_episode',
  'results',
] as const;

export type Row = Record<string, unknown>;

function parseJson<T>(value: unknown): T | null {
  if (value === null || value === undefined) return null;
  return JSON.parse(String(value)) as T;
}

export function newDatasetRow(input: NewDataset, now: string): DatasetRecord {
  return {
    id: input.id ?? randomUUID(),
    status: 'queued',
    progress: 0,
    country: input.country,
    year: input.year,
    batchId: input.batchId,
    format: input.format,
    dateFormat: input.dateFormat ?? null,
    filename: input.filename ?? null,
    uploadPath: input.uploadPath ?? null,
    createdAt: now,
    updatedAt: now,
    startedAt: null,
    finishedAt: null,
    error: null,
    counts: null,
    quality: null,
    ris: null,
    sample: null,
    antibiotics: [],
    owner: input.owner ?? null,
  };
}

export function datasetToRow(d: DatasetRecord): Row {
  return {
    id: d.id,
    status: d.status,
    progress: d.progress,
    country: d.country,
    year: d.year,
    batch_id: d.batchId,
    format: d.format,
    date_format: d.dateFormat,
    filename: d.filename,
    upload_path: d.uploadPath,
    created_at: d.createdAt,
    updated_at: d.updatedAt,
    started_at: d.startedAt,
    finished_at: d.finishedAt,
    error: d.error,
    counts: d.counts ? JSON.stringify(d.counts) : null,
    quality: d.quality ? JSON.stringify(d.quality) : null,
    ris: d.ris ? JSON.stringify(d.ris) : null,
    sample: d.sample ? JSON.stringify(d.sample) : null,
    antibiotics: JSON.stringify(d.antibiotics),
    owner: d.owner,
  };
}

export function rowToDataset(r: Row): DatasetRecord {
  return {
    id: String(r.id),
    status: r.status as DatasetRecord['status'],
    progress: Number(r.progress),
    country: String(r.country),
    year: Number(r.year),
    batchId: String(r.batch_id),
    format: r.format as DatasetRecord['format'],
    dateFormat: (r.date_format ?? null) as DatasetRecord['dateFormat'],
    filename: (r.filename ?? null) as string | null,
    uploadPath: (r.upload_path ?? null) as string | null,
    createdAt: String(r.created_at),
    updatedAt: String(r.updated_at),
    startedAt: (r.started_at ?? null) as string | null,
    finishedAt: (r.finished_at ?? null) as string | null,
    error: (r.error ?? null) as string | null,
    counts: parseJson<DatasetCounts>(r.counts),
    quality: parseJson<QualityReport>(r.quality),
    ris: parseJson<RisRow[]>(r.ris),
    sample: parseJson<SampleRow[]>(r.sample),
    antibiotics: parseJson<string[]>(r.antibiotics) ?? [],
    owner: (r.owner ?? null) as string | null,
  };
}

export function isolateToValues(datasetId: string, i: IsolateRecord): unknown[] {
  return [
    datasetId,
    i.isolateId,
    i.sourceRow,
    i.patientId,
    i.specimenDate,
    i.dateDays,
    i.year,
    i.sex,
    i.ageYears,
    i.ageGroup,
    i.specimen,
    i.organismRaw,
    i.pathogen,
    i.origin,
    i.ward,
    i.laboratory,
    i.firstIsolateGlass ? 1 : 0,
    i.firstIsolateEpisode ? 1 : 0,
    resultsJsonOf(i),
  ];
}

function numOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}

export function rowToIsolate(r: Row): IsolateRecord {
  return {
    isolateId: Number(r.isolate_id),
    sourceRow: Number(r.source_row),
    patientId: String(r.patient_id),
    specimenDate: (r.specimen_date ?? null) as string | null,
    dateDays: numOrNull(r.date_days),
    year: numOrNull(r.year),
    sex: r.sex as IsolateRecord['sex'],
    ageYears: numOrNull(r.age_years),
    ageGroup: String(r.age_group),
    specimen: String(r.specimen),
    organismRaw: String(r.organism_raw),
    pathogen: String(r.pathogen),
    origin: r.origin as IsolateRecord['origin'],
    ward: (r.ward ?? null) as string | null,
    laboratory: (r.laboratory ?? null) as string | null,
    firstIsolateGlass: Number(r.first_glass) === 1,
    firstIsolateEpisode: Number(r.first_episode) === 1,
    results: JSON.parse(String(r.results)) as Record<string, ResultCode>,
  };
}

/** Patch fields → column names, for UPDATE statements. */
export const PATCH_COLUMNS: Record<string, string> = {
  status: 'status',
  progress: 'progress',
  startedAt: 'started_at',
  finishedAt: 'finished_at',
  error: 'error',
  counts: 'counts',
  quality: 'quality',
  ris: 'ris',
  sample: 'sample',
  antibiotics: 'antibiotics',
  uploadPath: 'upload_path',
};

export function patchValue(key: string, value: unknown): unknown {
  if (['counts', 'quality', 'ris', 'sample', 'antibiotics'].includes(key)) {
    return value === null || value === undefined ? null : JSON.stringify(value);
  }
  return value ?? null;
}

export function toKey(r: Row): FirstIsolateKey {
  return {
    isolateId: Number(r.isolate_id),
    sourceRow: Number(r.source_row),
    patientId: String(r.patient_id),
    pathogen: String(r.pathogen),
    specimen: String(r.specimen),
    dateDays: Number(r.date_days),
    year: Number(r.year),
    glass: Number(r.first_glass) === 1,
    episode: Number(r.first_episode) === 1,
  };
}

export const KEY_COLUMNS =
  'isolate_id, source_row, patient_id, pathogen, specimen, date_days, year, first_glass, first_episode';

/**
 * One row of `SELECT isolate_id, first_glass, first_episode, pathogen, specimen, sex, age_group,
 * origin, year, ward, laboratory, results` as an array (both storages read it that way).
 */
export function rawToAggregateRow(r: readonly unknown[]): AggregateRow {
  return {
    glass: Number(r[1]) === 1,
    episode: Number(r[2]) === 1,
    pathogen: String(r[3]),
    specimen: String(r[4]),
    sex: String(r[5]),
    ageGroup: String(r[6]),
    origin: String(r[7]),
    year: numOrNull(r[8]),
    ward: (r[9] ?? null) as string | null,
    laboratory: (r[10] ?? null) as string | null,
    resultsJson: String(r[11]),
  };
}
