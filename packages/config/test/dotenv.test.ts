import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseDotenv, port, str } from '../src/index.js';
import { tempDir } from './support.js';

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

describe('parseDotenv on arbitrary input', () => {
  // Deterministic pseudo-random inputs (mulberry32) built from the characters that matter.
  function random(seed: number): () => number {
    let a = seed;
    return () => {
      a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  const pieces = [
    'A',
    'PORT',
    '_',
    '1',
    '=',
    ' ',
    '\t',
    '#',
    '"',
    "'",
    '\\',
    '\n',
    '\r\n',
    'export ',
    'x',
    'é',
    '$',
  ];
  const inputs = Array.from({ length: 500 }, (_, i) => {
    const next = random(i + 1);
    return Array.from(
      { length: Math.floor(next() * 40) },
      () => pieces[Math.floor(next() * pieces.length)],
    ).join('');
  });

  it('never throws, and only yields well-formed keys with valid line numbers', () => {
    for (const text of inputs) {
      const { entries, problems } = parseDotenv(text);
      const lineCount = text.split(/\r?\n/).length;
      for (const e of entries) {
        expect(e.key).toMatch(/^[A-Za-z_][A-Za-z0-9_.-]*$/);
        expect(e.line).toBeGreaterThanOrEqual(1);
        expect(e.line).toBeLessThanOrEqual(lineCount);
      }
      for (const p of problems) expect(p.line).toBeLessThanOrEqual(lineCount);
    }
  });

  it('loadConfig over such files returns or throws a ConfigError, nothing else', () => {
    const cwd = tempDir();
    let errors = 0;
    for (const text of inputs.slice(0, 150)) {
      writeFileSync(join(cwd, '.env'), text);
      try {
        loadConfig(
          { PORT: port({ optional: true }), A: str({ optional: true }) },
          { cwd, env: {} },
        );
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        errors++;
      }
    }
    // The inputs are hostile enough that many are rejected, and not all.
    expect(errors).toBeGreaterThan(0);
    expect(errors).toBeLessThan(150);
  });
});
