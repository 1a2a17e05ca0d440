import { describe, expect, it } from 'vitest';
import { HashSet53, hash53 } from '../src/index.js';

describe('HashSet53', () => {
  it('adds, detects repeats and survives growth', () => {
    const set = new HashSet53();
    const values = Array.from({ length: 5000 }, (_, i) => hash53(`patient-${i}`));
    expect(new Set(values).size).toBe(5000);
    for (const v of values) expect(set.add(v)).toBe(true);
    for (const v of values) expect(set.add(v)).toBe(false);
    expect(set.size).toBe(5000);
  });

  it('handles 0 and the largest 53-bit values', () => {
    const set = new HashSet53();
    expect(set.add(0)).toBe(true);
    expect(set.add(0)).toBe(false);
    expect(set.add(2 ** 53 - 1)).toBe(true);
    expect(set.add(2 ** 53 - 1)).toBe(false);
    expect(set.size).toBe(2);
  });

  it('hash53 is deterministic and spreads similar strings', () => {
    expect(hash53('P1|BLOOD')).toBe(hash53('P1|BLOOD'));
    expect(hash53('P1|BLOOD')).not.toBe(hash53('P2|BLOOD'));
    expect(Number.isSafeInteger(hash53('x'))).toBe(true);
  });
});
