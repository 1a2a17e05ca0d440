import type { ResultCode, RisRow, SampleRow } from '../types.js';
import type { PanelDef } from './reference.js';

export type RisCount =
  | 'RESISTANT'
  | 'INTERMEDIATE'
  | 'NONSUSCEPTIBLE'
  | 'SUSCEPTIBLE'
  | 'UNKNOWN_NO_AST'
  | 'UNKNOWN_NO_BREAKPOINTS';

export const RIS_COUNTS: readonly RisCount[] = [
  'RESISTANT',
  'INTERMEDIATE',
  'NONSUSCEPTIBLE',
  'SUSCEPTIBLE',
  'UNKNOWN_NO_AST',
  'UNKNOWN_NO_BREAKPOINTS',
];

/** SPEC §4.2: each isolate lands in exactly one count per panel antibiotic. */
export function risCountFor(result: ResultCode | undefined): RisCount {
  switch (result) {
    case 'R':
      return 'RESISTANT';
    case 'I':
    case 'SDD':
      return 'INTERMEDIATE';
    case 'NS':
      return 'NONSUSCEPTIBLE';
    case 'S':
      return 'SUSCEPTIBLE';
    case 'NI':
    case 'NO_BREAKPOINT':
      return 'UNKNOWN_NO_BREAKPOINTS';
    default:
      // Not tested, or an unreadable value: no usable AST result.
      return 'UNKNOWN_NO_AST';
  }
}

export type PanelIndex = ReadonlyMap<string, readonly string[]>;

/** `SPECIMEN|PATHOGEN` → antibiotics of the panel. */
export function buildPanelIndex(panels: readonly PanelDef[]): PanelIndex {
  const index = new Map<string, string[]>();
  for (const panel of panels) {
    for (const specimen of panel.specimens) {
      index.set(`${specimen}|${panel.pathogen}`, [...panel.antibiotics]);
    }
  }
  return index;
}

export interface RisRequest {
  readonly country: string;
  readonly year: number;
  readonly batchId: string;
}

/** What the aggregator needs of an isolate; an `IsolateRecord` satisfies it. */
export interface RisInput {
  readonly specimen: string;
  readonly pathogen: string;
  readonly sex: string;
  readonly origin: string;
  readonly ageGroup: string;
  readonly results: Readonly<Record<string, ResultCode>>;
}

const COUNT_INDEX: Record<RisCount, number> = {
  RESISTANT: 0,
  INTERMEDIATE: 1,
  NONSUSCEPTIBLE: 2,
  SUSCEPTIBLE: 3,
  UNKNOWN_NO_AST: 4,
  UNKNOWN_NO_BREAKPOINTS: 5,
};

interface Stratum {
  readonly antibiotics: readonly string[];
  /** Six counts per panel antibiotic, in RIS_COUNTS order. */
  readonly counts: Int32Array;
}

/** Aggregates first isolates (GLASS rule) into RIS rows. Memory is bounded by the strata. */
export class RisAggregator {
  readonly #panels: PanelIndex;
  readonly #request: RisRequest;
  readonly #strata = new Map<string, Stratum>();
  included = 0;

  constructor(panels: PanelIndex, request: RisRequest) {
    this.#panels = panels;
    this.#request = request;
  }

  /** Whether the specimen–pathogen pair has a panel (else the isolate is not in the RIS). */
  accepts(specimen: string, pathogen: string): boolean {
    return this.#panels.has(`${specimen}|${pathogen}`);
  }

  /** Adds an isolate; returns false when its specimen–pathogen pair has no panel. */
  add(isolate: RisInput): boolean {
    const antibiotics = this.#panels.get(`${isolate.specimen}|${isolate.pathogen}`);
    if (!antibiotics) return false;
    this.included++;
    const key = `${isolate.specimen}|${isolate.pathogen}|${isolate.sex}|${isolate.origin}|${isolate.ageGroup}`;
    let stratum = this.#strata.get(key);
    if (!stratum) {
      stratum = { antibiotics, counts: new Int32Array(antibiotics.length * 6) };
      this.#strata.set(key, stratum);
    }
    for (let a = 0; a < antibiotics.length; a++) {
      const count = risCountFor(isolate.results[antibiotics[a] as string]);
      (stratum.counts[a * 6 + COUNT_INDEX[count]] as number)++;
    }
    return true;
  }

  rows(): RisRow[] {
    const rows: RisRow[] = [];
    for (const [key, stratum] of this.#strata) {
      const [SPECIMEN, PATHOGEN, GENDER, ORIGIN, AGEGROUP] = key.split('|') as [
        string,
        string,
        string,
        string,
        string,
      ];
      stratum.antibiotics.forEach((ANTIBIOTIC, a) => {
        const c = stratum.counts;
        rows.push({
          COUNTRY: this.#request.country,
          YEAR: this.#request.year,
          SPECIMEN,
          PATHOGEN,
          GENDER,
          ORIGIN,
          AGEGROUP,
          ANTIBIOTIC,
          RESISTANT: c[a * 6] as number,
          INTERMEDIATE: c[a * 6 + 1] as number,
          NONSUSCEPTIBLE: c[a * 6 + 2] as number,
          SUSCEPTIBLE: c[a * 6 + 3] as number,
          UNKNOWN_NO_AST: c[a * 6 + 4] as number,
          UNKNOWN_NO_BREAKPOINTS: c[a * 6 + 5] as number,
          BATCHID: this.#request.batchId,
        });
      });
    }
    return rows.sort(compareRis);
  }
}

