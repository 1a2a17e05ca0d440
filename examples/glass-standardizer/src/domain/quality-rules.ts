import type { Severity } from '../types.js';

/** One quality check of the engine (SPEC §3): what it checks, and how one of its findings reads. */
export interface QualityRule<P = undefined> {
  /** SPEC §3 rule number; 0 for the file itself. */
  readonly rule: number;
  readonly severity: Severity;
  /** What the rule checks; the report entry's `message`. */
  readonly check: string;
  /** The text of one finding, from its parameters; the finding reads as `check` without it. */
  readonly message?: (params: P) => string;
  /** In every report (`count: 0` = passed), not only once the rule finds something. */
  readonly listed: boolean;
}

const rule = <P = undefined>(
  number: number,
  severity: Severity,
  check: string,
  options: { message?: (params: P) => string; listed?: boolean } = {},
): QualityRule<P> => ({
  rule: number,
  severity,
  check,
  ...(options.message ? { message: options.message } : {}),
  listed: options.listed ?? true,
});

/**
 * The engine's quality rules, by code: one entry per code. The row standardizer, the column
 * planner, the first-isolate pass and the RIS check report findings by these codes; file-level
 * problems of the readers (`EMPTY_FILE`, `XLSX_*`, …) carry their own severity and text.
 */
export const QUALITY_RULES = {
  CELL_TOO_LARGE: rule<{ maxCellChars: number }>(
    0,
    'ERROR',
    'a cell longer than maxCellChars characters; its row is skipped',
    {
      message: (p) => `cell longer than ${p.maxCellChars} characters; row skipped`,
      listed: false,
    },
  ),
  COLUMN_COUNT: rule<{ headerWidth: number }>(
    0,
    'WARN',
    'row has a different number of cells than the header',
    {
      message: (p) => `row has a different number of cells than the header (${p.headerWidth})`,
      listed: false,
    },
  ),
  HEADER_ONLY: rule(0, 'ERROR', 'file has a header row but no data rows', { listed: false }),
  REQUIRED_COLUMNS: rule<{ missing: readonly string[] } | { antibiotics: 'none' }>(
    1,
    'ERROR',
    'required columns (patient_id, specimen_date, specimen_type, organism) and at least one antibiotic column',
    {
      message: (p) =>
        'missing' in p
          ? `required column missing: ${p.missing.join(', ')}`
          : 'no antibiotic column recognised',
    },
  ),
  UNMAPPED_HEADERS: rule(2, 'INFO', 'headers that were not mapped'),
  DATE_INVALID: rule(3, 'ERROR', 'specimen_date missing or unreadable'),
  DATE_FUTURE: rule(3, 'ERROR', 'specimen_date in the future'),
  DATE_BEFORE_1990: rule(3, 'ERROR', 'specimen_date before 1990'),
  DATE_AMBIGUOUS: rule(3, 'WARN', 'date column has no day > 12 in either position', {
    message: () =>
      'date column has no day > 12 in either position and no declared dateFormat; read as day-first (DMY)',
  }),
  DATE_ORDER_CONTRADICTED: rule<{
    column: string;
    order: string;
    evidence: string;
    lookaheadRows: number;
  }>(3, 'WARN', 'a later row contradicts the date order decided from the first rows', {
    message: (p) =>
      `the ${p.column} column was read as ${p.order} from the first ${p.lookaheadRows} rows, but a later row is only valid as ${p.evidence}`,
    listed: false,
  }),
  ADMISSION_AFTER_SPECIMEN: rule(4, 'WARN', 'admission_date after specimen_date'),
  SEX_INVALID: rule(5, 'WARN', 'sex is neither M nor F'),
  AGE_INVALID: rule(5, 'WARN', 'age unreadable or outside 0–120'),
  PATIENT_PLACEHOLDER: rule(5, 'WARN', 'placeholder patient id'),
  ORGANISM_UNKNOWN: rule(6, 'WARN', 'organism not in the dictionary'),
  RESULT_UNREADABLE: rule(7, 'WARN', 'result values that could not be read'),
  DIGIT_CODING_CONTRADICTED: rule<{ lookaheadRows: number }>(
    7,
    'WARN',
    'a column read as 1/2/3 = S/I/R from the first rows also holds other values later',
    {
      message: (p) =>
        `column read as 1/2/3 = S/I/R from the first ${p.lookaheadRows} rows also holds other values later`,
      listed: false,
    },
  ),
  NO_RESULTS: rule(8, 'WARN', 'isolate with no result for any antibiotic'),
  DUPLICATE_ROWS: rule(9, 'INFO', 'exact duplicate rows removed'),
  NOT_FIRST_ISOLATE: rule<{ noPatient: number }>(
    9,
    'INFO',
    'isolates excluded by the GLASS first-isolate rule',
    {
      message: (p) =>
        p.noPatient > 0
          ? `isolates excluded by the GLASS first-isolate rule (${p.noPatient} of them have no usable patient id or specimen date)`
          : 'isolates excluded by the GLASS first-isolate rule',
    },
  ),
  PANEL_MISMATCH: rule(10, 'WARN', 'specimen–pathogen pair not in the panels (excluded from RIS)'),
  OUTSIDE_YEAR: rule<{ year: number }>(
    10,
    'WARN',
    'first isolates dated outside the dataset year (excluded from RIS)',
    {
      message: (p) => `first isolates dated outside ${p.year} (excluded from RIS)`,
      listed: false,
    },
  ),
  COMPLETENESS: rule(11, 'INFO', 'completeness %'),
  RIS_DUPLICATE: rule(
    12,
    'ERROR',
    'RIS has no duplicate (SPECIMEN, PATHOGEN, GENDER, ORIGIN, AGEGROUP, ANTIBIOTIC, BATCHID)',
  ),
  RIS_REQUEST_MISMATCH: rule(
    13,
    'ERROR',
    'RIS YEAR, COUNTRY and BATCHID equal the values requested',
  ),
  RIS_ALL_ZERO: rule(14, 'ERROR', 'no RIS row has all six counts at zero'),
  RIS_NOT_IN_PANEL: rule(15, 'ERROR', 'every RIS antibiotic is in its pathogen panel'),
  RIS_STRATUM_TOTALS: rule(
    16,
    'ERROR',
    'within one stratum the six counts add up to the same total for every antibiotic',
  ),
} as const;

export type QualityRules = typeof QUALITY_RULES;
export type QualityCode = keyof QualityRules;

/** The parameters a finding of `C` needs: none, or the ones its message template reads. */
export type QualityParams<C extends QualityCode> =
  QualityRules[C] extends QualityRule<infer P> ? (P extends undefined ? [] : [params: P]) : [];

/** The code of each RIS rule (12–16) checked by `checkRis`. */
export const RIS_RULE_CODES = {
  12: 'RIS_DUPLICATE',
  13: 'RIS_REQUEST_MISMATCH',
  14: 'RIS_ALL_ZERO',
  15: 'RIS_NOT_IN_PANEL',
  16: 'RIS_STRATUM_TOTALS',
} as const satisfies Record<number, QualityCode>;
