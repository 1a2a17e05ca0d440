import {
  AGE_GROUP_UNKNOWN,
  type Canonical,
  type Interpretation,
  PATHOGEN_OTHER,
  type ReferenceTables,
  SPECIMEN_OTHER,
} from './reference.js';

/** Header comparison key: case-insensitive, without spaces, `_`, `-` and `.` (SPEC §1). */
export function normaliseHeader(header: string): string {
  return header.toLowerCase().replace(/[\s_.-]+/g, '');
}

export type ColumnRole =
  | { kind: 'canonical'; canonical: Canonical }
  | { kind: 'antibiotic'; code: string; via: 'whonet' | 'code' | 'name' | 'atc' }
  | { kind: 'unmapped' }
  | { kind: 'duplicate'; of: string };

export interface HeaderResolution {
  readonly roles: readonly ColumnRole[];
  /** Canonical column → index of the first header that maps to it. */
  readonly canonical: Partial<Record<Canonical, number>>;
  /** Antibiotic code → column indexes, in header order. */
  readonly antibiotics: ReadonlyMap<string, readonly number[]>;
  readonly unmapped: readonly string[];
}

const WHONET_COLUMN = /^([A-Za-z]{3})_([NE])([DME])([0-9]+(?:\.[0-9]+)?)?$/i;

/** Lookup maps built once per set of tables. */
export interface HeaderIndex {
  readonly canonical: ReadonlyMap<string, Canonical>;
  readonly codes: ReadonlySet<string>;
  readonly names: ReadonlyMap<string, string>;
  readonly atc: ReadonlyMap<string, string>;
}

export function buildHeaderIndex(tables: ReferenceTables): HeaderIndex {
  const canonical = new Map<string, Canonical>();
  for (const [key, aliases] of Object.entries(tables.headerAliases) as [Canonical, string[]][]) {
    for (const alias of aliases) canonical.set(normaliseHeader(alias), key);
  }
  const codes = new Set<string>();
  const names = new Map<string, string>();
  const atc = new Map<string, string>();
  for (const ab of tables.antibiotics) {
    codes.add(ab.code);
    for (const name of ab.names) names.set(normaliseHeader(name), ab.code);
    for (const code of ab.atc) atc.set(code.toUpperCase(), ab.code);
  }
  return { canonical, codes, names, atc };
}

/** Maps each header to a canonical column, an antibiotic code, or nothing (SPEC §1). */
export function resolveHeaders(headers: readonly string[], index: HeaderIndex): HeaderResolution {
  const roles: ColumnRole[] = [];
  const canonical: Partial<Record<Canonical, number>> = {};
  const antibiotics = new Map<string, number[]>();
  const unmapped: string[] = [];
  headers.forEach((raw, i) => {
    const header = raw.trim();
    const key = normaliseHeader(header);
    const canon = index.canonical.get(key);
    if (canon !== undefined) {
      if (canonical[canon] === undefined) {
        canonical[canon] = i;
        roles.push({ kind: 'canonical', canonical: canon });
      } else {
        roles.push({ kind: 'duplicate', of: canon });
        unmapped.push(header);
      }
      return;
    }
    const code = antibioticCode(header, key, index);
    if (code) {
      const list = antibiotics.get(code.code) ?? [];
      list.push(i);
      antibiotics.set(code.code, list);
      roles.push({ kind: 'antibiotic', code: code.code, via: code.via });
      return;
    }
    roles.push({ kind: 'unmapped' });
    unmapped.push(header);
  });
  return { roles, canonical, antibiotics, unmapped };
}

