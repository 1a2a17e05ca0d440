import { describe, expect, it } from 'vitest';
import { RisAggregator, RisCandidates, risCountIndex } from '../src/domain/ris.js';
import { buildPanelIndex, PANELS, type ResultCode, RIS_COUNTS } from '../src/index.js';

const REQUEST = { country: 'KEN', year: 2024, batchId: 'B-1' };

describe('RisAggregator and RisCandidates', () => {
  it('counts only the kept isolates that are counted, in the stratum of each', () => {
    const ris = new RisAggregator(buildPanelIndex(PANELS), REQUEST);
    const candidates = new RisCandidates(ris, PANELS);
    const blood = ris.stratum('BLOOD', 'STAAUR', 'F', 'CO', '25<34');
    const stool = ris.stratum('STOOL', 'SHISPP', 'M', 'HO', '0<1');
    expect(ris.stratum('BLOOD', 'STAAUR', 'F', 'CO', '25<34')).toBe(blood);
    expect(ris.stratum('URINE', 'STAAUR', 'F', 'CO', '25<34')).toBe(-1); // no panel
    expect(ris.antibiotics(blood)).toEqual(['OXA', 'FOX']);
    const oxaFox: (ResultCode | undefined)[] = ['R', undefined];
    // Ids past the initial capacity make the arrays grow.
    candidates.keep(1, blood, (a) => oxaFox[a]);
    candidates.keep(5000, blood, () => 'NO_BREAKPOINT');
    candidates.keep(2, stool, () => 'S');
    expect(candidates.count(1)).toBe(true);
    expect(candidates.count(5000)).toBe(true);
    expect(candidates.count(3)).toBe(false); // never kept
    expect(candidates.count(99_999)).toBe(false); // beyond what was kept
    // Isolate 2 is never counted: its stratum has no RIS rows at all (rule 14: no all-zero row).
    const rows = ris.rows();
    expect(rows.map((r) => [r.SPECIMEN, r.PATHOGEN, r.ANTIBIOTIC])).toEqual([
      ['BLOOD', 'STAAUR', 'FOX'],
      ['BLOOD', 'STAAUR', 'OXA'],
    ]);
    const [fox, oxa] = rows;
    expect(oxa).toMatchObject({ RESISTANT: 1, UNKNOWN_NO_BREAKPOINTS: 1, UNKNOWN_NO_AST: 0 });
    expect(fox).toMatchObject({ UNKNOWN_NO_AST: 1, UNKNOWN_NO_BREAKPOINTS: 1, RESISTANT: 0 });
  });

  it('risCountIndex points at the RIS_COUNTS column of each result', () => {
    const cases: [ResultCode | undefined, string][] = [
      ['R', 'RESISTANT'],
      ['I', 'INTERMEDIATE'],
      ['SDD', 'INTERMEDIATE'],
      ['NS', 'NONSUSCEPTIBLE'],
      ['S', 'SUSCEPTIBLE'],
      ['UNREADABLE', 'UNKNOWN_NO_AST'],
      [undefined, 'UNKNOWN_NO_AST'],
      ['NI', 'UNKNOWN_NO_BREAKPOINTS'],
      ['NO_BREAKPOINT', 'UNKNOWN_NO_BREAKPOINTS'],
    ];
    for (const [result, column] of cases) expect(RIS_COUNTS[risCountIndex(result)]).toBe(column);
  });
});
