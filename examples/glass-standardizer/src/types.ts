import type { Interpretation } from './domain/reference.js';

/** Result stored per antibiotic: an interpretation, a number without breakpoint, or unreadable. */
export type ResultCode = Interpretation | 'NO_BREAKPOINT' | 'UNREADABLE';

export type DatasetStatus = 'queued' | 'processing' | 'done' | 'failed' | 'interrupted';

export type Severity = 'ERROR' | 'WARN' | 'INFO';

/** One quality finding (SPEC §3). `rule` 0 is a file-level problem (encoding, size, format). */
export interface QualityEntry {
  readonly rule: number;
  readonly severity: Severity;
  /** Stable machine code, e.g. `DATE_INVALID`, `EMPTY_FILE`. */
  readonly code: string;
  /** What the rule checks (for a file-level entry: its first finding); findings in `messages`. */
  readonly message: string;
  readonly count: number;
  /** First 50 source row numbers (the header is row 1). */
  readonly rows: readonly number[];
  /** First 50 distinct offending values. */
  readonly values: readonly string[];
  /** Share of the checked cells/rows that offend, where meaningful (rule 7). */
  readonly share?: number;
  /**
   * The findings by text, in the order first met: each distinct text with its own count and the
   * rows of `rows` it was found at. The counts add up to `count`. After 20 distinct texts the rest
   * are counted under one `other messages (…)` item.
   */
  readonly messages: readonly QualityMessage[];
}

/** The findings of one quality entry that read the same. */
export interface QualityMessage {
  readonly message: string;
  readonly count: number;
  /** Those of the entry's `rows` (its first 50) where a finding read so. */
  readonly rows: readonly number[];
}

export interface QualityReport {
  readonly entries: readonly QualityEntry[];
  /** Completeness percentages (rule 11), 0–100 with one decimal. */
  readonly completeness: Readonly<Record<string, number>>;
  readonly summary: { readonly errors: number; readonly warnings: number; readonly infos: number };
  /** True when an ERROR blocks the GLASS export. */
  readonly blocking: boolean;
}

export interface DatasetCounts {
  readonly rowsRead: number;
  readonly isolates: number;
  readonly noGrowthRows: number;
  readonly duplicateRows: number;
  readonly skippedRows: number;
  readonly firstIsolatesGlass: number;
  readonly firstIsolatesEpisode: number;
  readonly risRows: number;
  readonly sampleRows: number;
  readonly bytesRead: number;
}

export interface RisRow {
  readonly COUNTRY: string;
  readonly YEAR: number;
  readonly SPECIMEN: string;
  readonly PATHOGEN: string;
  readonly GENDER: string;
  readonly ORIGIN: string;
  readonly AGEGROUP: string;
  readonly ANTIBIOTIC: string;
  readonly RESISTANT: number;
  readonly INTERMEDIATE: number;
  readonly NONSUSCEPTIBLE: number;
  readonly SUSCEPTIBLE: number;
  readonly UNKNOWN_NO_AST: number;
  readonly UNKNOWN_NO_BREAKPOINTS: number;
  readonly BATCHID: string;
}

export interface SampleRow {
  readonly COUNTRY: string;
  readonly YEAR: number;
  readonly SPECIMEN: string;
  readonly GENDER: string;
  readonly ORIGIN: string;
  readonly AGEGROUP: string;
  readonly NUMSAMPLEDPATIENTS: number;
  readonly BATCHID: string;
}

export type InputFormat = 'csv' | 'xlsx';
export type DateFormat = 'DMY' | 'MDY' | 'YMD';

export interface DatasetRecord {
  readonly id: string;
  readonly status: DatasetStatus;
  /** 0–100. */
  readonly progress: number;
  readonly country: string;
  readonly year: number;
  readonly batchId: string;
  readonly format: InputFormat;
  readonly dateFormat: DateFormat | null;
  readonly filename: string | null;
  readonly uploadPath: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly error: string | null;
  readonly counts: DatasetCounts | null;
  readonly quality: QualityReport | null;
  readonly ris: readonly RisRow[] | null;
  readonly sample: readonly SampleRow[] | null;
  /** Antibiotic codes present in the input, in output column order. */
  readonly antibiotics: readonly string[];
  /** Who uploaded it (a principal id), when known: uploaders may delete their own datasets. */
  readonly owner: string | null;
}

export interface NewDataset {
  readonly id?: string;
  readonly country: string;
  readonly year: number;
  readonly batchId: string;
  readonly format: InputFormat;
  readonly dateFormat?: DateFormat | null;
  readonly filename?: string | null;
  readonly uploadPath?: string | null;
  readonly owner?: string | null;
}

export type DatasetPatch = Partial<
  Pick<
    DatasetRecord,
    | 'status'
    | 'progress'
    | 'startedAt'
    | 'finishedAt'
    | 'error'
    | 'counts'
    | 'quality'
    | 'ris'
    | 'sample'
    | 'antibiotics'
    | 'uploadPath'
  >
>;

