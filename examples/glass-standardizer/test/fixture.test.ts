import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  antibiogram,
  type DatasetRecord,
  isolatesCsv,
  type RisRow,
  resistance,
  sampleCsv,
  wilsonInterval,
} from '../src/index.js';
import { collect, entry, type Harness, harness, parseCsv, risViolations } from './helpers.js';

// A hand-built file; every expectation below was worked out by hand from these rows (row 1 = header).
const FIXTURE = [
  'patient_id,sex,age,specimen_date,admission_date,specimen_type,organism,AMP,CIP,CRO',
  'P1,M,30,15/03/2024,10/03/2024,blood,E. coli,R,S,S', // 2: HO (5 d), 25<34, first (both rules)
  'P1,M,30,20/03/2024,19/03/2024,blood,E. coli,S,S,S', // 3: same episode → not first
  'P2,F,70,01/04/2024,31/03/2024,urine,eco,S,R,I', // 4: CO (1 d), 65<74
  'P3,F,NB,02/04/2024,,urine,Escherichia coli,S,,SDD', // 5: UNK origin, <1, CIP not tested
  'P4,m,3y,05/04/2024,05/04/2024,Blood,Klebsiella pneumoniae,R,NS,16', // 6: CRO MIC → no breakpoint
  'P5,F,40,06/04/2024,,stool,Shigella sonnei,S,R,R', // 7: SHISPP in STOOL
  'P6,F,40,07/04/2024,,blood,Shigella flexneri,S,S,S', // 8: SHISPP in BLOOD → rule 10
  'P7,F,50,08/04/2024,,blood,no growth,,,', // 9: culture-negative → SAMPLE only
  'P1,M,30,15/03/2025,10/03/2025,blood,E. coli,S,S,S', // 10: 2025 → GLASS first, outside year; 365 d → same episode
  'P2,F,70,02/04/2024,01/04/2024,urine,eco,S,S,S', // 11: P2 again, 1 day later
  '7777777,F,40,09/04/2024,,blood,eco,R,R,R', // 12: placeholder patient → never a first isolate
  'P2,F,70,01/04/2024,31/03/2024,urine,eco,S,R,I', // 13: exact duplicate of row 4
].join('\n');

const NINE_OTHERS_ESCCOL = ['CAZ', 'COL', 'CTX', 'DOR', 'FEP', 'IPM', 'LVX', 'MEM', 'SXT'];

function ris(d: DatasetRecord, stratum: string, antibiotic: string): RisRow | undefined {
  return d.ris?.find(
    (r) =>
      `${r.SPECIMEN}|${r.PATHOGEN}|${r.GENDER}|${r.ORIGIN}|${r.AGEGROUP}` === stratum &&
      r.ANTIBIOTIC === antibiotic,
  );
}

function counts(r: RisRow | undefined) {
  if (!r) throw new Error('RIS row missing');
  return [
    r.RESISTANT,
    r.INTERMEDIATE,
    r.NONSUSCEPTIBLE,
    r.SUSCEPTIBLE,
    r.UNKNOWN_NO_AST,
    r.UNKNOWN_NO_BREAKPOINTS,
  ];
}

