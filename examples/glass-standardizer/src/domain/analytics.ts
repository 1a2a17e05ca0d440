import { inSlices } from '../time-slices.js';
import type { GlassStorage, IsolateRecord } from '../types.js';
import { type AnalyticsCube, CUBE_CODES, parseCube } from './cube.js';
import { confidenceInterval, type IntervalMethod } from './stats.js';

export type GroupBy = 'specimen' | 'sex' | 'age_group' | 'origin' | 'year' | 'ward' | 'laboratory';

export const GROUP_BY_VALUES: readonly GroupBy[] = [
  'specimen',
  'sex',
  'age_group',
  'origin',
  'year',
  'ward',
  'laboratory',
];

export interface AnalyticsQuery {
  readonly pathogen?: string;
  readonly antibiotic?: string;
  readonly specimen?: string;
  readonly groupBy?: GroupBy;
  /** Which isolates count. @default 'episode' */
  readonly firstIsolate?: 'episode' | 'glass' | 'all';
  /** @default 'wilson' */
  readonly ci?: IntervalMethod;
  /** Below this many tested isolates the percentage is null. @default 30 */
  readonly minimum?: number;
}

export interface Tally {
  S: number;
  SDD: number;
  I: number;
  R: number;
  NS: number;
  NI: number;
  NO_BREAKPOINT: number;
  NOT_TESTED: number;
}

export interface ResistanceRow {
  readonly pathogen: string;
  readonly antibiotic: string;
  readonly group: string | null;
  readonly counts: Tally;
  readonly n_tested: number;
  readonly pct_R: number | null;
  readonly pct_S: number | null;
  readonly pct_NS: number | null;
  /** 95 % interval of %R. */
  readonly ci: { readonly method: IntervalMethod; readonly lo: number; readonly hi: number } | null;
  readonly flag: 'insufficient' | null;
}

function emptyTally(): Tally {
  return { S: 0, SDD: 0, I: 0, R: 0, NS: 0, NI: 0, NO_BREAKPOINT: 0, NOT_TESTED: 0 };
}

function groupValue(i: IsolateRecord, by: GroupBy | undefined): string | null {
  switch (by) {
    case undefined:
      return null;
    case 'specimen':
      return i.specimen;
    case 'sex':
      return i.sex;
    case 'age_group':
      return i.ageGroup;
    case 'origin':
      return i.origin;
    case 'year':
      return i.year === null ? 'UNK' : String(i.year);
    case 'ward':
      return i.ward ?? '';
    case 'laboratory':
      return i.laboratory ?? '';
  }
}

/** n_tested = S + SDD + I + R + NS (SPEC §6). */
export function nTested(t: Tally): number {
  return t.S + t.SDD + t.I + t.R + t.NS;
}

function resolveMinimum(minimum: number | undefined): number {
  const m = minimum ?? 30;
  if (!Number.isInteger(m) || m < 1) {
    throw new Error(
      `glass-standardizer: analytics "minimum" must be a positive integer, got ${JSON.stringify(minimum)}`,
    );
  }
  return m;
}

const tallyKey = (pathogen: string, code: string, group: string | null) =>
  `${pathogen}\u0000${code}\u0000${group ?? ''}`;

function tallyOf(byKey: Map<string, Tally>, key: string): Tally {
  let t = byKey.get(key);
  if (!t) {
    t = emptyTally();
    byKey.set(key, t);
  }
  return t;
}

/** Tallies by scanning the isolates (datasets without a cube, or a group the cube left out). */
async function scanTallies(
  storage: GlassStorage,
  datasetId: string,
  antibiotics: readonly string[],
  query: AnalyticsQuery,
): Promise<Map<string, Tally>> {
  const byKey = new Map<string, Tally>();
  const codes = query.antibiotic ? [query.antibiotic] : antibiotics;
  const isolates = storage.iterateIsolates(datasetId, {
    firstIsolate: query.firstIsolate ?? 'episode',
    ...(query.pathogen ? { pathogen: query.pathogen } : {}),
    ...(query.specimen ? { specimen: query.specimen } : {}),
  });
  for await (const isolate of inSlices(isolates)) {
    const group = groupValue(isolate, query.groupBy);
    for (const code of codes) {
      const t = tallyOf(byKey, tallyKey(isolate.pathogen, code, group));
      const r = isolate.results[code];
      if (r === undefined || r === 'UNREADABLE') t.NOT_TESTED++;
      else t[r]++;
    }
  }
  return byKey;
}