export interface IsolateRecord {
  /** 1-based, in input order within the dataset. */
  readonly isolateId: number;
  readonly sourceRow: number;
  readonly patientId: string;
  /** ISO 8601 date or null when unreadable. */
  readonly specimenDate: string | null;
  /** Days since 1970-01-01, for ordering; null when unreadable. */
  readonly dateDays: number | null;
  readonly year: number | null;
  readonly sex: 'M' | 'F' | 'UNK';
  readonly ageYears: number | null;
  readonly ageGroup: string;
  readonly specimen: string;
  readonly organismRaw: string;
  readonly pathogen: string;
  readonly origin: 'CO' | 'HO' | 'UNK';
  readonly ward: string | null;
  readonly laboratory: string | null;
  readonly firstIsolateGlass: boolean;
  readonly firstIsolateEpisode: boolean;
  readonly results: Readonly<Record<string, ResultCode>>;
}

/** Compact projection used to compute first isolates in storage order. */
export interface FirstIsolateKey {
  readonly isolateId: number;
  readonly sourceRow: number;
  readonly patientId: string;
  readonly pathogen: string;
  readonly specimen: string;
  readonly dateDays: number;
  readonly year: number;
  /** The flags as stored now; the first-isolate pass writes only the ones that change. */
  readonly glass: boolean;
  readonly episode: boolean;
}

export interface FirstIsolateFlag {
  readonly isolateId: number;
  readonly glass: boolean;
  readonly episode: boolean;
}

/** What the analytics cube needs of one isolate (`AnalyticsCube`, built once per dataset). */
export interface AggregateRow {
  readonly glass: boolean;
  readonly episode: boolean;
  readonly pathogen: string;
  readonly specimen: string;
  readonly sex: string;
  readonly ageGroup: string;
  readonly origin: string;
  readonly year: number | null;
  readonly ward: string | null;
  readonly laboratory: string | null;
  /** The stored results JSON, as written. */
  readonly resultsJson: string;
}

export interface IsolateQuery {
  /** `glass` or `episode` restricts to first isolates by that rule; `all` (default) does not. */
  readonly firstIsolate?: 'glass' | 'episode' | 'all';
  readonly pathogen?: string;
  readonly specimen?: string;
  /** Rows fetched per round trip. @default 2000 */
  readonly pageSize?: number;
}

/**
 * Storage for datasets and their isolates. Both implementations (SQLite, PostgreSQL) pass the
 * same test suite. Every batch write is one transaction.
 */
export interface GlassStorage {
  readonly kind: 'sqlite' | 'postgres';
  /** Creates tables when missing. Idempotent. */
  init(): Promise<void>;
  close(): Promise<void>;
  /**
   * One cheap query that proves the storage answers (the readiness check). Tables that went
   * missing (a database recreated while the service ran) are created again.
   */
  ping(): Promise<void>;
  createDataset(input: NewDataset): Promise<DatasetRecord>;
  getDataset(id: string): Promise<DatasetRecord | undefined>;
  /** Newest first. */
  listDatasets(page?: {
    limit?: number;
    offset?: number;
  }): Promise<{ items: DatasetRecord[]; total: number }>;
  listDatasetsByStatus(statuses: readonly DatasetStatus[]): Promise<DatasetRecord[]>;
  updateDataset(id: string, patch: DatasetPatch): Promise<DatasetRecord | undefined>;
  /**
   * Takes or renews the processing lease of a dataset for `owner` until `now + leaseMs` (epoch
   * ms), so that instances sharing the storage never process one dataset at the same time.
   * True when `owner` holds the lease afterwards; false while another owner's lease runs, and for
   * a dataset that is done, failed or gone.
   */
  claimDataset(id: string, owner: string, leaseMs: number, now?: number): Promise<boolean>;
  /** Gives the lease up; does nothing when `owner` does not hold it. */
  releaseDataset(id: string, owner: string): Promise<void>;
  /**
   * Deletes the dataset and its isolates; false when it did not exist. Large datasets are deleted
   * in short transactions, so neither the event loop nor other writers wait long.
   */
  deleteDataset(id: string): Promise<boolean>;
  /** Every stored upload path, for the sweep of files no dataset refers to. */
  uploadPaths(): Promise<string[]>;
  insertIsolates(datasetId: string, isolates: readonly IsolateRecord[]): Promise<void>;
  /** Deletes a dataset's isolates and its analytics cube (derived from them), in short transactions. */
  deleteIsolates(datasetId: string): Promise<void>;
  /** Stores the analytics cube of a dataset (JSON text), replacing an earlier one. */
  saveAnalytics(datasetId: string, cube: string): Promise<void>;
  /** The stored analytics cube, if the dataset has one. */
  getAnalytics(datasetId: string): Promise<string | undefined>;
  /** Every isolate's analytics fields, in isolate order, page by page. */
  iterateAggregateRows(datasetId: string, pageSize?: number): AsyncIterable<AggregateRow>;
  countIsolates(datasetId: string): Promise<number>;
  /** Isolates in isolate_id order, fetched page by page. */
  iterateIsolates(datasetId: string, query?: IsolateQuery): AsyncIterable<IsolateRecord>;
  /** Dated isolates ordered by patient, pathogen, date, source row. */
  iterateFirstIsolateKeys(datasetId: string, pageSize?: number): AsyncIterable<FirstIsolateKey>;
  setFirstIsolateFlags(datasetId: string, flags: readonly FirstIsolateFlag[]): Promise<void>;
}
