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

const COUNT_INDEX: Record<RisCount, number> = {
  RESISTANT: 0,
  INTERMEDIATE: 1,
  NONSUSCEPTIBLE: 2,
  SUSCEPTIBLE: 3,
  UNKNOWN_NO_AST: 4,
  UNKNOWN_NO_BREAKPOINTS: 5,
};

/** Position of an isolate's result in a RIS row's six counts (RIS_COUNTS order). */
export function risCountIndex(result: ResultCode | undefined): number {
  return COUNT_INDEX[risCountFor(result)];
}

interface Stratum {
  readonly key: string;
  readonly antibiotics: readonly string[];
  /** Six counts per panel antibiotic, in RIS_COUNTS order; allocated by the first isolate. */
  counts: Int32Array | undefined;
}

/**
 * Aggregates first isolates (GLASS rule) into RIS rows. Memory is bounded by the strata. A
 * stratum is numbered when first seen (`stratum`) and becomes a RIS row only once an isolate is
 * counted in it (`addCounts`).
 */
export class RisAggregator {
  readonly #panels: PanelIndex;
  readonly #request: RisRequest;
  readonly #numbers = new Map<string, number>();
  readonly #strata: Stratum[] = [];

  constructor(panels: PanelIndex, request: RisRequest) {
    this.#panels = panels;
    this.#request = request;
  }

  /** The stratum of an isolate, or -1 when its specimen–pathogen pair has no panel (not in the RIS). */
  stratum(
    specimen: string,
    pathogen: string,
    sex: string,
    origin: string,
    ageGroup: string,
  ): number {
    const key = `${specimen}|${pathogen}|${sex}|${origin}|${ageGroup}`;
    const known = this.#numbers.get(key);
    if (known !== undefined) return known;
    const antibiotics = this.#panels.get(`${specimen}|${pathogen}`);
    if (!antibiotics) return -1;
    const number = this.#strata.length;
    this.#strata.push({ key, antibiotics, counts: undefined });
    this.#numbers.set(key, number);
    return number;
  }

  /** The panel antibiotics of a stratum, in the order `addCounts` expects. */
  antibiotics(stratum: number): readonly string[] {
    return (this.#strata[stratum] as Stratum).antibiotics;
  }

  /**
   * Counts one isolate: `indexes[offset + a]` is `risCountIndex` of its result for the stratum's
   * panel antibiotic `a`.
   */
  addCounts(stratum: number, indexes: ArrayLike<number>, offset = 0): void {
    const s = this.#strata[stratum] as Stratum;
    s.counts ??= new Int32Array(s.antibiotics.length * 6);
    for (let a = 0; a < s.antibiotics.length; a++) {
      (s.counts[a * 6 + (indexes[offset + a] as number)] as number)++;
    }
  }

  rows(): RisRow[] {
    const rows: RisRow[] = [];
    for (const stratum of this.#strata) {
      const c = stratum.counts;
      if (!c) continue;
      const [SPECIMEN, PATHOGEN, GENDER, ORIGIN, AGEGROUP] = stratum.key.split('|') as [
        string,
        string,
        string,
        string,
        string,
      ];
      stratum.antibiotics.forEach((ANTIBIOTIC, a) => {
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

/**
 * What the RIS needs of each isolate, kept from the read until the first-isolate pass decides
 * which isolates count: its stratum and one count index per panel antibiotic, by isolate id.
 * About 4 + (largest panel) bytes per isolate: 16 MB for 1M isolates with the default panels.
 */
export class RisCandidates {
  readonly #aggregator: RisAggregator;
  readonly #width: number;
  /** Stratum + 1 per isolate id; 0 = not a RIS candidate. */
  #strata = new Int32Array(1024);
  #indexes: Uint8Array;

  constructor(aggregator: RisAggregator, panels: readonly PanelDef[]) {
    this.#aggregator = aggregator;
    this.#width = Math.max(1, ...panels.map((p) => p.antibiotics.length));
    this.#indexes = new Uint8Array(1024 * this.#width);
  }

  /** Keeps an isolate; `resultOf(a)` is its result for the stratum's panel antibiotic `a`. */
  keep(
    isolateId: number,
    stratum: number,
    resultOf: (antibiotic: number) => ResultCode | undefined,
  ): void {
    if (isolateId >= this.#strata.length) this.#grow(isolateId);
    this.#strata[isolateId] = stratum + 1;
    const base = isolateId * this.#width;
    const n = this.#aggregator.antibiotics(stratum).length;
    for (let a = 0; a < n; a++) this.#indexes[base + a] = risCountIndex(resultOf(a));
  }

  /** Adds a kept isolate to the aggregator; false when it was not kept. */
  count(isolateId: number): boolean {
    const stratum = (this.#strata[isolateId] ?? 0) - 1;
    if (stratum < 0) return false;
    this.#aggregator.addCounts(stratum, this.#indexes, isolateId * this.#width);
    return true;
  }

  #grow(isolateId: number): void {
    let length = this.#strata.length;
    while (length <= isolateId) length *= 2;
    const strata = new Int32Array(length);
    strata.set(this.#strata);
    this.#strata = strata;
    const indexes = new Uint8Array(length * this.#width);
    indexes.set(this.#indexes);
    this.#indexes = indexes;
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
