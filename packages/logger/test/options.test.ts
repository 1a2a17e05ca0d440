// The option policy of every exported factory: an unknown key is one coded warning through the
// factory's warning channel (its logger when it has one, else process.emitWarning), never a
// throw; an invalid value is a TypeError with code SHIPSHAPE_LOGGER_INVALID_OPTION.
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import {
  accessLog,
  createLogger,
  type Logger,
  loggerAdminRouter,
  requestContext,
} from '../src/index.js';
import { createTestLogger, type TestLogger } from '../src/testing.js';
import { LinesTransport } from './helpers.js';

const UNKNOWN = 'SHIPSHAPE_LOGGER_UNKNOWN_OPTION';
const INVALID = 'SHIPSHAPE_LOGGER_INVALID_OPTION';

const filesDir = join(tmpdir(), `shipshape-logger-options-${process.pid}`);
afterAll(() => rmSync(filesDir, { recursive: true, force: true }));

const open: Logger[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((l) => l.close()));
  vi.restoreAllMocks();
});

/** Where a factory's warnings end up; `undefined` channel: process.emitWarning. */
interface Run {
  /** Calls the factory with `extra` merged into valid options. */
  readonly call: (extra: Record<string, unknown>) => unknown;
  /** Warnings it produced: [message, code]. */
  readonly warnings: () => [string, unknown][];
}

function viaLogger(build: (test: TestLogger, extra: Record<string, unknown>) => unknown) {
  return (): Run => {
    const test = createTestLogger();
    open.push(test.logger);
    return {
      call: (extra) => build(test, extra),
      warnings: () =>
        test.records
          .filter((r) => r.level === 'warn')
          .map((r) => [r.message, (r as { code?: unknown }).code]),
    };
  };
}

function viaEmitWarning(build: (extra: Record<string, unknown>) => unknown) {
  return (): Run => {
    const seen: [string, unknown][] = [];
    vi.spyOn(process, 'emitWarning').mockImplementation(((
      message: string | Error,
      options?: { code?: string },
    ) => {
      seen.push([String(message), options?.code]);
    }) as typeof process.emitWarning);
    return { call: build, warnings: () => seen };
  };
}

/** createLogger warns through the logger it creates: capture its lines. */
function viaCreatedLogger(extraBase: Record<string, unknown> = {}) {
  return (): Run => {
    const lines = new LinesTransport();
    return {
      call: (extra) => {
        const logger = createLogger({
          console: false,
          transports: [lines],
          ...extraBase,
          ...extra,
        } as never);
        open.push(logger);
        return logger;
      },
      warnings: () =>
        lines
          .parsed()
          .filter((l) => l.level === 'warn')
          .map((l) => [String(l.message), l.code]),
    };
  };
}

const table: {
  readonly factory: string;
  readonly setup: () => Run;
  readonly invalid: Record<string, unknown>;
  readonly message: RegExp;
}[] = [
  {
    factory: 'createLogger',
    setup: viaCreatedLogger(),
    invalid: { level: 'loud' },
    message: /"level" must be one of/,
  },
  {
    factory: 'createLogger "files"',
    // Every key of the case goes into `files`; no stream is enabled, so nothing is written.
    setup: () => {
      const run = viaCreatedLogger()();
      const streams = { app: false, error: false, security: false, access: false };
      return { ...run, call: (extra) => run.call({ files: { dir: filesDir, streams, ...extra } }) };
    },
    invalid: { maxFiles: 0 },
    message: /files "maxFiles" must be a positive integer, got 0/,
  },
  {
    factory: 'createLogger',
    // createTestLogger passes its options to createLogger: same policy, same channel.
    setup: (): Run => {
      let made: TestLogger | undefined;
      return {
        call: (extra) => {
          made = createTestLogger(extra as never);
          open.push(made.logger);
          return made;
        },
        warnings: () =>
          (made?.records ?? [])
            .filter((r) => r.level === 'warn')
            .map((r) => [r.message, (r as { code?: unknown }).code]),
      };
    },
    invalid: { maxStringLength: 3 },
    message: /"maxStringLength" must be an integer of at least 16, got 3/,
  },
  {
    factory: 'requestContext',
    setup: viaEmitWarning((extra) => requestContext(extra as never)),
    invalid: { header: 'bad header' },
    message: /requestContext "header" must be an HTTP header name/,
  },
  {
    factory: 'accessLog',
    setup: viaLogger((test, extra) => accessLog(test.logger, extra as never)),
    invalid: { slowMs: -1 },
    message: /accessLog "slowMs" must be a non-negative number/,
  },
  {
    factory: 'loggerAdminRouter',
    setup: viaLogger((test, extra) =>
      loggerAdminRouter({ logger: test.logger, authorize: () => true, ...extra } as never),
    ),
    invalid: { maxTtlMs: -5 },
    message: /loggerAdminRouter "maxTtlMs" must be a non-negative integer, got -5/,
  },
];

describe.each(table)('$factory', ({ factory, setup, invalid, message }) => {
  it('an unknown option is one coded warning, not a throw', () => {
    const run = setup();
    expect(() => run.call({ typoOne: 1, typoTwo: 2 })).not.toThrow();
    const warnings = run.warnings().filter(([, code]) => code === UNKNOWN);
    expect(warnings).toHaveLength(1);
    const [text] = warnings[0] ?? [''];
    expect(text).toContain(`${factory} ignores unknown options "typoOne", "typoTwo"`);
    expect(run.warnings().filter(([, code]) => code !== UNKNOWN)).toEqual([]);
  });

  it('known options give no warning', () => {
    const run = setup();
    run.call({});
    expect(run.warnings()).toEqual([]);
  });

  it('an invalid value is a TypeError with a code', () => {
    const run = setup();
    let thrown: unknown;
    try {
      run.call(invalid);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect(thrown).toMatchObject({ code: INVALID, message: expect.stringMatching(message) });
    expect((thrown as Error).message).toMatch(/^@shipshape\/logger: /);
  });
});

describe('setLevel, flush and close', () => {
  it('an unknown option is one coded warning through the logger (a typo must not make a change permanent unnoticed)', async () => {
    const test = createTestLogger({ level: 'info' });
    open.push(test.logger);
    test.logger.setLevel('debug', { ttl: 60_000 } as never);
    await test.logger.flush({ timeout: 5000 } as never);
    const warnings = test.records
      .filter((r) => (r as { code?: unknown }).code === UNKNOWN)
      .map((r) => r.message);
    expect(warnings).toEqual([
      expect.stringContaining('setLevel ignores unknown option "ttl"; known options are ttlMs'),
      expect.stringContaining(
        'flush ignores unknown option "timeout"; known options are timeoutMs',
      ),
    ]);
  });

  it('an invalid level is a TypeError with a code', () => {
    const { logger } = createTestLogger();
    open.push(logger);
    expect(() => logger.setLevel('loud' as never)).toThrow(TypeError);
    expect(() => logger.setLevel('debug', { ttlMs: -1 })).toThrow(
      expect.objectContaining({ code: INVALID }),
    );
  });
});

describe('ignoreWarnings', () => {
  it('silences the unknown-option warning of createLogger', () => {
    const run = viaCreatedLogger({ ignoreWarnings: [UNKNOWN] })();
    run.call({ typo: 1 });
    expect(run.warnings()).toEqual([]);
  });
});
