import { describe, expect, it } from 'vitest';
import { csvSafe } from '../src/index.js';

describe('csvSafe', () => {
  it.each([
    ['=SUM(A1:A9)', "'=SUM(A1:A9)"],
    ['+cmd|" /C calc"!A0', `'+cmd|" /C calc"!A0`],
    ['-2+3+cmd|" /C calc"!A0', `'-2+3+cmd|" /C calc"!A0`],
    ['@SUM(1+1)*cmd|" /C calc"!A0', `'@SUM(1+1)*cmd|" /C calc"!A0`],
    ['\t=1+1', "'\t=1+1"],
    ['\r=1+1', "'\r=1+1"],
    ['=HYPERLINK("http://evil","x")', `'=HYPERLINK("http://evil","x")`],
  ])('neutralises %j', (input, output) => {
    expect(csvSafe(input)).toBe(output);
  });

  it.each(['Ada', 'a=b', 'email@example.com', '', ' =not first', '-12.5', '+3', '1e-3'])(
    'leaves %j alone',
    (input) => {
      expect(csvSafe(input)).toBe(input);
    },
  );

  it('prefixes numbers too when allowNumbers is false; stringifies non-strings', () => {
    expect(csvSafe('-12.5', { allowNumbers: false })).toBe("'-12.5");
    expect(csvSafe(-3)).toBe('-3');
    expect(csvSafe(null)).toBe('');
    expect(csvSafe(undefined)).toBe('');
  });
});
