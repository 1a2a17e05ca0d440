import { afterEach, describe, expect, it } from 'vitest';
import { check, createHealth, type Health } from '../src/index.js';
import { fakeCheck } from '../src/testing.js';
import { memoryLogger } from './support.js';

const opened: Health[] = [];
function health(...args: Parameters<typeof createHealth>): Health {
  const h = createHealth({ defaultMetrics: false, processMetrics: false, ...args[0] });
  opened.push(h);
  return h;
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((h) => h.close()));
});

describe('check registry and aggregation', () => {
  it('aggregates pass/warn/fail per probe; informational failures only warn', async () => {
    const db = fakeCheck('db');
    const cache = fakeCheck('cache', { critical: false });
    const h = health({ checks: [db, cache], cacheTtlMs: 0, initialState: 'ready' });

    expect((await h.report('readiness')).status).toBe('pass');
    cache.fail('down');
    let r = await h.report('readiness');
    expect(r.status).toBe('warn');
    expect(r.httpStatus).toBe(200);
    expect(r.checks.find((c) => c.name === 'cache')).toMatchObject({
      status: 'fail',
      critical: false,
      output: 'down',
    });
    db.warn('slow');
    r = await h.report('readiness');
    expect(r).toMatchObject({ status: 'warn', httpStatus: 200 });
    db.fail();
    r = await h.report('readiness');
    expect(r).toMatchObject({ status: 'fail', httpStatus: 503 });
  });

  it('liveness ignores readiness checks and state; readiness needs state ready', async () => {
    const db = fakeCheck('db');
    const alive = fakeCheck('heartbeat', { probes: ['liveness'] });
    const h = health({ checks: [db, alive], cacheTtlMs: 0 });
    expect(h.state).toBe('starting');
    expect((await h.report('readiness')).httpStatus).toBe(503);
    expect((await h.report('startup')).httpStatus).toBe(503);
    db.fail('connection refused');
    const live = await h.report('liveness');
    expect(live.httpStatus).toBe(200);
    expect(live.checks.map((c) => c.name)).toEqual(['heartbeat']);
    h.markReady();
    expect((await h.report('startup')).httpStatus).toBe(200);
    expect((await h.report('readiness')).httpStatus).toBe(503);
    db.pass();
    expect((await h.report('readiness')).httpStatus).toBe(200);
    h.setState('draining');
    expect((await h.report('readiness')).httpStatus).toBe(503);
    expect((await h.report('liveness')).httpStatus).toBe(200);
    alive.fail('wedged');
    expect((await h.report('liveness')).httpStatus).toBe(503);
  });

  it('a hanging check fails at its timeout while the others still answer', async () => {
    const hung = fakeCheck('hung', { timeoutMs: 100 });
    hung.hang();
    const ok = fakeCheck('ok');
    const h = health({ checks: [hung, ok], initialState: 'ready' });
    const r = await h.report('readiness');
    expect(r.httpStatus).toBe(503);
    const byName = Object.fromEntries(r.checks.map((c) => [c.name, c]));
    expect(byName.hung).toMatchObject({ status: 'fail', output: 'timed out after 100 ms' });
    expect(byName.ok?.status).toBe('pass');
    // Generous upper bound only: the timeout must cut the run short, not wait forever.
    expect(byName.hung?.durationMs).toBeLessThan(5000);
  });

  it('a timed-out run that ignores its signal is not started again while it is pending', async () => {
    let calls = 0;
    let release!: () => void;
    const h = health({
      cacheTtlMs: 0,
      checks: [
        check(
          'stubborn',
          () => {
            calls++;
            if (calls > 1) return 'pass';
            return new Promise<undefined>((resolve) => {
              release = () => resolve(undefined);
            });
          },
          { timeoutMs: 30 },
        ),
      ],
    });
    expect((await h.report()).checks[0]?.output).toBe('timed out after 30 ms');
    const second = (await h.report()).checks[0];
    expect(second).toMatchObject({ status: 'fail' });
    expect(second?.output).toContain('previous run still pending after timing out (30 ms)');
    expect(calls).toBe(1);
    release();
    await new Promise((r) => setImmediate(r));
    expect((await h.report()).checks[0]?.status).toBe('pass');
    expect(calls).toBe(2);
  });

  it('a run that never settles blocks new runs for at most ten timeouts', async () => {
    let calls = 0;
    const h = health({
      cacheTtlMs: 0,
      checks: [
        check(
          'forever',
          () => {
            calls++;
            return new Promise<undefined>(() => undefined);
          },
          { timeoutMs: 20 },
        ),
      ],
    });
    await h.report();
    await h.report();
    expect(calls).toBe(1);
    await new Promise((r) => setTimeout(r, 250));
    await h.report();
    expect(calls).toBe(2);
  });

  it('the timeout aborts the signal handed to the check', async () => {
    let aborted: unknown;
    const h = health({
      checks: [
        check(
          'slow',
          (signal) =>
            new Promise((resolve) => {
              signal.addEventListener('abort', () => {
                aborted = signal.reason;
                resolve('pass');
              });
            }),
          { timeoutMs: 50 },
        ),
      ],
    });
    const r = await h.report('all');
    expect(r.checks[0]?.status).toBe('fail');
    expect(String(aborted)).toContain('timed out after 50 ms');
  });

  it('a throwing check (sync or async) fails with its message', async () => {
    const h = health({
      checks: [
        check('sync', () => {
          throw new Error('boom sync');
        }),
        check('async', async () => {
          throw new Error('boom async');
        }),
        check('non-error', () => {
          throw 'a string';
        }),
      ],
      initialState: 'ready',
    });
    const r = await h.report('all');
    expect(r.status).toBe('fail');
    expect(r.checks.map((c) => [c.name, c.status, c.output])).toEqual([
      ['sync', 'fail', 'boom sync'],
      ['async', 'fail', 'boom async'],
      ['non-error', 'fail', '"a string"'],
    ]);
  });

  it.each([[42], ['ok'], [null], [{ status: 'great' }], [[1, 2]]])(
    'garbage return %j fails with a message naming the value',
    async (value) => {
      const fake = fakeCheck('garbage');
      fake.returns(value);
      const h = health({ checks: [fake] });
      const r = await h.report('all');
      expect(r.checks[0]?.status).toBe('fail');
      expect(r.checks[0]?.output).toContain('check returned an invalid result');
      expect(r.checks[0]?.output).toContain(JSON.stringify(value));
    },
  );

  it('accepted outcomes: undefined, true, false, status strings, objects', async () => {
    const outcomes = [
      undefined,
      true,
      false,
      'warn',
      { status: 'pass', observedValue: 3, observedUnit: 'ms' },
    ];
    const h = health({
      checks: outcomes.map((o, i) => check(`c${i}`, () => o as never)),
    });
    const r = await h.report('all');
    expect(r.checks.map((c) => c.status)).toEqual(['pass', 'pass', 'fail', 'warn', 'pass']);
    expect(r.checks[4]).toMatchObject({ observedValue: 3, observedUnit: 'ms' });
    expect(r.checks[2]?.output).toBe('check returned false');
  });

  it('caches results for the TTL and shares one in-flight run between concurrent callers', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let runs = 0;
    const h = health({
      checks: [
        check('db', async () => {
          runs++;
          await gate;
        }),
      ],
      cacheTtlMs: 60_000,
    });
    const pending = Array.from({ length: 50 }, () => h.report('readiness'));
    release();
    await Promise.all(pending);
    await h.report('all');
    expect(runs).toBe(1);
    await h.report('all', { fresh: true });
    expect(runs).toBe(2);
  });

  it('cacheTtlMs 0 re-runs on every report', async () => {
    const fake = fakeCheck('x');
    const h = health({ checks: [fake], cacheTtlMs: 0 });
    await h.report();
    await h.report();
    expect(fake.calls).toBe(2);
  });

  it('checks run in parallel, not one after another', async () => {
    let running = 0;
    let maxRunning = 0;
    const slow = (name: string) =>
      check(name, async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((r) => setTimeout(r, 50));
        running--;
      });
    const h = health({ checks: [slow('a'), slow('b'), slow('c')] });
    await h.report('all');
    expect(maxRunning).toBe(3);
  });

  it('background refresh re-runs checks on its interval and close() stops it', async () => {
    const fake = fakeCheck('bg');
    const h = health({ checks: [fake], refreshIntervalMs: 20 });
    const deadline = Date.now() + 5000;
    while (fake.calls < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(fake.calls).toBeGreaterThanOrEqual(3);
    await h.close();
    const after = fake.calls;
    await new Promise((r) => setTimeout(r, 150));
    expect(fake.calls).toBe(after);
  });

  it('records history: results ring buffer, check transitions and state transitions', async () => {
    const fake = fakeCheck('db');
    const logger = memoryLogger();
    const h = health({ checks: [fake], cacheTtlMs: 0, historySize: 3, logger });
    for (let i = 0; i < 5; i++) await h.report();
    fake.fail('refused');
    await h.report();
    fake.pass();
    await h.report();
    h.markReady();
    h.setState('draining');
    const hist = h.history();
    expect(hist.checks.db?.results).toHaveLength(3);
    expect(hist.checks.db?.transitions.map((t) => [t.from, t.to])).toEqual([
      [undefined, 'pass'],
      ['pass', 'fail'],
      ['fail', 'pass'],
    ]);
    expect(hist.checks.db?.transitions[1]?.output).toBe('refused');
    expect(hist.state.map((t) => [t.from, t.to])).toEqual([
      ['starting', 'ready'],
      ['ready', 'draining'],
    ]);
    for (const r of hist.checks.db?.results ?? []) {
      expect(typeof r.durationMs).toBe('number');
      expect(Number.isNaN(Date.parse(r.time))).toBe(false);
    }
    expect(
      logger.lines.some((l) => l.level === 'warn' && l.message === 'health check db is fail'),
    ).toBe(true);
    expect(logger.lines.some((l) => l.message === 'health check db recovered')).toBe(true);
  });

  it('a logger that throws does not break the probes', async () => {
    const fake = fakeCheck('db');
    fake.fail('down');
    const broken = {
      info() {
        throw new Error('logger down');
      },
      warn() {
        throw new Error('logger down');
      },
      error() {
        throw new Error('logger down');
      },
    };
    const h = health({ checks: [fake], logger: broken });
    const r = await h.report('all');
    expect(r.checks[0]).toMatchObject({ status: 'fail', output: 'down' });
  });

  it('register/unregister; duplicate names are rejected', () => {
    const h = health();
    h.register(fakeCheck('a'));
    expect(() => h.register(fakeCheck('a'))).toThrow(
      '@shipshape/health: a check named "a" is already registered',
    );
    expect(h.unregister('a')).toBe(true);
    expect(h.unregister('a')).toBe(false);
  });

  it('two instances do not share checks, state or registries', async () => {
    const a = health({ checks: [fakeCheck('only-a')] });
    const b = health();
    a.markReady();
    expect(b.state).toBe('starting');
    expect((await b.report()).checks).toHaveLength(0);
    expect(a.registry).not.toBe(b.registry);
  });
});

