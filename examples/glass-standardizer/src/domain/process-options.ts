import { DEFAULT_TABLES, type ReferenceTables } from './reference.js';

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

/** Resolved options of `processDataset`. */
export interface ProcessConfig {
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

export function resolveProcessOptions(options: ProcessOptions = {}): ProcessConfig {
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
