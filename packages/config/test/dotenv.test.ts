import { describe, expect, it } from 'vitest';
import { parseDotenv } from '../src/index.js';

function values(text: string): Record<string, string> {
  const { entries, problems } = parseDotenv(text);
  expect(problems).toEqual([]);
  return Object.fromEntries(entries.map((e) => [e.key, e.value]));
}

describe('parseDotenv', () => {
  it('reads plain assignments, comments, blank lines and the export prefix', () => {
    expect(
      values(
        [
          '# a comment',
          '',
          'A=1',
          '  B = two words  ',
          'export C=3',
          'D=',
          'E=x # inline',
          'F=#fff',
          'G= # only a comment',
        ].join('\n'),
      ),
    ).toEqual({ A: '1', B: 'two words', C: '3', D: '', E: 'x', F: '#fff', G: '' });
  });

  it('keeps single-quoted values literally', () => {
    expect(values(`A='a # not a comment \\n $HOME'`)).toEqual({ A: 'a # not a comment \\n $HOME' });
  });

  it('unescapes double-quoted values and lets them span lines', () => {
    const text = [
      'A="line1\\nline2\\t\\"q\\" \\\\ \\$"',
      'KEY="-----BEGIN KEY-----',
      'abc',
      '-----END KEY-----" # pem',
      'B=after',
    ].join('\r\n');
    const { entries, problems } = parseDotenv(text);
    expect(problems).toEqual([]);
    expect(entries).toEqual([
      { key: 'A', value: 'line1\nline2\t"q" \\ $', line: 1 },
      { key: 'KEY', value: '-----BEGIN KEY-----\nabc\n-----END KEY-----', line: 2 },
      { key: 'B', value: 'after', line: 5 },
    ]);
  });

  it('reports duplicate keys with both line numbers, keeping the last value', () => {
    const { entries, problems } = parseDotenv('A=1\nB=2\nA=3\n');
    expect(problems).toEqual([
      {
        kind: 'duplicate_key',
        line: 3,
        key: 'A',
        message: 'duplicate key A (first set on line 1)',
      },
    ]);
    expect(entries.filter((e) => e.key === 'A').map((e) => e.value)).toEqual(['1', '3']);
  });

  it('reports syntax problems without echoing values', () => {
    const { problems } = parseDotenv(
      ['JUSTTEXT', '1BAD=x', "S='open", 'T="x" trailing', 'U="never closed', 'V=1'].join('\n'),
    );
    expect(problems.map((p) => [p.line, p.kind, p.message])).toEqual([
      [1, 'syntax', 'expected KEY=value'],
      [
        2,
        'syntax',
        'expected KEY=value where KEY is letters, digits and _ (not starting with a digit)',
      ],
      [3, 'syntax', 'unterminated single-quoted value for S (single quotes cannot span lines)'],
      [4, 'syntax', 'unexpected text after the closing quote of T'],
      [5, 'syntax', 'unterminated double-quoted value for U'],
    ]);
    for (const p of problems) expect(p.message).not.toContain('never closed');
  });

  it('strips a UTF-8 byte order mark', () => {
    expect(values('\uFEFFA=1')).toEqual({ A: '1' });
  });
});