function antibioticCode(
  header: string,
  key: string,
  index: HeaderIndex,
): { code: string; via: 'whonet' | 'code' | 'name' | 'atc' } | undefined {
  const whonet = WHONET_COLUMN.exec(header);
  if (whonet?.[1] && index.codes.has(whonet[1].toUpperCase())) {
    return { code: whonet[1].toUpperCase(), via: 'whonet' };
  }
  const upper = header.toUpperCase();
  if (/^[A-Z]{3}$/.test(upper) && index.codes.has(upper)) return { code: upper, via: 'code' };
  const byName = index.names.get(key);
  if (byName) return { code: byName, via: 'name' };
  const byAtc = index.atc.get(upper.replace(/\s+/g, ''));
  if (byAtc) return { code: byAtc, via: 'atc' };
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Result values

export type ResultClass =
  | { kind: 'not_tested' }
  | { kind: 'interpreted'; value: Interpretation }
  | { kind: 'digit'; digit: '1' | '2' | '3' }
  | { kind: 'numeric'; raw: string }
  | { kind: 'unreadable'; raw: string };

const NUMERIC = /^[<>≤≥]?=?\s*[0-9]+(?:[.,][0-9]+)?$/;

export interface ResultIndex {
  readonly values: ReadonlyMap<string, Interpretation>;
  readonly notTested: ReadonlySet<string>;
}

export function buildResultIndex(tables: ReferenceTables): ResultIndex {
  return {
    values: new Map(Object.entries(tables.resultValues).map(([k, v]) => [k.toLowerCase(), v])),
    notTested: new Set(tables.notTested.map((v) => v.toLowerCase())),
  };
}

/** Classifies one result cell (SPEC §1 "Result values"); digits are resolved per column later. */
export function classifyResult(raw: string, index: ResultIndex): ResultClass {
  const value = raw.trim();
  const lower = value.toLowerCase();
  if (index.notTested.has(lower)) return { kind: 'not_tested' };
  const interpreted = index.values.get(lower) ?? index.values.get(lower.replace(/\s+/g, ' '));
  if (interpreted) return { kind: 'interpreted', value: interpreted };
  if (value === '1' || value === '2' || value === '3') return { kind: 'digit', digit: value };
  if (NUMERIC.test(value)) return { kind: 'numeric', raw: value };
  return { kind: 'unreadable', raw: value };
}

// ---------------------------------------------------------------------------------------------
// Dates

export type DateOrder = 'DMY' | 'MDY' | 'YMD';

export type DateShape =
  | { kind: 'iso'; y: number; m: number; d: number }
  | { kind: 'slash'; a: number; b: number; y: number }
  | { kind: 'named'; y: number; m: number; d: number }
  | { kind: 'serial'; days: number }
  | { kind: 'invalid' };

const MONTHS: Record<string, number> = {
  jan: 1,
  feb: 2,
  mar: 3,
  apr: 4,
  may: 5,
  jun: 6,
  jul: 7,
  aug: 8,
  sep: 9,
  oct: 10,
  nov: 11,
  dec: 12,
};

function fullYear(y: number, digits: number): number {
  if (digits !== 2) return y;
  // Two-digit years: 00–69 → 2000s, 70–99 → 1900s (the POSIX strptime pivot).
  return y < 70 ? 2000 + y : 1900 + y;
}

/** Parses the shape of a date cell; day/month order of `a/b/yyyy` is decided per column. */
export function dateShape(raw: string): DateShape {
  const value = raw.trim();
  let m = /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$/.exec(value);
  if (m) return { kind: 'iso', y: Number(m[1]), m: Number(m[2]), d: Number(m[3]) };
  m = /^(\d{4})\/(\d{1,2})\/(\d{1,2})$/.exec(value);
  if (m) return { kind: 'iso', y: Number(m[1]), m: Number(m[2]), d: Number(m[3]) };
  m = /^(\d{1,2})[/.](\d{1,2})[/.](\d{4}|\d{2})$/.exec(value);
  if (m?.[3]) {
    return {
      kind: 'slash',
      a: Number(m[1]),
      b: Number(m[2]),
      y: fullYear(Number(m[3]), m[3].length),
    };
  }
  m = /^(\d{1,2})[- ]([A-Za-z]{3})[a-z]*[- ](\d{4}|\d{2})$/.exec(value);
  if (m?.[2] && m[3]) {
    const month = MONTHS[m[2].toLowerCase()];
    if (month) {
      return { kind: 'named', y: fullYear(Number(m[3]), m[3].length), m: month, d: Number(m[1]) };
    }
  }
  m = /^(\d{5})(?:\.\d+)?$/.exec(value);
  if (m) return { kind: 'serial', days: Number(m[1]) };
  return { kind: 'invalid' };
}

/** Days since 1970-01-01 (UTC) for a valid calendar date, else undefined. */
export function civilToDays(y: number, m: number, d: number): number | undefined {
  if (m < 1 || m > 12 || d < 1 || d > 31 || y < 1000 || y > 9999) return undefined;
  const t = Date.UTC(y, m - 1, d);
  const check = new Date(t);
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== m - 1 || check.getUTCDate() !== d) {
    return undefined;
  }
  return Math.round(t / 86_400_000);
}

// Excel's day 0 is 1899-12-30 once its 1900 leap-year bug is accounted for.
const EXCEL_EPOCH_DAYS = -25_569;

