import Joi from 'joi';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  bool,
  bytes,
  type Config,
  type ConfigIssue,
  custom,
  duration,
  email,
  enums,
  flag,
  host,
  int,
  json,
  type Logger,
  list,
  loadConfig,
  num,
  port,
  type redact,
  type Spec,
  str,
  url,
} from '../src/index.js';

const schema = {
  NAME: str(),
  MAYBE: str({ optional: true }),
  WITH_DEFAULT: str({ optional: true, default: 'x' }),
  RATIO: num(),
  COUNT: int({ optional: true }),
  PORT: port({ default: 3000 }),
  DEBUG: bool(),
  API: url(),
  ADMIN: email(),
  HOST: host(),
  LEVEL: enums(['debug', 'info', 'warn']),
  MODE: enums(['a', 'b'], { optional: true }),
  TIMEOUT: duration(),
  LIMIT: bytes(),
  TAGS: list(),
  IDS: list(int()),
  META: json<{ retries: number }>(),
  LOCALE: custom(Joi.string()),
  RAW: Joi.number(),
  newCheckout: flag(),
};

describe('type inference', () => {
  it('infers the value type of every builder', () => {
    type C = Config<typeof schema>;
    expectTypeOf<C['NAME']>().toEqualTypeOf<string>();
    expectTypeOf<C['MAYBE']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<C['WITH_DEFAULT']>().toEqualTypeOf<string>();
    expectTypeOf<C['RATIO']>().toEqualTypeOf<number>();
    expectTypeOf<C['COUNT']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<C['PORT']>().toEqualTypeOf<number>();
    expectTypeOf<C['DEBUG']>().toEqualTypeOf<boolean>();
    expectTypeOf<C['API']>().toEqualTypeOf<string>();
    expectTypeOf<C['ADMIN']>().toEqualTypeOf<string>();
    expectTypeOf<C['HOST']>().toEqualTypeOf<string>();
    expectTypeOf<C['LEVEL']>().toEqualTypeOf<'debug' | 'info' | 'warn'>();
    expectTypeOf<C['MODE']>().toEqualTypeOf<'a' | 'b' | undefined>();
    expectTypeOf<C['TIMEOUT']>().toEqualTypeOf<number>();
    expectTypeOf<C['LIMIT']>().toEqualTypeOf<number>();
    expectTypeOf<C['TAGS']>().toEqualTypeOf<readonly string[]>();
    expectTypeOf<C['IDS']>().toEqualTypeOf<readonly number[]>();
    expectTypeOf<C['META']>().toEqualTypeOf<{ readonly retries: number }>();
    expectTypeOf<C['LOCALE']>().toEqualTypeOf<string>();
    expectTypeOf<C['RAW']>().toEqualTypeOf<number>();
    expectTypeOf<C['newCheckout']>().toEqualTypeOf<boolean>();
    expectTypeOf<C['NODE_ENV']>().toEqualTypeOf<
      'development' | 'test' | 'staging' | 'production'
    >();
  });

  it('loadConfig returns the inferred, readonly config', () => {
    const load = () =>
      loadConfig({ PORT: port(), LEVEL: enums(['a', 'b']) }, { env: {}, files: false });
    expectTypeOf(load).returns.toEqualTypeOf<{
      readonly PORT: number;
      readonly LEVEL: 'a' | 'b';
      readonly NODE_ENV: 'development' | 'test' | 'staging' | 'production';
    }>();
  });

  it('checks defaults and overrides against the value type', () => {
    // Compile-time only: these calls would throw at runtime, so the function is never called.
    const typeOnly = () => {
      // @ts-expect-error a port default must be a number
      port({ default: '3000' });
      // @ts-expect-error an enum default must be one of the values
      enums(['a', 'b'], { default: 'c' });
      // @ts-expect-error overrides must match the variable type (or be a raw string)
      loadConfig({ PORT: port() }, { overrides: { PORT: true } });
      expectTypeOf(loadConfig<{ PORT: ReturnType<typeof port> }>)
        .parameter(1)
        .exclude<undefined>()
        .toHaveProperty('overrides');
    };
    expectTypeOf(typeOnly).toBeFunction();
  });

  it('accepts an explicit undefined for every option, meaning "not set"', () => {
    const maybe = process.env.SHIPSHAPE_CONFIG_NEVER_SET;
    const spec = str({ description: maybe, default: maybe ?? 'a', minLength: undefined });
    expectTypeOf(spec).toEqualTypeOf<Spec<string>>();
    const config = loadConfig(
      { A: spec, N: int({ min: undefined, default: 1 }), F: flag({ default: undefined }) },
      { env: {}, files: false, cwd: undefined, logger: undefined, overrides: { A: undefined } },
    );
    expect(config).toEqual({ A: 'a', N: 1, F: false, NODE_ENV: 'development' });
  });

  it('redact keeps the keys and allows the mask string', () => {
    type R = ReturnType<typeof redact<Config<{ S: ReturnType<typeof str> }>>>;
    expectTypeOf<R['S']>().toEqualTypeOf<string>();
  });

  it('a winston-style logger satisfies Logger and issues are plain data', () => {
    const winstonLike = {
      info: (_m: string, _meta?: Record<string, unknown>) => winstonLike,
      warn: (_m: string, _meta?: Record<string, unknown>) => winstonLike,
      error: (_m: string, _meta?: Record<string, unknown>) => winstonLike,
      debug: (_m: string, _meta?: Record<string, unknown>) => winstonLike,
    };
    expectTypeOf(winstonLike).toExtend<Logger>();
    expectTypeOf<ConfigIssue['received']>().toEqualTypeOf<string | undefined>();
  });
});
