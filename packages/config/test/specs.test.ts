import Joi from 'joi';
import { describe, expect, it, vi } from 'vitest';
import {
  bool,
  bytes,
  custom,
  duration,
  email,
  enums,
  flag,
  host,
  int,
  json,
  list,
  loadConfig,
  num,
  port,
  type Spec,
  str,
  url,
} from '../src/index.js';

function accepts<T>(spec: Spec<T>, raw: unknown): T {
  const result = spec.check(raw);
  if (!result.ok)
    throw new Error(`expected ${JSON.stringify(raw)} to be accepted: ${result.expected}`);
  return result.value;
}

function rejects(spec: Spec<unknown>, raw: unknown): string {
  const result = spec.check(raw);
  if (result.ok)
    throw new Error(
      `expected ${JSON.stringify(raw)} to be rejected, got ${JSON.stringify(result.value)}`,
    );
  return result.expected;
}

describe('str', () => {
  it('keeps the raw string, including the empty string', () => {
    expect(accepts(str(), 'hello world')).toBe('hello world');
    expect(accepts(str(), '')).toBe('');
  });
  it('enforces minLength', () => {
    const spec = str({ minLength: 4 });
    expect(accepts(spec, 'abcd')).toBe('abcd');
    expect(rejects(spec, 'abc')).toBe('a string of at least 4 characters');
  });
  it('rejects non-strings given in code', () => {
    expect(rejects(str(), 42)).toBe('a string');
  });
});

describe('num / int / port', () => {
  it('num parses decimals, signs and exponents', () => {
    expect(accepts(num(), '1.5')).toBe(1.5);
    expect(accepts(num(), '-3')).toBe(-3);
    expect(accepts(num(), '1e3')).toBe(1000);
    expect(accepts(num(), 2.5)).toBe(2.5);
  });
  it.each(['', 'abc', '12abc', '0x10', 'Infinity', 'NaN', ' '])('num rejects %j', (raw) => {
    expect(rejects(num(), raw)).toBe('a number');
  });
  it('num honours min and max', () => {
    const spec = num({ min: 0, max: 1 });
    expect(accepts(spec, '0.5')).toBe(0.5);
    expect(rejects(spec, '1.5')).toBe('a number between 0 and 1');
    expect(rejects(num({ min: 2 }), '1')).toBe('a number >= 2');
    expect(rejects(num({ max: 2 }), '3')).toBe('a number <= 2');
  });
  it('int rejects fractions and unsafe integers', () => {
    expect(accepts(int(), '42')).toBe(42);
    expect(rejects(int(), '4.2')).toBe('an integer');
    expect(rejects(int(), '9007199254740993')).toBe('an integer');
  });
  it('port accepts 0-65535 only', () => {
    expect(accepts(port(), '0')).toBe(0);
    expect(accepts(port(), '65535')).toBe(65535);
    for (const raw of ['65536', '-1', '80.5', 'http']) {
      expect(rejects(port(), raw)).toBe('a port number (integer 0-65535)');
    }
  });
  it('rejects bad min/max options at definition time', () => {
    expect(() => num({ min: Number.NaN })).toThrow(
      '@shipshape/config: num() "min" must be a finite number, got NaN',
    );
  });
});

describe('bool', () => {
  it.each([
    ['true', true],
    ['TRUE', true],
    ['1', true],
    ['yes', true],
    ['On', true],
    ['false', false],
    ['False', false],
    ['0', false],
    ['NO', false],
    ['off', false],
  ])('%j → %s', (raw, value) => {
    expect(accepts(bool(), raw)).toBe(value);
  });
  it.each(['', 'y', 'maybe', '2'])('rejects %j', (raw) => {
    expect(rejects(bool(), raw)).toBe('a boolean (true/false, 1/0, yes/no, on/off)');
  });
});

