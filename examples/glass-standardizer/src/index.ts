export {
  type AnalyticsQuery,
  type Antibiogram,
  type AntibiogramCell,
  antibiogram,
  GROUP_BY_VALUES,
  type GroupBy,
  nTested,
  type ResistanceRow,
  resistance,
  type Tally,
} from './domain/analytics.js';
export * from './domain/normalize.js';
export { QualityAccumulator } from './domain/quality.js';
export {
  QUALITY_RULES,
  type QualityCode,
  type QualityParams,
  type QualityRule,
  RIS_RULE_CODES,
} from './domain/quality-rules.js';
export * from './domain/reference.js';
export {
  buildPanelIndex,
  checkRis,
  HashSet53,
  hash53,
  RIS_COUNTS,
  type RisCount,
  type RisViolation,
  risCountFor,
} from './domain/ris.js';
export * from './domain/stats.js';
export {
  csvCell,
  csvLine,
  isolatesCsv,
  qualityIssuesCsv,
  risCsv,
  sampleCsv,
} from './io/csv-writer.js';
export {
  DEFAULT_XLSX_LIMITS,
  type Encoding,
  InputError,
  inspectXlsx,
  openRecords,
  type ReadOptions,
  sniffDelimiter,
  type XlsxInspection,
  type XlsxLimits,
} from './io/input.js';
export {
  AbortedError,
  markFirstIsolates,
  type ProcessHooks,
  type ProcessJob,
  type ProcessOptions,
  type ProgressEvent,
} from './pipeline.js';
export { processDataset } from './processing/process-dataset.js';
export {
  createPostgresStorage,
  type PgPoolLike,
  type PostgresStorageOptions,
} from './storage/postgres.js';
export { createSqliteStorage, type SqliteStorageOptions } from './storage/sqlite.js';
export type * from './types.js';