// Where each groupBy reads its value in a base cell; ward and laboratory are in side tables.
const CELL_GROUP: Record<Exclude<GroupBy, 'ward' | 'laboratory'>, number> = {
  specimen: 2,
  sex: 3,
  age_group: 4,
  origin: 5,
  year: 6,
};

/** Tallies summed from the cube; `undefined` when the cube lacks what the query groups by. */
function cubeTallies(
  cube: AnalyticsCube,
  antibiotics: readonly string[],
  query: AnalyticsQuery,
): Map<string, Tally> | undefined {
  const side =
    query.groupBy === 'ward' || query.groupBy === 'laboratory' ? cube[query.groupBy] : undefined;
  const table = side === undefined ? cube.cells : side;
  if (!table) return undefined;
  const countsAt = side === undefined ? 7 : 4;
  const groupAt =
    query.groupBy === undefined
      ? -1
      : query.groupBy === 'ward' || query.groupBy === 'laboratory'
        ? 3
        : CELL_GROUP[query.groupBy];
  const mode = query.firstIsolate ?? 'episode';
  const width = cube.antibiotics.length * CUBE_CODES.length;
  // First the cells that match, summed per pathogen and group (one array each); the tallies per
  // antibiotic are made once from those sums, not once per cell.
  const sums = new Map<
    string,
    { pathogen: string; group: string | null; n: number; counts: Float64Array }
  >();
  for (const cell of table) {
    const flags = cell[0] as number;
    if (mode === 'glass' && (flags & 2) === 0) continue;
    if (mode === 'episode' && (flags & 1) === 0) continue;
    const pathogen = cell[1] as string;
    if (query.pathogen !== undefined && pathogen !== query.pathogen) continue;
    if (query.specimen !== undefined && cell[2] !== query.specimen) continue;
    let group: string | null = null;
    if (groupAt >= 0) {
      const value = cell[groupAt] ?? null;
      group = query.groupBy === 'year' && value === null ? 'UNK' : String(value ?? '');
    }
    const key = `${pathogen}\u0000${group ?? ''}`;
    let sum = sums.get(key);
    if (!sum) {
      sum = { pathogen, group, n: 0, counts: new Float64Array(width) };
      sums.set(key, sum);
    }
    sum.n += cell[countsAt] as number;
    const { counts } = sum;
    for (let i = countsAt + 1; i < cell.length; i += 2) {
      const slot = cell[i] as number;
      counts[slot] = (counts[slot] as number) + (cell[i + 1] as number);
    }
  }
  const codes = query.antibiotic ? [query.antibiotic] : antibiotics;
  const slots = codes.map((code) => cube.antibiotics.indexOf(code));
  const byKey = new Map<string, Tally>();
  for (const { pathogen, group, n, counts } of sums.values()) {
    codes.forEach((code, c) => {
      const t = tallyOf(byKey, tallyKey(pathogen, code, group));
      const slot = slots[c] as number;
      let tested = 0;
      if (slot >= 0) {
        CUBE_CODES.forEach((value, k) => {
          const count = counts[slot * CUBE_CODES.length + k] as number;
          t[value] += count;
          tested += count;
        });
      }
      t.NOT_TESTED += n - tested;
    });
  }
  return byKey;
}

/**
 * Loads a dataset's stored cube: `null` when it has none (processed before cubes existed, or too
 * many distinct cells), so that queries scan.
 */
export async function loadCube(
  storage: GlassStorage,
  datasetId: string,
): Promise<AnalyticsCube | null> {
  const text = await storage.getAnalytics(datasetId);
  return (text === undefined ? undefined : parseCube(text)) ?? null;
}

