import { describe, expect, it } from 'vitest';
import { encodedIsolate, resultsEncoder } from '../src/domain/encoded.js';
import { isolateToValues } from '../src/storage/common.js';
import type { ResultCode } from '../src/types.js';

const VALUES: (ResultCode | undefined)[] = [
  'R',
  'S',
  'I',
  'SDD',
  'NS',
  'NI',
  'NO_BREAKPOINT',
  'UNREADABLE',
  undefined,
];

// What the pipeline built before: the object, keys in header order, then JSON.stringify.
function viaObject(codes: readonly string[], results: readonly (ResultCode | undefined)[]) {
  const object: Record<string, ResultCode> = {};
  codes.forEach((code, i) => {
    const value = results[i];
    if (value !== undefined) object[code] = value;
  });
  return JSON.stringify(object);
}

describe('resultsEncoder', () => {
  it('writes exactly what JSON.stringify writes for every subset of results', () => {
    const codes = ['AMP', 'CIP', 'SXT', 'MEM'];
    const encode = resultsEncoder(codes);
    // Every combination of the nine values over four antibiotics: 9^4 rows.
    for (let n = 0; n < 9 ** codes.length; n++) {
      const results = codes.map((_, i) => VALUES[Math.floor(n / 9 ** i) % 9]);
      expect(encode(results)).toBe(viaObject(codes, results));
    }
    expect(encode([undefined, undefined, undefined, undefined])).toBe('{}');
  });

  it("keeps JSON.stringify's key order for codes that are array indexes, and escapes codes", () => {
    const codes = ['AMP', '10', 'x"y', '2', '01', '4294967295', '4294967294', 'é\\'];
    const encode = resultsEncoder(codes);
    const all = codes.map((_, i) => VALUES[i % 8]);
    expect(encode(all)).toBe(viaObject(codes, all));
    expect(JSON.parse(encode(all))).toEqual(JSON.parse(viaObject(codes, all)));
    const some = codes.map((_, i) => (i % 3 === 0 ? undefined : 'R'));
    expect(encode(some)).toBe(viaObject(codes, some));
  });
});

describe('encodedIsolate', () => {
  it('decodes its results on demand and is stored with its encoded text', () => {
    const isolate = encodedIsolate(
      {
        isolateId: 7,
        sourceRow: 9,
        patientId: 'P1',
        specimenDate: '2024-03-01',
        dateDays: 19_783,
        year: 2024,
        sex: 'F',
        ageYears: 40,
        ageGroup: '35<44',
        specimen: 'BLOOD',
        organismRaw: 'E. coli',
        pathogen: 'ESCCOL',
        origin: 'CO',
        ward: null,
        laboratory: 'L1',
        firstIsolateGlass: true,
        firstIsolateEpisode: false,
      },
      '{"AMP":"R","CIP":"S"}',
    );
    expect(isolate.results).toEqual({ AMP: 'R', CIP: 'S' });
    const values = isolateToValues('d1', isolate);
    expect(values).toEqual([
      'd1',
      7,
      9,
      'P1',
      '2024-03-01',
      19_783,
      2024,
      'F',
      40,
      '35<44',
      'BLOOD',
      'E. coli',
      'ESCCOL',
      'CO',
      null,
      'L1',
      1,
      0,
      '{"AMP":"R","CIP":"S"}',
    ]);
    // A plain record is still serialised from its results object.
    const { resultsJson: _text, ...plain } = { ...isolate, results: { SXT: 'I' as const } };
    expect(isolateToValues('d1', plain).at(-1)).toBe('{"SXT":"I"}');
  });
});