describe('url / email / host', () => {
  it('url accepts absolute scheme:// URLs', () => {
    expect(accepts(url(), 'https://example.com/a?b=1')).toBe('https://example.com/a?b=1');
    expect(accepts(url(), 'postgres://user:pw@127.0.0.1:5432/db')).toBe(
      'postgres://user:pw@127.0.0.1:5432/db',
    );
  });
  it.each([
    'localhost:3000',
    'example.com',
    'http//example.com',
    'http://exa mple.com',
    '',
    '/path',
  ])('url rejects %j', (raw) => {
    expect(rejects(url(), raw)).toBe('an absolute URL (scheme://host...)');
  });
  it('url restricts protocols', () => {
    const spec = url({ protocols: ['redis', 'rediss'] });
    expect(accepts(spec, 'redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(rejects(spec, 'http://127.0.0.1:6379')).toBe(
      'an absolute URL with scheme redis:// or rediss://',
    );
    expect(() => url({ protocols: [] })).toThrow('"protocols" must be a non-empty array');
  });
  it('email accepts addresses on any domain', () => {
    expect(accepts(email(), 'ops@company.internal')).toBe('ops@company.internal');
    expect(rejects(email(), 'not-an-email')).toBe('an email address');
    expect(rejects(email(), 'a@')).toBe('an email address');
  });
  it('host accepts hostnames and IPs', () => {
    for (const raw of ['localhost', 'db.internal', '127.0.0.1', '::1'])
      expect(accepts(host(), raw)).toBe(raw);
    for (const raw of ['', 'exa mple', 'http://x', '10.0.0.0/8']) {
      expect(rejects(host(), raw)).toBe('a hostname or IP address');
    }
  });
});

describe('enums', () => {
  it('accepts listed values only, case-sensitively', () => {
    const spec = enums(['debug', 'info', 'warn']);
    expect(accepts(spec, 'info')).toBe('info');
    expect(rejects(spec, 'INFO')).toBe('one of: debug, info, warn');
  });
  it('needs a non-empty list of strings', () => {
    expect(() => enums([] as unknown as ['a'])).toThrow(
      '@shipshape/config: enums() needs a non-empty array of strings, got []',
    );
  });
  it('checks its default against the values', () => {
    expect(() => enums(['a', 'b'], { default: 'c' as 'a' })).toThrow(
      '@shipshape/config: enums() "default" "c" is not valid: expected one of: a, b',
    );
  });
});

describe('duration', () => {
  it.each([
    ['250ms', 250],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['1.5s', 1500],
    ['100', 100],
    [' 2 S ', 2000],
  ])('%j → %d ms', (raw, ms) => {
    expect(accepts(duration(), raw)).toBe(ms);
  });
  it.each(['', 'soon', '5 minutes', '-1s', '1w', '1h30m'])('rejects %j', (raw) => {
    expect(rejects(duration(), raw)).toMatch(/^a duration such as 250ms/);
  });
  it('formats defaults back into units', () => {
    expect(duration().format(30_000)).toBe('30s');
    expect(duration().format(1500)).toBe('1500ms');
    expect(duration().format(7_200_000)).toBe('2h');
  });
});

describe('bytes', () => {
  it.each([
    ['512', 512],
    ['512b', 512],
    ['512kb', 524_288],
    ['10mb', 10_485_760],
    ['10MiB', 10_485_760],
    ['1gb', 1_073_741_824],
    ['1.5kb', 1536],
  ])('%j → %d bytes', (raw, n) => {
    expect(accepts(bytes(), raw)).toBe(n);
  });
  it.each(['', 'big', '10 megabytes', '-1kb', '1pb'])('rejects %j', (raw) => {
    expect(rejects(bytes(), raw)).toMatch(/^a size such as 512b/);
  });
  it('formats defaults back into units', () => {
    expect(bytes().format(10_485_760)).toBe('10mb');
    expect(bytes().format(1000)).toBe('1000b');
  });
});

describe('list', () => {
  it('splits, trims and drops empty items', () => {
    expect(accepts(list(), 'a, b ,,c')).toEqual(['a', 'b', 'c']);
    expect(accepts(list(), '')).toEqual([]);
  });
  it('types items through an item spec and names the bad item', () => {
    expect(accepts(list(int()), '1,2, 3')).toEqual([1, 2, 3]);
    expect(rejects(list(int()), '1,x,3')).toBe(
      'a list separated by "," of: an integer (item 2 is not an integer)',
    );
  });
  it('uses a custom separator', () => {
    expect(accepts(list(str(), { separator: ';' }), 'a,b;c')).toEqual(['a,b', 'c']);
    expect(() => list(str(), { separator: '' })).toThrow('"separator" must be a non-empty string');
  });
  it('formats back to the separated form', () => {
    expect(list(duration()).format([1000, 60_000])).toBe('1s,1m');
  });
});

describe('json', () => {
  it('parses JSON', () => {
    expect(accepts(json(), '{"a":[1,2]}')).toEqual({ a: [1, 2] });
    expect(rejects(json(), '{a:1}')).toBe('valid JSON');
  });
  it('checks the parsed value with a joi schema', () => {
    const spec = json<{ retries: number }>({
      schema: Joi.object({ retries: Joi.number().integer().required() }),
    });
    expect(accepts(spec, '{"retries":3}')).toEqual({ retries: 3 });
    expect(rejects(spec, '{"retries":"x"}')).toBe('JSON that "retries" must be a number');
  });
});

describe('custom', () => {
  it('uses any joi schema and reports its message', () => {
    const spec = custom(Joi.string().pattern(/^[a-z]{2}-[A-Z]{2}$/, 'locale'));
    expect(accepts(spec, 'en-GB')).toBe('en-GB');
    expect(rejects(spec, 'english')).toContain('a value that');
    expect(rejects(spec, 'english')).toContain('locale');
  });
  it('accepts a schema made by another joi version (the app may have its own joi)', () => {
    // What a joi 17 schema looks like to joi 18: same shared symbol, different version.
    const foreign = Object.create(Joi.string().min(2)) as Joi.Schema<string>;
    Object.defineProperty(foreign, Symbol.for('@hapi/joi/schema'), {
      value: { version: '17.13.3' },
    });
    expect(() => Joi.isSchema(foreign)).toThrow('Cannot mix different versions of joi schemas');
    const spec = custom(foreign);
    expect(accepts(spec, 'ok')).toBe('ok');
    expect(rejects(spec, 'x')).toBe('a value that length must be at least 2 characters long');
    expect(loadConfig({ CODE: foreign }, { env: { CODE: 'abc' }, files: false }).CODE).toBe('abc');
  });

  it('reports a schema that throws instead of throwing', () => {
    const spec = custom(Joi.string().external(async () => undefined));
    expect(rejects(spec, 'x')).toBe(
      'a value accepted by the custom string schema (the schema threw: Schema with external rules must use validateAsync())',
    );
  });

  it('refuses what is not a joi schema', () => {
    expect(() => custom({} as Joi.Schema<string>)).toThrow(
      '@shipshape/config: custom() needs a joi schema',
    );
  });
});

describe('flag', () => {
  it('is a boolean defaulting to false', () => {
    const spec = flag({ description: 'new checkout' });
    expect(spec.flag).toBe(true);
    expect(spec.options.default).toBe(false);
    expect(accepts(spec, 'on')).toBe(true);
    expect(flag({ default: true }).options.default).toBe(true);
  });
  it('ignores options other than default and description, with a coded warning', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      expect(flag({ secret: true } as never).options.secret).toBeUndefined();
      expect(warn).toHaveBeenCalledWith(
        '@shipshape/config: flag() ignores unknown option "secret"; known options: default, description',
        { code: 'SHIPSHAPE_CONFIG_UNKNOWN_OPTION' },
      );
    } finally {
      warn.mockRestore();
    }
  });
});

