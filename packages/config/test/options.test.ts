// The option policy of every exported factory: an unknown key is one coded warning (through
// `logger.warn` when the call has a logger, else process.emitWarning) and is ignored, never a
// throw; an invalid value is a TypeError with code SHIPSHAPE_CONFIG_INVALID_OPTION.
import Joi from 'joi';
import { afterEach, describe, expect, it, vi } from 'vitest';
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
  loadConfigOrExit,
  num,
  port,
  str,
  url,
} from '../src/index.js';

const UNKNOWN = 'SHIPSHAPE_CONFIG_UNKNOWN_OPTION';
const INVALID = 'SHIPSHAPE_CONFIG_INVALID_OPTION';

type Options = Record<string, unknown>;

const table: {
  readonly factory: string;
  readonly call: (options: Options) => unknown;
  readonly invalid: Options;
}[] = [
  { factory: 'str()', call: (o) => str(o), invalid: { secret: 'yes' } },
  { factory: 'num()', call: (o) => num(o), invalid: { min: 'one' } },
  { factory: 'int()', call: (o) => int(o), invalid: { max: Number.NaN } },
  { factory: 'port()', call: (o) => port(o), invalid: { default: 70_000 } },
  { factory: 'bool()', call: (o) => bool(o), invalid: { optional: 1 } },
  { factory: 'flag()', call: (o) => flag(o), invalid: { default: 5 } },
  { factory: 'url()', call: (o) => url(o), invalid: { protocols: [] } },
  { factory: 'email()', call: (o) => email(o), invalid: { default: 'not-an-email' } },
  { factory: 'host()', call: (o) => host(o), invalid: { description: 3 } },
  { factory: 'enums()', call: (o) => enums(['a', 'b'], o), invalid: { default: 'c' } },
  { factory: 'duration()', call: (o) => duration(o), invalid: { minLength: -1 } },
  { factory: 'bytes()', call: (o) => bytes(o), invalid: { example: 512 } },
  { factory: 'list()', call: (o) => list(int(), o), invalid: { separator: '' } },
  { factory: 'json()', call: (o) => json(o), invalid: { schema: {} } },
  { factory: 'custom()', call: (o) => custom(Joi.string(), o), invalid: { secret: 'no' } },
  {
    factory: 'loadConfig()',
    call: (o) => loadConfig({ A: str({ default: 'a' }) }, { env: {}, files: false, ...o }),
    invalid: { files: 'yes' },
  },
  {
    factory: 'loadConfig()',
    call: (o) =>
      loadConfigOrExit({ A: str({ default: 'a' }) }, { env: {}, files: false, ...o } as never),
    invalid: { cwd: 42 },
  },
];

afterEach(() => vi.restoreAllMocks());

function emitted(): [unknown, unknown][] {
  const seen: [unknown, unknown][] = [];
  vi.spyOn(process, 'emitWarning').mockImplementation(((
    message: unknown,
    options?: { code?: unknown },
  ) => {
    seen.push([message, options?.code]);
  }) as typeof process.emitWarning);
  return seen;
}

describe.each(table)('$factory', ({ factory, call, invalid }) => {
  it('an unknown option is one coded warning, not a throw', () => {
    const seen = emitted();
    expect(() => call({ typoOne: 1, typoTwo: 2 })).not.toThrow();
    expect(seen).toHaveLength(1);
    expect(seen[0]?.[1]).toBe(UNKNOWN);
    expect(String(seen[0]?.[0])).toMatch(
      new RegExp(
        `^@shipshape/config: ${factory.replace(/[()]/g, '\\$&')} ignores unknown options "typoOne", "typoTwo"; known options: `,
      ),
    );
  });

  it('known options give no warning', () => {
    const seen = emitted();
    call({});
    expect(seen).toEqual([]);
  });

  it('an invalid value is a TypeError with a code', () => {
    let thrown: unknown;
    try {
      call(invalid);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect(thrown).toMatchObject({ code: INVALID });
    expect((thrown as Error).message).toMatch(/^@shipshape\/config: /);
  });
});

describe('loadConfig() with a logger', () => {
  it('warns through logger.warn instead of process.emitWarning', () => {
    const seen = emitted();
    const warned: unknown[][] = [];
    const logger = { info() {}, error() {}, warn: (...args: unknown[]) => warned.push(args) };
    loadConfig({ A: str({ default: 'a' }) }, {
      env: {},
      files: false,
      logger,
      overides: {},
    } as never);
    expect(seen).toEqual([]);
    expect(warned).toEqual([
      [
        expect.stringContaining('loadConfig() ignores unknown option "overides"'),
        { code: UNKNOWN },
      ],
    ]);
  });

  it('a logger without warn is an invalid option', () => {
    expect(() =>
      loadConfig({ A: str({ default: 'a' }) }, { env: {}, files: false, logger: {} as never }),
    ).toThrow(expect.objectContaining({ code: INVALID }));
  });
});

describe('schema mistakes', () => {
  it('are TypeErrors with the same code', () => {
    expect(() => loadConfig({ PORT: 3000 } as never, { env: {}, files: false })).toThrow(
      expect.objectContaining({ name: 'TypeError', code: INVALID }),
    );
    expect(() => loadConfig({ NODE_ENV: str() }, { env: {}, files: false })).toThrow(
      expect.objectContaining({ code: INVALID }),
    );
  });
});
