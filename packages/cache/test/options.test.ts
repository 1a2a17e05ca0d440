// The option policy of every exported factory: an unknown key is one coded warning (through the
// factory's logger when it has one, else process.emitWarning) and is ignored, never a throw; an
// invalid value is a TypeError with code SHIPSHAPE_CACHE_INVALID_OPTION.
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  cacheAdminRouter,
  cacheResponse,
  createCache,
  memoryStore,
  redisStore,
  tieredStore,
} from '../src/index.js';
import { type LogLine, recordingLogger } from './helpers.js';

const UNKNOWN = 'SHIPSHAPE_CACHE_UNKNOWN_OPTION';
const INVALID = 'SHIPSHAPE_CACHE_INVALID_OPTION';

type Options = Record<string, unknown>;

// Option checks need no server: a client shape whose commands must not be sent while building.
const client = {
  sendCommand: async (args: string[]): Promise<unknown> => {
    throw new Error(`no command expected while building a store, got ${args[0]}`);
  },
};
const subscriber = async () => {
  throw new Error('the subscriber is only connected by init()');
};

const closers: (() => unknown)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
  vi.restoreAllMocks();
});
function track<T extends { close?: () => unknown }>(made: T): T {
  if (typeof made.close === 'function') closers.push(() => made.close?.());
  return made;
}

interface Channel {
  readonly logger: ReturnType<typeof recordingLogger> | undefined;
  readonly warnings: () => [string, unknown][];
}

/** Captures process.emitWarning, and the logger's warn lines when the factory takes a logger. */
function channel(withLogger: boolean): Channel {
  const emitted: [string, unknown][] = [];
  vi.spyOn(process, 'emitWarning').mockImplementation(((
    message: unknown,
    options?: { code?: unknown },
  ) => {
    emitted.push([String(message), options?.code]);
  }) as typeof process.emitWarning);
  const logger = withLogger ? recordingLogger() : undefined;
  return {
    logger,
    warnings: () => [
      ...emitted,
      ...(logger?.lines ?? [])
        .filter((line: LogLine) => line.level === 'warn')
        .map((line): [string, unknown] => [line.message, line.meta?.code]),
    ],
  };
}

const table: {
  readonly factory: string;
  /** Whether its warnings go through its `logger` option (else process.emitWarning). */
  readonly logger: boolean;
  readonly call: (options: Options, logger: Channel['logger']) => unknown;
  readonly invalid: Options;
}[] = [
  {
    factory: 'createCache',
    logger: true,
    call: (o, logger) => track(createCache({ ...(logger ? { logger } : {}), ...o })),
    invalid: { ttl: 0 },
  },
  { factory: 'memoryStore', logger: false, call: (o) => memoryStore(o), invalid: { clone: 'yes' } },
  {
    factory: 'redisStore',
    logger: false,
    call: (o) => track(redisStore({ client, ...o })),
    invalid: { commandTimeoutMs: -1 },
  },
  {
    factory: 'tieredStore',
    logger: false,
    call: (o) =>
      track(tieredStore(memoryStore(), redisStore({ client }), { subscriber, ...o } as never)),
    invalid: { channel: '' },
  },
  {
    factory: 'cacheResponse',
    logger: false,
    call: (o) => cacheResponse({ cache: track(createCache()), ...o } as never),
    invalid: { maxBodyBytes: 1.5 },
  },
  {
    factory: 'cacheAdminRouter',
    logger: false,
    call: (o) => cacheAdminRouter({ caches: [], authorize: () => true, ...o } as never),
    invalid: { authorize: true },
  },
];

describe.each(table)('$factory', ({ factory, logger, call, invalid }) => {
  it(`an unknown option is one coded warning (${logger ? 'its logger' : 'process.emitWarning'}), not a throw`, () => {
    const ch = channel(logger);
    expect(() => call({ typoOne: 1, typoTwo: 2 }, ch.logger)).not.toThrow();
    expect(ch.warnings()).toEqual([
      [
        expect.stringMatching(
          new RegExp(
            `^@shipshape/cache: ${factory} ignores unknown options "typoOne", "typoTwo"; known options: `,
          ),
        ),
        UNKNOWN,
      ],
    ]);
    if (ch.logger) expect(ch.logger.lines).toHaveLength(1); // and not also process.emitWarning
  });

  it('known options give no warning', () => {
    const ch = channel(logger);
    call({}, ch.logger);
    expect(ch.warnings()).toEqual([]);
  });

  it('an invalid value is a TypeError with a code', () => {
    let thrown: unknown;
    try {
      call(invalid, undefined);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect(thrown).toMatchObject({ code: INVALID });
    expect((thrown as Error).message).toMatch(new RegExp(`^@shipshape/cache: ${factory} "`));
  });
});

describe('per-call options of a cache', () => {
  it('unknown keys of set/getOrSet/healthCheck options warn once per cache through its logger', async () => {
    const ch = channel(true);
    const cache = track(createCache({ logger: ch.logger as never }));
    await cache.set('a', 1, { tll: 5 } as never);
    await cache.set('b', 2, { tll: 5 } as never);
    await cache.getOrSet('c', () => 3, { tagz: ['x'] } as never);
    cache.healthCheck({ timeout: 5 } as never);
    expect(await cache.get('a')).toBe(1);
    expect(ch.warnings()).toEqual([
      [expect.stringContaining('cache "default" set ignores unknown option "tll"'), UNKNOWN],
      [expect.stringContaining('cache "default" getOrSet ignores unknown option "tagz"'), UNKNOWN],
      [
        expect.stringContaining('cache "default" healthCheck ignores unknown option "timeout"'),
        UNKNOWN,
      ],
    ]);
  });

  it('an invalid per-call option is a TypeError with the code (ttl keeps INVALID_TTL)', async () => {
    const cache = track(createCache());
    await expect(cache.set('a', 1, { tags: 'x' } as never)).rejects.toMatchObject({
      name: 'TypeError',
      code: INVALID,
    });
    expect(() => cache.healthCheck({ timeoutMs: -1 })).toThrow(
      expect.objectContaining({ code: INVALID }),
    );
    await expect(cache.set('a', 1, { ttl: 0 })).rejects.toMatchObject({ code: 'INVALID_TTL' });
  });
});