const SORT_KEYS = ['SPECIMEN', 'PATHOGEN', 'GENDER', 'ORIGIN', 'AGEGROUP', 'ANTIBIOTIC'] as const;

function compareRis(a: RisRow, b: RisRow): number {
  for (const k of SORT_KEYS) {
    if (a[k] < b[k]) return -1;
    if (a[k] > b[k]) return 1;
  }
  return 0;
}

export interface RisViolation {
  readonly rule: 12 | 13 | 14 | 15 | 16;
  readonly index: number;
  readonly value: string;
}

/** SPEC §3 rules 12–16 over any RIS output. Returns every violation found. */
export function checkRis(
  rows: readonly RisRow[],
  request: RisRequest,
  panels: PanelIndex,
): RisViolation[] {
  const violations: RisViolation[] = [];
  const seen = new Set<string>();
  const pathogenPanels = new Map<string, Set<string>>();
  for (const [key, antibiotics] of panels) {
    const pathogen = key.split('|')[1] as string;
    const set = pathogenPanels.get(pathogen) ?? new Set<string>();
    for (const a of antibiotics) set.add(a);
    pathogenPanels.set(pathogen, set);
  }
  const totals = new Map<string, number>();
  rows.forEach((row, index) => {
    const stratum = [row.SPECIMEN, row.PATHOGEN, row.GENDER, row.ORIGIN, row.AGEGROUP].join('|');
    const key = `${stratum}|${row.ANTIBIOTIC}|${row.BATCHID}`;
    if (seen.has(key)) violations.push({ rule: 12, index, value: key });
    seen.add(key);
    if (
      row.YEAR !== request.year ||
      row.COUNTRY !== request.country ||
      row.BATCHID !== request.batchId
    ) {
      violations.push({ rule: 13, index, value: `${row.COUNTRY}/${row.YEAR}/${row.BATCHID}` });
    }
    const total = RIS_COUNTS.reduce((sum, c) => sum + row[c], 0);
    if (total === 0) violations.push({ rule: 14, index, value: `${stratum}|${row.ANTIBIOTIC}` });
    if (!pathogenPanels.get(row.PATHOGEN)?.has(row.ANTIBIOTIC)) {
      violations.push({ rule: 15, index, value: `${row.PATHOGEN}/${row.ANTIBIOTIC}` });
    }
    const previous = totals.get(stratum);
    if (previous === undefined) totals.set(stratum, total);
    else if (previous !== total) {
      violations.push({
        rule: 16,
        index,
        value: `${stratum}: ${row.ANTIBIOTIC} ${total} ≠ ${previous}`,
      });
    }
  });
  return violations;
}

/**
 * A set of 53-bit hashes in one Float64Array (open addressing): ~16 bytes per entry instead of a
 * boxed number in a Set, so duplicate and distinct-patient tracking stays small at 1M rows.
 */
export class HashSet53 {
  #table = new Float64Array(1024);
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Adds a hash (an integer in 1..2^53); returns false when it was already present. */
  add(hash: number): boolean {
    const h = hash === 0 ? 1 : hash;
    if ((this.#size + 1) * 2 > this.#table.length) this.#grow();
    const table = this.#table;
    const mask = table.length - 1;
    let i = (h % 0x40000000) & mask;
    for (;;) {
      const v = table[i] as number;
      if (v === 0) {
        table[i] = h;
        this.#size++;
        return true;
      }
      if (v === h) return false;
      i = (i + 1) & mask;
    }
  }

  #grow(): void {
    const old = this.#table;
    this.#table = new Float64Array(old.length * 2);
    this.#size = 0;
    for (const v of old) if (v !== 0) this.add(v);
  }
}

/** Distinct sampled patients per SPECIMEN × GENDER × ORIGIN × AGEGROUP, by 53-bit id hash. */
export class SampleAggregator {
  readonly #seen = new HashSet53();
  readonly #strata = new Map<string, number>();

  add(specimen: string, sex: string, origin: string, ageGroup: string, patientKey: string): void {
    const key = `${specimen}|${sex}|${origin}|${ageGroup}`;
    if (this.#seen.add(hash53(`${key}|${patientKey}`))) {
      this.#strata.set(key, (this.#strata.get(key) ?? 0) + 1);
    }
  }

  rows(request: RisRequest): SampleRow[] {
    return [...this.#strata.entries()]
      .map(([key, n]) => {
        const [SPECIMEN, GENDER, ORIGIN, AGEGROUP] = key.split('|') as [
          string,
          string,
          string,
          string,
        ];
        return {
          COUNTRY: request.country,
          YEAR: request.year,
          SPECIMEN,
          GENDER,
          ORIGIN,
          AGEGROUP,
          NUMSAMPLEDPATIENTS: n,
          BATCHID: request.batchId,
        };
      })
      .sort((a, b) =>
        `${a.SPECIMEN}|${a.GENDER}|${a.ORIGIN}|${a.AGEGROUP}` <
        `${b.SPECIMEN}|${b.GENDER}|${b.ORIGIN}|${b.AGEGROUP}`
          ? -1
          : 1,
      );
  }
}

/** cyrb53: a fast 53-bit string hash (public domain); collisions ~n²/2⁵⁴. */
export function hash53(text: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}
