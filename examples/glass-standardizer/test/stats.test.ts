import { describe, expect, it } from 'vitest';
import { clopperPearsonInterval, regularizedBeta, wilsonInterval } from '../src/domain/stats.js';

// SPEC §6 reference values, to 4 decimals.
const REFERENCE = [
  { x: 0, n: 30, wilson: [0, 0.1135], cp: [0, 0.1157] },
  { x: 5, n: 30, wilson: [0.0734, 0.3356], cp: [0.0564, 0.3472] },
  { x: 15, n: 30, wilson: [0.3315, 0.6685], cp: [0.313, 0.687] },
  { x: 51, n: 233, wilson: [0.1706, 0.2763], cp: [0.1675, 0.2775] },
] as const;

describe('confidence intervals (SPEC §6 reference values)', () => {
  for (const ref of REFERENCE) {
    it(`${ref.x}/${ref.n} Wilson`, () => {
      const ci = wilsonInterval(ref.x, ref.n);
      expect(ci.lo.toFixed(4)).toBe(ref.wilson[0].toFixed(4));
      expect(ci.hi.toFixed(4)).toBe(ref.wilson[1].toFixed(4));
    });
    it(`${ref.x}/${ref.n} Clopper–Pearson`, () => {
      const ci = clopperPearsonInterval(ref.x, ref.n);
      expect(ci.lo.toFixed(4)).toBe(ref.cp[0].toFixed(4));
      expect(ci.hi.toFixed(4)).toBe(ref.cp[1].toFixed(4));
    });
  }

  it('regularized beta matches closed forms', () => {
    // I_x(1, b) = 1 - (1 - x)^b and I_x(a, 1) = x^a.
    expect(regularizedBeta(0.3, 1, 5)).toBeCloseTo(1 - 0.7 ** 5, 12);
    expect(regularizedBeta(0.3, 4, 1)).toBeCloseTo(0.3 ** 4, 12);
    // Symmetry: I_x(a, b) = 1 - I_{1-x}(b, a).
    expect(regularizedBeta(0.42, 7, 3)).toBeCloseTo(1 - regularizedBeta(0.58, 3, 7), 12);
  });

  it('Clopper–Pearson of n/n reaches 1 and is wider than Wilson', () => {
    const cp = clopperPearsonInterval(30, 30);
    expect(cp.hi).toBe(1);
    expect(cp.lo).toBeCloseTo(1 - 0.1157, 4);
    expect(cp.lo).toBeLessThan(wilsonInterval(30, 30).lo);
  });

  it('rejects impossible counts', () => {
    expect(() => wilsonInterval(5, 0)).toThrow(/n > 0/);
    expect(() => clopperPearsonInterval(6, 5)).toThrow(/x <= n/);
  });
});
