// Fatal errors and responses already streaming at the stop, in child processes.
import { Agent } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { get, killLeftovers, sleep, startFixture } from './child.js';

afterEach(() => killLeftovers());

const logs = (events: { e: string; message?: unknown; level?: unknown }[]) =>
  events.filter((e) => e.e === 'log').map((e) => `${String(e.level)} ${String(e.message)}`);

describe('fatal errors (child process, express@5)', () => {
  it('uncaughtException: fatal log, graceful shutdown with hooks, exit 1', async () => {
    const f = await startFixture({
      express: 5,
      lifecycle: { readinessDelayMs: 0, drainTimeoutMs: 1000 },
      hooks: [{ name: 'close-db' }],
    });
    await get(`${f.url}/throw`, undefined);
    const exit = await f.exited;
    expect(exit.code).toBe(1);
    expect(logs(f.events)).toContain(
      'error @shipshape/lifecycle: fatal uncaughtException: boom from a timer',
    );
    const report = f.report();
    expect(report.trigger).toBe('uncaughtException');
    expect(report.forced).toContain('uncaughtException');
    expect(report.hooks.map((h) => [h.name, h.status])).toEqual([['close-db', 'ok']]);
  });

  it('unhandledRejection "fatal" (default) shuts down with exit 1', async () => {
    const f = await startFixture({ express: 5, lifecycle: { readinessDelayMs: 0 } });
    await get(`${f.url}/reject`, undefined);
    const exit = await f.exited;
    expect(exit.code).toBe(1);
    expect(f.report().trigger).toBe('unhandledRejection');
  });

  it('unhandledRejection "log" logs and keeps serving; SIGTERM then exits 0', async () => {
    const f = await startFixture({
      express: 5,
      lifecycle: { readinessDelayMs: 0, unhandledRejection: 'log' },
    });
    await get(`${f.url}/reject`, undefined);
    await f.waitFor((e) => e.e === 'log' && String(e.message).includes('unhandled rejection'));
    expect((await get(`${f.url}/work?ms=0`, undefined)).status).toBe(200);
    f.kill('SIGTERM');
    const exit = await f.exited;
    expect(exit.code).toBe(0);
    expect(logs(f.events)).toContain(
      'error @shipshape/lifecycle: unhandled rejection: nobody caught me',
    );
  });

  // The fixture keeps a request context like @shipshape/logger's requestContext() (an
  // AsyncLocalStorage store entered per request) and its logger stamps the store's requestId on
  // every line. Node runs the fatal handlers in the async context of whatever failed.
  const fatalCases = [
    ['an uncaught exception from a timer set during a request', '/throw', 'uncaughtException'],
    [
      "an 'error' nobody listens to, from a socket opened during a request",
      '/socket-error',
      'uncaughtException',
    ],
    ['a rejection nobody handles, from a request', '/reject', 'unhandledRejection'],
  ] as const;
  for (const [what, path, trigger] of fatalCases) {
    it(`${what}: the fatal log and the shutdown report carry no request id`, async () => {
      const f = await startFixture({ express: 5, lifecycle: { readinessDelayMs: 0 } });
      const response = await get(`${f.url}${path}`, undefined, { 'X-Request-Id': 'req-unrelated' });
      expect(response.status).toBe(200);
      const exit = await f.exited;
      expect(exit.code).toBe(1);
      expect(f.report().trigger).toBe(trigger);
      const lines = f.events.filter((e) => e.e === 'log');
      const fatal = lines.find((e) => String(e.message).includes(`fatal ${trigger}`));
      expect(fatal, f.stderr()).toBeDefined();
      expect(fatal?.requestId).toBeUndefined();
      const report = lines.find((e) => String(e.message).endsWith('shutdown report'));
      expect(report?.requestId).toBeUndefined();
      // Every line the lifecycle logged is outside the request.
      const lifecycleLines = lines.filter((e) =>
        String(e.message).startsWith('@shipshape/lifecycle'),
      );
      expect(lifecycleLines.filter((e) => e.requestId !== undefined)).toEqual([]);
      if (path === '/throw') {
        // The context is real: the line the route logs in the request carries the request's id.
        const line = lines.find((e) => e.message === 'scheduling a throw');
        expect(line?.requestId).toBe('req-unrelated');
      }
    });
  }

  it('shutdown() called from a route: the shutdown logs carry no request id', async () => {
    const f = await startFixture({ express: 5, lifecycle: { readinessDelayMs: 0 } });
    const response = await get(`${f.url}/shutdown`, undefined, { 'X-Request-Id': 'req-admin' });
    expect(response.body).toBe('shutting down');
    const exit = await f.exited;
    expect(exit.code).toBe(0);
    expect(f.report().trigger).toBe('shutdown()');
    const lines = f.events.filter(
      (e) => e.e === 'log' && String(e.message).startsWith('@shipshape/lifecycle'),
    );
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.filter((e) => e.requestId !== undefined)).toEqual([]);
  });

  it('a response whose headers went out before the stop still completes in full', async () => {
    const f = await startFixture({
      express: 5,
      lifecycle: { readinessDelayMs: 0, drainTimeoutMs: 3000 },
    });
    const agent = new Agent({ keepAlive: true });
    const pending = get(`${f.url}/stream?ms=500`, agent);
    await f.waitFor((e) => e.e === 'request');
    await sleep(50);
    f.kill('SIGTERM');
    const outcome = await pending;
    const exit = await f.exited;
    agent.destroy();
    expect(outcome.body).toBe('first last');
    // Headers were sent as keep-alive before the stop; the lifecycle ended the socket after.
    expect(outcome.connection).toBe('keep-alive');
    expect(exit.code).toBe(0);
    expect(f.report().requests).toMatchObject({ inFlightAtStop: 1, drained: 1, destroyed: 0 });
  });
});
