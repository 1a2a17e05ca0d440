/** Warning codes; see docs/errors.md. */
export const CACHE_WARNINGS = {
  degraded: 'SHIPSHAPE_CACHE_DEGRADED',
  refreshFailed: 'SHIPSHAPE_CACHE_REFRESH_FAILED',
  corruptEntry: 'SHIPSHAPE_CACHE_CORRUPT_ENTRY',
} as const;