describe('builder options', () => {
  it('warns (coded, not thrown) about unknown option names (typos) and drops them', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const spec = port({ defualt: 3000 } as never);
      expect(Object.keys(spec.options)).toEqual([]);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]?.[0]).toMatch(
        /^@shipshape\/config: port\(\) ignores unknown option "defualt"; known options: default, devDefault/,
      );
    } finally {
      warn.mockRestore();
    }
  });
  it('throws on wrongly typed options', () => {
    expect(() => str({ secret: 'yes' } as never)).toThrow(
      '@shipshape/config: str() "secret" must be a boolean, got "yes"',
    );
    expect(() => str({ minLength: -1 })).toThrow(
      '"minLength" must be a non-negative integer, got -1',
    );
    expect(() => str({ description: 3 } as never)).toThrow('"description" must be a string, got 3');
  });
  it('validates every default at definition time', () => {
    expect(() => port({ default: 70_000 })).toThrow(
      '@shipshape/config: port() "default" 70000 is not valid: expected a port number (integer 0-65535)',
    );
    expect(() => url({ devDefault: 'nope' })).toThrow('url() "devDefault" "nope" is not valid');
    expect(() => str({ minLength: 10, testDefault: 'short' })).toThrow(
      'str() "testDefault" "short" is not valid',
    );
  });
  it('does not keep a reference to the caller options object', () => {
    const options = { default: 'a' };
    const spec = str(options);
    options.default = 'b';
    expect(spec.options.default).toBe('a');
    expect(Object.isFrozen(spec.options)).toBe(true);
  });
});