describe('option validation', () => {
  it.each([
    [
      { timeoutMs: 0 },
      '@shipshape/health: createHealth "timeoutMs" must be a positive integer, got 0',
    ],
    [{ cacheTtlMs: -1 }, 'createHealth "cacheTtlMs" must be a non-negative integer, got -1'],
    [
      { initialState: 'up' },
      'createHealth "initialState" must be one of "starting", "ready", "draining", "stopped", got "up"',
    ],
    [{ checks: 'db' }, 'createHealth "checks" must be an array of check definitions, got "db"'],
    [{ checks: [{ name: 'x' }] }, 'check "x" "fn" must be a function, got undefined'],
    [
      { checks: [{ name: 'x', fn: () => true, probes: ['ready'] }] },
      'check "x" "probes" must be a non-empty array of "liveness", "readiness", "startup", got ["ready"]',
    ],
    [
      { logger: console.log },
      'createHealth "logger" must be an object with info(), warn() and error()',
    ],
    [
      { alerts: [{ metric: 'disk', threshold: 1 }] },
      'createHealth alerts[0] "metric" must be one of',
    ],
    [
      { alerts: [{ metric: 'rssBytes', threshold: 'high' }] },
      'createHealth alerts[0] "threshold" must be a finite number, got "high"',
    ],
    [
      { alertWebhook: { url: 'not a url' } },
      'createHealth alertWebhook "url" must be an absolute http(s) URL, got "not a url"',
    ],
    [{ registry: {} }, 'createHealth "registry" must be a prom-client Registry'],
  ])('%j throws a clear error', (options, message) => {
    expect(() => createHealth(options as never)).toThrow(message);
  });

  it('setState rejects unknown states', () => {
    const h = health();
    expect(() => h.setState('up' as never)).toThrow(
      '@shipshape/health: setState "state" must be one of',
    );
  });

  it('warns once per call, naming every unknown option, through the logger', () => {
    const logger = memoryLogger();
    health({ logger, cacheTTL: 5, timeout: 9 } as never);
    const warns = logger.lines.filter((l) => l.meta?.code === 'SHIPSHAPE_HEALTH_UNKNOWN_OPTION');
    expect(warns).toHaveLength(1);
    expect(warns[0]?.message).toContain('unknown options "cacheTTL", "timeout"');
    expect(warns[0]?.meta?.options).toEqual(['cacheTTL', 'timeout']);
  });

  it('does not mutate the options it was given', () => {
    const options = Object.freeze({ checks: Object.freeze([fakeCheck('a')]), timeoutMs: 500 });
    expect(() => health(options)).not.toThrow();
  });
});
