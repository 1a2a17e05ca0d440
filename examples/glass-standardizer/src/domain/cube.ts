import type { AggregateRow, ResultCode } from '../types.js';

/**
 * The analytics cube of one dataset, built once when it is processed: result counts per antibiotic
 * for every combination of first-isolate flags and the dimensions analytics filter or group by.
 * Any `resistance`/`antibiogram` query is then a sum over cells, not a scan of the isolates.
 *
 * `cells` keys every base dimension (flags, pathogen, specimen, sex, age group, origin, year);
 * ward and laboratory, free text with no bound on their values, get their own smaller tables
 * (flags, pathogen, specimen, value), or `null` when a file has more distinct values than the cap
 * (a query grouped by them then scans the isolates).
 */
export interface AnalyticsCube {
  readonly version: 1;
  /** Antibiotic code of each slot. */
  readonly antibiotics: readonly string[];
  readonly cells: readonly CubeCell[] | null;
  readonly ward: readonly SideCell[] | null;
  readonly laboratory: readonly SideCell[] | null;
}

/**
 * `[flags, pathogen, specimen, sex, ageGroup, origin, year, n, slot, count, slot, count, …]`:
 * flags = 2·glass + episode; n = isolates in the cell; each slot is `antibiotic · 7 + code`
 * (codes in CUBE_CODES order), listed only when its count is not zero.
 */
export type CubeCell = readonly (string | number | null)[];
/** `[flags, pathogen, specimen, value, n, slot, count, …]`. */
export type SideCell = readonly (string | number | null)[];

/** Result codes counted per antibiotic; absent and unreadable results count as not tested. */
export const CUBE_CODES = ['S', 'SDD', 'I', 'R', 'NS', 'NI', 'NO_BREAKPOINT'] as const;
export type CubeCode = (typeof CUBE_CODES)[number];
const CODES = CUBE_CODES.length;

export interface CubeLimits {
  /** Most base cells kept; above it the dataset has no cube. @default 200000 */
  readonly maxCells?: number;
  /** Most distinct ward (and laboratory) entries kept. @default 50000 */
  readonly maxSideCells?: number;
}

class Table {
  readonly entries = new Map<string, { dims: (string | number | null)[]; counts: Int32Array }>();
  overflow = false;
  constructor(
    private readonly width: number,
    private readonly max: number,
  ) {}
  counts(key: string, dims: () => (string | number | null)[]): Int32Array | undefined {
    let entry = this.entries.get(key);
    if (!entry) {
      if (this.overflow) return undefined;
      if (this.entries.size >= this.max) {
        this.overflow = true;
        this.entries.clear();
        return undefined;
      }
      entry = { dims: dims(), counts: new Int32Array(this.width) };
      this.entries.set(key, entry);
    }
    return entry.counts;
  }
  toJSON(): (string | number | null)[][] | null {
    if (this.overflow) return null;
    const out: (string | number | null)[][] = [];
    for (const { dims, counts } of this.entries.values()) {
      const cell: (string | number | null)[] = [...dims, counts[0] as number];
      for (let slot = 1; slot < counts.length; slot++) {
        const n = counts[slot] as number;
        if (n !== 0) cell.push(slot - 1, n);
      }
      out.push(cell);
    }
    return out;
  }
}

/** Accumulates isolates into an AnalyticsCube. */
export class CubeBuilder {
  private readonly base: Table;
  private readonly ward: Table;
  private readonly laboratory: Table;
  // `"CODE":"VALUE"` as the storage writes it → slot; a miss falls back to JSON.parse.
  private readonly pairs = new Map<string, number>();
  private readonly slotOf: Map<string, number>;
  private readonly touched: number[] = [];

  constructor(
    private readonly antibiotics: readonly string[],
    limits: CubeLimits = {},
  ) {
    const width = 1 + antibiotics.length * CODES;
    this.base = new Table(width, limits.maxCells ?? 200_000);
    this.ward = new Table(width, limits.maxSideCells ?? 50_000);
    this.laboratory = new Table(width, limits.maxSideCells ?? 50_000);
    this.slotOf = new Map(antibiotics.map((code, i) => [code, i]));
    antibiotics.forEach((code, a) => {
      CUBE_CODES.forEach((value, c) => {
        this.pairs.set(`${JSON.stringify(code)}:${JSON.stringify(value)}`, a * CODES + c);
      });
      // Unreadable counts as not tested: known, but no slot.
      this.pairs.set(`${JSON.stringify(code)}:"UNREADABLE"`, -1);
    });
  }

  add(row: AggregateRow): void {
    const slots = this.slots(row.resultsJson);
    const flags = (row.glass ? 2 : 0) + (row.episode ? 1 : 0);
    const head = `${flags}\u0000${row.pathogen}\u0000${row.specimen}`;
    const base = this.base.counts(
      `${head}\u0000${row.sex}\u0000${row.ageGroup}\u0000${row.origin}\u0000${row.year}`,
      () => [flags, row.pathogen, row.specimen, row.sex, row.ageGroup, row.origin, row.year],
    );
    const ward = this.ward.counts(`${head}\u0000${row.ward ?? ''}`, () => [
      flags,
      row.pathogen,
      row.specimen,
      row.ward ?? '',
    ]);
    const lab = this.laboratory.counts(`${head}\u0000${row.laboratory ?? ''}`, () => [
      flags,
      row.pathogen,
      row.specimen,
      row.laboratory ?? '',
    ]);
    for (const counts of [base, ward, lab]) {
      if (!counts) continue;
      counts[0] = (counts[0] as number) + 1;
      for (const slot of slots) counts[slot + 1] = (counts[slot + 1] as number) + 1;
    }
  }

  /** The slots of one results JSON (`{"AMP":"R","CIP":"S"}`), read without building an object. */
  private slots(json: string): readonly number[] {
    const out = this.touched;
    out.length = 0;
    const end = json.length - 1;
    let i = 1;
    while (i < end) {
      let comma = json.indexOf(',', i);
      if (comma < 0) comma = end;
      const slot = this.pairs.get(json.slice(i, comma));
      if (slot === undefined) return this.parsed(json);
      if (slot >= 0) out.push(slot);
      i = comma + 1;
    }
    return out;
  }

  private parsed(json: string): readonly number[] {
    const out = this.touched;
    out.length = 0;
    const results = JSON.parse(json) as Record<string, ResultCode>;
    for (const [code, value] of Object.entries(results)) {
      const a = this.slotOf.get(code);
      const c = CUBE_CODES.indexOf(value as CubeCode);
      if (a !== undefined && c >= 0) out.push(a * CODES + c);
    }
    return out;
  }

  build(): AnalyticsCube {
    return {
      version: 1,
      antibiotics: this.antibiotics,
      cells: this.base.toJSON(),
      ward: this.ward.toJSON(),
      laboratory: this.laboratory.toJSON(),
    };
  }
}

/** Parses stored cube JSON; `undefined` for text of another version (rebuilt by re-processing). */
export function parseCube(text: string): AnalyticsCube | undefined {
  const cube = JSON.parse(text) as AnalyticsCube;
  return cube?.version === 1 ? cube : undefined;
}
