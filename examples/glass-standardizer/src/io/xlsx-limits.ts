/**
 * Limits on what an XLSX upload may expand to. The defaults admit real lab workbooks (up to
 * ~100 MB compressed, a million rows; sheet XML compresses 5–30×) and refuse zip bombs (1000×+).
 * `Infinity` switches a limit off.
 */
export interface XlsxLimits {
  /** Size of the .xlsx file itself, and of a stream spooled to `tmpDir`, in bytes. @default 268435456 (256 MiB) */
  readonly maxFileBytes?: number;
  /** Entries in the zip's central directory. @default 10000 */
  readonly maxEntries?: number;
  /** Uncompressed size of one entry, declared and actually inflated, in bytes. @default 2147483648 (2 GiB) */
  readonly maxEntryBytes?: number;
  /** Declared uncompressed size of all entries, and bytes actually inflated, together. @default 4294967296 (4 GiB) */
  readonly maxTotalBytes?: number;
  /** Uncompressed ÷ compressed size of an entry of 1 MiB or more, declared and actual. @default 200 */
  readonly maxCompressionRatio?: number;
  /** Strings in the shared-strings table. @default 3000000 */
  readonly maxSharedStrings?: number;
  /** Characters of all shared strings together. @default 67108864 (64 Mi) */
  readonly maxSharedStringChars?: number;
  /** Characters of one cell or shared string, as written in the XML. @default 1048576 (1 Mi) */
  readonly maxCellChars?: number;
  /** Nesting depth of any XML part. @default 64 */
  readonly maxXmlDepth?: number;
  /** Characters of one XML token outside cell text (a tag with its attributes, a comment…). @default 1048576 (1 Mi) */
  readonly maxXmlTokenChars?: number;
}

export type XlsxLimitsConfig = { readonly [K in keyof XlsxLimits]-?: number };

export const DEFAULT_XLSX_LIMITS: XlsxLimitsConfig = Object.freeze({
  maxFileBytes: 256 * 1024 * 1024,
  maxEntries: 10_000,
  maxEntryBytes: 2 * 1024 * 1024 * 1024,
  maxTotalBytes: 4 * 1024 * 1024 * 1024,
  maxCompressionRatio: 200,
  maxSharedStrings: 3_000_000,
  maxSharedStringChars: 64 * 1024 * 1024,
  maxCellChars: 1024 * 1024,
  maxXmlDepth: 64,
  maxXmlTokenChars: 1024 * 1024,
});

/** Entries smaller than this are not ratio-checked: a small part can legitimately compress well. */
export const RATIO_MIN_BYTES = 1024 * 1024;

const KNOWN: { readonly [K in keyof Required<XlsxLimits>]: true } = {
  maxFileBytes: true,
  maxEntries: true,
  maxEntryBytes: true,
  maxTotalBytes: true,
  maxCompressionRatio: true,
  maxSharedStrings: true,
  maxSharedStringChars: true,
  maxCellChars: true,
  maxXmlDepth: true,
  maxXmlTokenChars: true,
};

/** Validates the caller's limits once; throws for a typo or a value that is not a positive number. */
export function resolveXlsxLimits(limits: XlsxLimits = {}): XlsxLimitsConfig {
  const out: Record<string, number> = { ...DEFAULT_XLSX_LIMITS };
  for (const [key, value] of Object.entries(limits)) {
    if (!(key in KNOWN)) {
      throw new Error(
        `glass-standardizer: unknown XLSX limit "${key}"; known limits: ${Object.keys(KNOWN).join(', ')}`,
      );
    }
    if (value === undefined) continue;
    if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) {
      throw new Error(
        `glass-standardizer: XLSX limit "${key}" must be a positive number (Infinity for none), got ${typeof value === 'number' ? String(value) : JSON.stringify(value)}`,
      );
    }
    out[key] = value;
  }
  return Object.freeze(out) as XlsxLimitsConfig;
}