describe('hand-built fixture', () => {
  let h: Harness;
  let d: DatasetRecord;
  beforeAll(async () => {
    h = await harness();
    const file = join(h.dir, 'fixture.csv');
    writeFileSync(file, FIXTURE);
    d = await h.run(file);
  });
  afterAll(() => h.close());

  it('counts rows, isolates, duplicates and first isolates', () => {
    expect(d.status).toBe('done');
    expect(d.counts).toMatchObject({
      rowsRead: 12,
      isolates: 10,
      noGrowthRows: 1,
      duplicateRows: 1,
      firstIsolatesGlass: 7,
      firstIsolatesEpisode: 6,
      risRows: 52,
      sampleRows: 8,
    });
    expect(entry(d, 'DUPLICATE_ROWS').rows).toEqual([13]);
    expect(entry(d, 'NOT_FIRST_ISOLATE').count).toBe(3);
    expect(entry(d, 'OUTSIDE_YEAR').count).toBe(1);
    expect(entry(d, 'PANEL_MISMATCH')).toMatchObject({
      count: 1,
      rows: [8],
      values: ['BLOOD/SHISPP'],
    });
    expect(entry(d, 'PATIENT_PLACEHOLDER')).toMatchObject({
      count: 1,
      rows: [12],
      values: ['7777777'],
    });
    expect(d.quality?.blocking).toBe(false);
  });

  it('puts every isolate in exactly one RIS count per panel antibiotic', () => {
    // [R, I, NS, S, NO_AST, NO_BREAKPOINTS]
    const a = 'BLOOD|ESCCOL|M|HO|25<34';
    expect(counts(ris(d, a, 'AMP'))).toEqual([1, 0, 0, 0, 0, 0]);
    expect(counts(ris(d, a, 'CIP'))).toEqual([0, 0, 0, 1, 0, 0]);
    expect(counts(ris(d, a, 'CRO'))).toEqual([0, 0, 0, 1, 0, 0]);
    for (const ab of NINE_OTHERS_ESCCOL) expect(counts(ris(d, a, ab))).toEqual([0, 0, 0, 0, 1, 0]);
    const b = 'URINE|ESCCOL|F|CO|65<74';
    expect(counts(ris(d, b, 'AMP'))).toEqual([0, 0, 0, 1, 0, 0]);
    expect(counts(ris(d, b, 'CIP'))).toEqual([1, 0, 0, 0, 0, 0]);
    expect(counts(ris(d, b, 'CRO'))).toEqual([0, 1, 0, 0, 0, 0]);
    const c = 'URINE|ESCCOL|F|UNK|<1';
    expect(counts(ris(d, c, 'CIP'))).toEqual([0, 0, 0, 0, 1, 0]);
    expect(counts(ris(d, c, 'CRO'))).toEqual([0, 1, 0, 0, 0, 0]); // SDD → INTERMEDIATE
    const k = 'BLOOD|KLEPNE|M|CO|01<04';
    expect(ris(d, k, 'AMP')).toBeUndefined(); // not in the K. pneumoniae panel
    expect(counts(ris(d, k, 'CIP'))).toEqual([0, 0, 1, 0, 0, 0]);
    expect(counts(ris(d, k, 'CRO'))).toEqual([0, 0, 0, 0, 0, 1]); // MIC 16, no breakpoint table
    const s = 'STOOL|SHISPP|F|UNK|35<44';
    expect(counts(ris(d, s, 'CIP'))).toEqual([1, 0, 0, 0, 0, 0]);
    expect(counts(ris(d, s, 'CAZ'))).toEqual([0, 0, 0, 0, 1, 0]);
    expect(d.ris?.filter((r) => r.PATHOGEN === 'SHISPP')).toHaveLength(5);
    expect(d.ris?.some((r) => r.SPECIMEN === 'BLOOD' && r.PATHOGEN === 'SHISPP')).toBe(false);
    expect(risViolations(d)).toEqual([]);
    // Sorted by SPECIMEN, PATHOGEN, GENDER, ORIGIN, AGEGROUP, ANTIBIOTIC.
    const keys = (d.ris ?? []).map((r) =>
      [r.SPECIMEN, r.PATHOGEN, r.GENDER, r.ORIGIN, r.AGEGROUP, r.ANTIBIOTIC].join('|'),
    );
    expect(keys).toEqual([...keys].sort());
  });

  it('counts distinct sampled patients per stratum in the SAMPLE file', async () => {
    const sample = Object.fromEntries(
      (d.sample ?? []).map((r) => [
        `${r.SPECIMEN}|${r.GENDER}|${r.ORIGIN}|${r.AGEGROUP}`,
        r.NUMSAMPLEDPATIENTS,
      ]),
    );
    expect(sample).toEqual({
      'BLOOD|M|HO|25<34': 1,
      'BLOOD|M|CO|25<34': 1,
      'URINE|F|CO|65<74': 1, // P2 twice, one patient
      'URINE|F|UNK|<1': 1,
      'BLOOD|M|CO|01<04': 1,
      'STOOL|F|UNK|35<44': 1,
      'BLOOD|F|UNK|35<44': 2, // P6 and the placeholder row
      'BLOOD|F|UNK|45<54': 1, // the no-growth row
    });
    const csv = parseCsv(await collect(sampleCsv(d)));
    expect(csv[0]).toEqual([
      'COUNTRY',
      'YEAR',
      'SPECIMEN',
      'GENDER',
      'ORIGIN',
      'AGEGROUP',
      'NUMSAMPLEDPATIENTS',
      'BATCHID',
    ]);
    expect(csv).toHaveLength(9);
  });

  it('flags first isolates by both rules in isolates.csv', async () => {
    const csv = parseCsv(await collect(isolatesCsv(h.storage, d)));
    const byRow = Object.fromEntries(csv.slice(1).map((r) => [r[1], r]));
    const flags = (row: string) => `${byRow[row]?.[12]}${byRow[row]?.[13]}`;
    expect(flags('2')).toBe('11');
    expect(flags('3')).toBe('00');
    expect(flags('10')).toBe('10'); // GLASS first in 2025, same episode (365 days)
    expect(flags('11')).toBe('00');
    expect(flags('12')).toBe('00');
    expect(byRow['6']?.slice(14)).toEqual(['R', 'NS', '']); // AMP, CIP, CRO (MIC shown blank)
    expect(byRow['2']?.slice(3, 12)).toEqual([
      '2024-03-15',
      '2024',
      'M',
      '30',
      '25<34',
      'BLOOD',
      'E. coli',
      'ESCCOL',
      'HO',
    ]);
  });

  it('computes %R/%S/%NS over episode first isolates, null below the minimum', async () => {
    const rows = await resistance(h.storage, d.id, d.antibiotics, {
      pathogen: 'ESCCOL',
      minimum: 1,
    });
    const amp = rows.find((r) => r.antibiotic === 'AMP');
    expect(amp).toMatchObject({
      n_tested: 3,
      pct_R: 1 / 3,
      pct_S: 2 / 3,
      pct_NS: 1 / 3,
      flag: null,
    });
    expect(amp?.ci).toEqual({ method: 'wilson', ...wilsonInterval(1, 3) });
    const cro = rows.find((r) => r.antibiotic === 'CRO');
    // S, I, SDD: %S counts S+SDD+I, %NS counts I+R+NS.
    expect(cro).toMatchObject({ n_tested: 3, pct_R: 0, pct_S: 1, pct_NS: 1 / 3 });
    const cip = rows.find((r) => r.antibiotic === 'CIP');
    expect(cip).toMatchObject({ n_tested: 2, pct_R: 0.5 });
    expect(cip?.counts.NOT_TESTED).toBe(1);
    const strict = await resistance(h.storage, d.id, d.antibiotics, {
      pathogen: 'ESCCOL',
      antibiotic: 'AMP',
    });
    expect(strict).toEqual([
      expect.objectContaining({ n_tested: 3, pct_R: null, ci: null, flag: 'insufficient' }),
    ]);
    const glass = await resistance(h.storage, d.id, d.antibiotics, {
      pathogen: 'ESCCOL',
      antibiotic: 'AMP',
      firstIsolate: 'glass',
      minimum: 1,
      ci: 'clopper-pearson',
    });
    expect(glass[0]).toMatchObject({ n_tested: 4, pct_R: 0.25, ci: { method: 'clopper-pearson' } });
    const grouped = await resistance(h.storage, d.id, d.antibiotics, {
      pathogen: 'ESCCOL',
      antibiotic: 'AMP',
      groupBy: 'specimen',
      minimum: 1,
    });
    expect(grouped.map((r) => [r.group, r.n_tested, r.pct_R])).toEqual([
      ['BLOOD', 1, 1],
      ['URINE', 2, 0],
    ]);
  });

  it('builds the antibiogram, null below the minimum', async () => {
    const ag = await antibiogram(h.storage, d.id, d.antibiotics, { minimum: 2 });
    expect(ag.pathogens).toEqual(['ESCCOL', 'KLEPNE', 'SHISPP']);
    expect(ag.cells.ESCCOL?.AMP).toEqual({
      pct_susceptible: 2 / 3,
      ...wilsonInterval(2, 3),
      n_tested: 3,
      n_susceptible: 2,
    });
    expect(ag.cells.SHISPP?.CIP).toMatchObject({
      pct_susceptible: 0.5,
      n_tested: 2,
      n_susceptible: 1,
    });
    expect(ag.cells.KLEPNE?.CIP).toBeNull();
    await expect(antibiogram(h.storage, d.id, d.antibiotics, { minimum: 0 })).rejects.toThrow(
      /"minimum" must be a positive integer/,
    );
  });
});
