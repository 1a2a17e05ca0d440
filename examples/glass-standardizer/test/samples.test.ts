import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DatasetRecord, isolatesCsv, RIS_HEADER, risCsv } from '../src/index.js';
import {
  active,
  collect,
  entry,
  type Harness,
  harness,
  parseCsv,
  risViolations,
  SAMPLES,
} from './helpers.js';

// Expectations written from reading the files (see the test names), and the first-isolate and RIS
// totals from an independent Python re-implementation of SPEC §4–5 run on the same files.
const EXPECTED = {
  'lab_a_2024.csv': {
    rows: 206,
    isolates: 205,
    duplicateRow: 207, // repeats row 2 exactly
    sexU: [79, 99, 125, 148, 199],
    unknownOrganismRow: 206, // PX0000, "Unidentified organism XYZ", only result "?"
    glass: 199,
    episode: 197,
    risRows: 1344,
    totals: {
      RESISTANT: 361,
      INTERMEDIATE: 72,
      NONSUSCEPTIBLE: 0,
      SUSCEPTIBLE: 983,
      UNKNOWN_NO_AST: 207,
      UNKNOWN_NO_BREAKPOINTS: 30,
    },
    originComplete: 88.8, // 23 of 205 have no admission date → UNK
  },
  'lab_b_2024.csv': {
    rows: 162,
    isolates: 161,
    duplicateRow: 163,
    sexU: [63, 67, 72],
    unknownOrganismRow: 162,
    glass: 155,
    episode: 146,
    risRows: 1082,
    totals: {
      RESISTANT: 315,
      INTERMEDIATE: 33,
      NONSUSCEPTIBLE: 0,
      SUSCEPTIBLE: 808,
      UNKNOWN_NO_AST: 162,
      UNKNOWN_NO_BREAKPOINTS: 27,
    },
    originComplete: 89.4, // 17 of 161 with an empty Origin
  },
} as const;

describe.each(Object.entries(EXPECTED))('sample %s', (file, exp) => {
  let h: Harness;
  let d: DatasetRecord;
  beforeAll(async () => {
    h = await harness();
    d = await h.run(join(SAMPLES, file));
  });
  afterAll(() => h.close());

  it('processes to done with no blocking error', () => {
    expect(d.status).toBe('done');
    expect(d.error).toBeNull();
    expect(d.quality?.blocking).toBe(false);
    expect(d.counts?.rowsRead).toBe(exp.rows);
    expect(d.counts?.isolates).toBe(exp.isolates);
  });

  it('reports exactly the problems planted in the file', () => {
    expect(active(d).sort()).toEqual(
      [
        'SEX_INVALID',
        'ORGANISM_UNKNOWN',
        'RESULT_UNREADABLE',
        'NO_RESULTS',
        'DUPLICATE_ROWS',
        'NOT_FIRST_ISOLATE',
      ].sort(),
    );
    expect(entry(d, 'DUPLICATE_ROWS')).toMatchObject({
      rule: 9,
      count: 1,
      rows: [exp.duplicateRow],
    });
    expect(entry(d, 'SEX_INVALID')).toMatchObject({
      rule: 5,
      severity: 'WARN',
      rows: exp.sexU,
      values: ['U'],
    });
    expect(entry(d, 'ORGANISM_UNKNOWN')).toMatchObject({
      rule: 6,
      count: 1,
      rows: [exp.unknownOrganismRow],
      values: ['Unidentified organism XYZ'],
    });
    expect(entry(d, 'RESULT_UNREADABLE')).toMatchObject({ rule: 7, count: 1, values: ['?'] });
    expect(entry(d, 'NO_RESULTS')).toMatchObject({
      rule: 8,
      count: 1,
      rows: [exp.unknownOrganismRow],
    });
    // Dates: day-first decided from evidence, none ambiguous, none invalid.
    expect(entry(d, 'DATE_AMBIGUOUS').count).toBe(0);
    expect(entry(d, 'DATE_INVALID').count).toBe(0);
    // All headers mapped; `2`, `16`, `0.5` in mixed columns are MICs, not unreadable.
    expect(entry(d, 'UNMAPPED_HEADERS').count).toBe(0);
  });

  it('computes first isolates by both rules', () => {
    expect(d.counts?.firstIsolatesGlass).toBe(exp.glass);
    expect(d.counts?.firstIsolatesEpisode).toBe(exp.episode);
    expect(entry(d, 'NOT_FIRST_ISOLATE').count).toBe(exp.isolates - exp.glass);
  });

  it('builds the RIS file with the expected strata and counts, rules 12–16 holding', async () => {
    expect(d.ris).toHaveLength(exp.risRows);
    const totals = Object.fromEntries(
      Object.keys(exp.totals).map((k) => [
        k,
        (d.ris ?? []).reduce((s, r) => s + (r[k as keyof typeof exp.totals] as number), 0),
      ]),
    );
    expect(totals).toEqual(exp.totals);
    expect(risViolations(d)).toEqual([]);
    for (const rule of [12, 13, 14, 15, 16]) {
      const e = d.quality?.entries.find((x) => x.rule === rule);
      expect(e?.count, `rule ${rule}`).toBe(0);
    }
    const csv = parseCsv(await collect(risCsv(d)));
    expect(csv[0]).toEqual([...RIS_HEADER]);
    expect(csv).toHaveLength(exp.risRows + 1);
    expect(new Set(csv.slice(1).map((r) => `${r[0]}/${r[1]}/${r[14]}`))).toEqual(
      new Set(['KEN/2024/B-1']),
    );
    expect(d.sample).toEqual([]); // no culture-negative rows in the sample
  });

  it('reports completeness', () => {
    expect(d.quality?.completeness).toMatchObject({
      patient_id: 100,
      date: 100,
      specimen: 100,
      organism: 100,
      origin: exp.originComplete,
    });
  });

  it('streams isolates.csv with one row per isolate', async () => {
    const csv = parseCsv(await collect(isolatesCsv(h.storage, d)));
    expect(csv).toHaveLength(exp.isolates + 1);
    expect(csv[0]?.slice(0, 3)).toEqual(['isolate_id', 'source_row', 'patient_id']);
    expect(csv[0]).toContain('AMP');
    const widths = new Set(csv.map((r) => r.length));
    expect(widths.size).toBe(1);
    const firstFlags = csv.slice(1).filter((r) => r[12] === '1').length;
    expect(firstFlags).toBe(exp.glass);
  });
});
