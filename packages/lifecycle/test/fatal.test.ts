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