/** Resolves a date shape to days since the epoch with the column's day/month order. */
export function shapeToDays(shape: DateShape, order: DateOrder): number | undefined {
  switch (shape.kind) {
    case 'iso':
    case 'named':
      return civilToDays(shape.y, shape.m, shape.d);
    case 'slash':
      return order === 'MDY'
        ? civilToDays(shape.y, shape.a, shape.b)
        : civilToDays(shape.y, shape.b, shape.a);
    case 'serial':
      return shape.days > 0 && shape.days < 2_958_466 ? shape.days + EXCEL_EPOCH_DAYS : undefined;
    default:
      return undefined;
  }
}

export function daysToIso(days: number): string {
  return new Date(days * 86_400_000).toISOString().slice(0, 10);
}

export function daysToYear(days: number): number {
  return new Date(days * 86_400_000).getUTCFullYear();
}

/** Memoised day → ISO date / year conversion; a dataset spans few distinct days. */
export class DayCache {
  readonly #iso = new Map<number, string>();
  readonly #year = new Map<number, number>();
  iso(days: number): string {
    let v = this.#iso.get(days);
    if (v === undefined) {
      v = daysToIso(days);
      if (this.#iso.size < 100_000) this.#iso.set(days, v);
    }
    return v;
  }
  year(days: number): number {
    let v = this.#year.get(days);
    if (v === undefined) {
      v = daysToYear(days);
      if (this.#year.size < 100_000) this.#year.set(days, v);
    }
    return v;
  }
}

/** Evidence a slash date gives about the column's order. */
export function slashEvidence(shape: DateShape): 'DMY' | 'MDY' | 'ambiguous' | undefined {
  if (shape.kind !== 'slash') return undefined;
  if (shape.a > 12 && shape.b <= 12) return 'DMY';
  if (shape.b > 12 && shape.a <= 12) return 'MDY';
  return 'ambiguous';
}

// ---------------------------------------------------------------------------------------------
// Age, sex, origin, specimen, organism

export type AgeResult = { ok: true; years: number } | { ok: false; empty: boolean };

/** Age in completed years; accepts `d`, `w`, `m`, `y` suffixes and `NB` (newborn = 0). */
export function parseAge(raw: string): AgeResult {
  const value = raw.trim().toLowerCase();
  if (value === '') return { ok: false, empty: true };
  if (value === 'nb' || value === 'newborn') return { ok: true, years: 0 };
  const m = /^([0-9]+(?:[.,][0-9]+)?)\s*(d|days?|w|wk|weeks?|m|mo|months?|y|yr|years?)?$/.exec(
    value,
  );
  if (!m?.[1]) return { ok: false, empty: false };
  const n = Number(m[1].replace(',', '.'));
  const unit = m[2]?.[0] ?? 'y';
  const perYear = unit === 'd' ? 365.25 : unit === 'w' ? 52.1775 : unit === 'm' ? 12 : 1;
  return { ok: true, years: Math.floor(n / perYear) };
}

export function ageGroup(years: number | null, tables: ReferenceTables): string {
  if (years === null || years < 0 || years > 120) return AGE_GROUP_UNKNOWN;
  for (const group of tables.ageGroups) {
    if (years >= group.min && (group.max === null || years <= group.max)) return group.label;
  }
  return AGE_GROUP_UNKNOWN;
}

/**
 * Memoises a pure function of a cell's text, for one file: values such as dates, results and
 * organisms repeat on most rows. Stops adding after `limit` distinct values (bounded memory).
 */
export function memoise<T>(fn: (raw: string) => T, limit = 20_000): (raw: string) => T {
  const cache = new Map<string, T>();
  return (raw) => {
    let value = cache.get(raw);
    if (value === undefined) {
      value = fn(raw);
      if (cache.size < limit) cache.set(raw, value);
    }
    return value;
  };
}

export function normaliseValue(raw: string): string {
  return raw.trim().toLowerCase().replace(/\s+/g, ' ');
}

export function mapSpecimen(raw: string, tables: ReferenceTables): string {
  return tables.specimens[normaliseValue(raw)] ?? SPECIMEN_OTHER;
}

export type OrganismResult =
  | { kind: 'pathogen'; code: string }
  | { kind: 'no_growth' }
  | { kind: 'unknown' }
  | { kind: 'empty' };

export function mapOrganism(raw: string, tables: ReferenceTables): OrganismResult {
  const value = normaliseValue(raw);
  if (value === '') return { kind: 'empty' };
  if (tables.noGrowth.includes(value)) return { kind: 'no_growth' };
  const direct = tables.organisms[value];
  if (direct) return { kind: 'pathogen', code: direct };
  const genus = value.split(' ')[0] ?? '';
  const byGenus = tables.genusCodes[genus];
  if (byGenus) return { kind: 'pathogen', code: byGenus };
  return { kind: 'unknown' };
}

export { PATHOGEN_OTHER };