async function tallies(
  storage: GlassStorage,
  datasetId: string,
  antibiotics: readonly string[],
  query: AnalyticsQuery,
  cube: AnalyticsCube | null | undefined,
): Promise<Map<string, Tally>> {
  const loaded = cube === undefined ? await loadCube(storage, datasetId) : cube;
  return (
    (loaded ? cubeTallies(loaded, antibiotics, query) : undefined) ??
    (await scanTallies(storage, datasetId, antibiotics, query))
  );
}

/** %R, %S, %NS with a 95 % interval of %R, per pathogen × antibiotic (× group). */
export async function resistance(
  storage: GlassStorage,
  datasetId: string,
  antibiotics: readonly string[],
  query: AnalyticsQuery = {},
  cube?: AnalyticsCube | null,
): Promise<ResistanceRow[]> {
  const minimum = resolveMinimum(query.minimum);
  const method = query.ci ?? 'wilson';
  const rows: ResistanceRow[] = [];
  const hasGroup = query.groupBy !== undefined;
  for (const [key, t] of await tallies(storage, datasetId, antibiotics, query, cube)) {
    const [pathogen, antibiotic, group] = key.split('\u0000') as [string, string, string];
    const n = nTested(t);
    const enough = n >= minimum && n > 0;
    rows.push({
      pathogen,
      antibiotic,
      group: hasGroup ? group : null,
      counts: t,
      n_tested: n,
      pct_R: enough ? t.R / n : null,
      pct_S: enough ? (t.S + t.SDD + t.I) / n : null,
      pct_NS: enough ? (t.I + t.R + t.NS) / n : null,
      ci: enough ? { method, ...confidenceInterval(t.R, n, method) } : null,
      flag: enough ? null : 'insufficient',
    });
  }
  return rows.sort(
    (a, b) =>
      a.pathogen.localeCompare(b.pathogen) ||
      a.antibiotic.localeCompare(b.antibiotic) ||
      (a.group ?? '').localeCompare(b.group ?? ''),
  );
}

export interface AntibiogramCell {
  readonly pct_susceptible: number;
  readonly lo: number;
  readonly hi: number;
  readonly n_tested: number;
  readonly n_susceptible: number;
}

export interface Antibiogram {
  readonly pathogens: string[];
  readonly antibiotics: string[];
  /** cells[pathogen][antibiotic]; null below the minimum. */
  readonly cells: Record<string, Record<string, AntibiogramCell | null>>;
  readonly minimum: number;
  readonly method: IntervalMethod;
}

/** Rows pathogens, columns antibiotics, %S with its 95 % interval (SPEC §6). */
export async function antibiogram(
  storage: GlassStorage,
  datasetId: string,
  antibiotics: readonly string[],
  query: Pick<AnalyticsQuery, 'specimen' | 'minimum' | 'firstIsolate' | 'ci'> = {},
  cube?: AnalyticsCube | null,
): Promise<Antibiogram> {
  const minimum = resolveMinimum(query.minimum);
  const method = query.ci ?? 'wilson';
  const byKey = await tallies(storage, datasetId, antibiotics, query, cube);
  const cells: Record<string, Record<string, AntibiogramCell | null>> = {};
  const used = new Set<string>();
  // Sorted, so the cells come out in the same order from the cube and from a scan.
  for (const [key, t] of [...byKey].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const [pathogen, antibiotic] = key.split('\u0000') as [string, string];
    const n = nTested(t);
    if (n === 0) continue;
    used.add(antibiotic);
    const susceptible = t.S + t.SDD + t.I;
    const row = cells[pathogen] ?? {};
    cells[pathogen] = row;
    row[antibiotic] =
      n >= minimum
        ? {
            pct_susceptible: susceptible / n,
            ...confidenceInterval(susceptible, n, method),
            n_tested: n,
            n_susceptible: susceptible,
          }
        : null;
  }
  return {
    pathogens: Object.keys(cells).sort(),
    antibiotics: [...used].sort(),
    cells,
    minimum,
    method,
  };
}
