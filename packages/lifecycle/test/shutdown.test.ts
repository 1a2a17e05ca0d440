// The seven shutdown scenarios, each in a child process that receives real signals;
// then the drain socket by socket (drain.suite.ts) and deadlines under CPU-bound work
// (deadline.suite.ts). They share this one file on purpose: Vitest runs the tests of a file one
// after another, and these suites either load both cores (clients hammering a server, a child
// burning CPU) or assert timings that such load upsets, so they must not run beside each other.
import { Agent } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, expect, it, vi } from 'vitest';
import { describeEachExpress } from '../../../test/helpers/index.js';
import { get, killLeftovers, type Outcome, sleep, startFixture } from './child.js';
import { deadlineSuite } from './deadline.suite.js';
import { drainSuite } from './drain.suite.js';

afterEach(() => killLeftovers());

describeEachExpress('graceful shutdown in a child process', (_express, version) => {
  const express = version.major;

  it('1. 50 keep-alive clients, 200 ms handler, SIGTERM mid-run: nothing sent before 503 + delay fails, exit 0', async () => {
    const readinessDelayMs = 500;
    const drainTimeoutMs = 3000;
    const f = await startFixture({
      express,
      lifecycle: { readinessDelayMs, drainTimeoutMs },
      traceConnections: true,
    });
    const agent = new Agent({ keepAlive: true, maxSockets: 50 });
    const outcomes: Outcome[] = [];
    let exited = false;
    void f.exited.then(() => {
      exited = true;
    });
    const client = async () => {
      while (!exited) {
        const outcome = await get(`${f.url}/work?ms=200`, agent);
        outcomes.push(outcome);
        // After the stop new connections are refused: do not spin on them.
        if (outcome.error) await sleep(20);
      }
    };
    const clients = Array.from({ length: 50 }, client);
    await sleep(700);
    const killedAt = f.kill('SIGTERM');
    const exit = await f.exited;
    await Promise.all(clients);
    agent.destroy();

    expect(exit.code, f.stderr()).toBe(0);
    // Requirement: exit within delay + drain. Measured inside the child (signal to report) it
    // gets 500 ms of slack; seen from this process, which also runs the 50 clients on a shared
    // machine, only a generous bound that still catches a hang.
    expect(f.report().durationMs).toBeLessThan(readinessDelayMs + drainTimeoutMs + 500);
    expect(exit.at - killedAt).toBeLessThan(readinessDelayMs + drainTimeoutMs + 10_000);

    // "Sent" = handed to the kernel (`finish`); a request that never got that far counts from
    // its creation, which is the stricter reading.
    const boundary = f.drainingAt() + readinessDelayMs;
    const before = outcomes.filter((o) => (o.writtenAt ?? o.createdAt) < boundary);
    const failedBefore = before.filter((o) => o.error !== undefined || o.status !== 200);
    expect(
      failedBefore,
      JSON.stringify({
        killedAt,
        drainingAt: f.drainingAt(),
        boundary,
        failed: failedBefore.slice(0, 5).map(({ socket: _s, ...o }) => ({
          ...o,
          accepted: f.events.find((e) => e.e === 'connection' && e.port === o.localPort)?.at,
        })),
        accepted: f.events.filter((e) => e.e === 'connection').length,
        report: f.report(),
        stderr: f.stderr(),
      }),
    ).toEqual([]);
    // The run really was under load: 50 clients for ~1.2 s of 200 ms requests before the stop
    // (about 300 on an idle machine; the bound is low because the machine is shared).
    expect(before.length).toBeGreaterThanOrEqual(50);

    const report = f.report();
    const after = outcomes.filter((o) => !before.includes(o));
    console.info(
      `[lifecycle] express@${express}: ${before.length} requests sent before 503+delay (${failedBefore.length} failed), ${after.length} after (${after.filter((o) => o.error).length} failed: refused or reset after the stop); in flight at stop ${report.requests.inFlightAtStop}, drained ${report.requests.drained}, idle sockets closed ${report.requests.idleSocketsClosed}; shutdown ${report.durationMs} ms`,
    );
    expect(report.exitCode).toBe(0);
    expect(report.requests.inFlightAtStop).toBeGreaterThan(0);
    expect(report.requests.drained).toBeGreaterThanOrEqual(report.requests.inFlightAtStop);
    expect(report.requests.destroyed).toBe(0);
    // The requests in flight at the stop were answered with `Connection: close`.
    const closed = outcomes.filter((o) => o.status === 200 && o.connection === 'close');
    expect(closed.length).toBeGreaterThan(0);
    expect(closed.every((o) => o.doneAt >= boundary - 5)).toBe(true);
  });

  it('1b. connections still in the accept queue when the delay ends are served, not reset', async () => {
    // The event loop is blocked across the end of the readiness delay while 5 new connections
    // send their requests: they sit in the kernel's accept queue. When the loop resumes, the
    // delay timer fires before the next poll phase; closing the listener right then would reset
    // them. They were sent before 503 + delay, so they must be answered.
    const readinessDelayMs = 1000;
    const f = await startFixture({
      express,
      lifecycle: { readinessDelayMs, drainTimeoutMs: 3000 },
    });
    f.kill('SIGTERM');
    await f.waitFor((e) => e.e === 'state' && e.state === 'draining');
    const blocked = get(`${f.url}/block?ms=2000`, undefined);
    await f.waitFor((e) => e.e === 'request' && e.path === '/block');
    const queued = await Promise.all(
      Array.from({ length: 5 }, () => get(`${f.url}/work?ms=0`, undefined)),
    );
    const exit = await f.exited;
    const boundary = f.drainingAt() + readinessDelayMs;
    for (const o of queued) expect(o.writtenAt).toBeLessThan(boundary);
    expect(queued.map((o) => [o.status, o.connection, o.error])).toEqual(
      queued.map(() => [200, 'close', undefined]),
    );
    expect((await blocked).body).toBe('unblocked');
    expect(exit.code, f.stderr()).toBe(0);
  });

  it('2. readiness answers 503 from the first poll after the signal, app routes answer 200 during the delay', async () => {
    const readinessDelayMs = 1000;
    const f = await startFixture({
      express,
      lifecycle: { readinessDelayMs, drainTimeoutMs: 2000 },
    });
    const agent = new Agent({ keepAlive: true });
    const polls: Outcome[] = [];
    const appCalls: Outcome[] = [];
    let exited = false;
    void f.exited.then(() => {
      exited = true;
    });
    const poll = async (path: string, every: number, into: Outcome[]) => {
      while (!exited) {
        const outcome = await get(`${f.url}${path}`, agent);
        into.push(outcome);
        await sleep(every);
      }
    };
    const loops = [poll('/ready', 10, polls), poll('/work?ms=0', 20, appCalls)];
    // Ready before the signal: wait for the polls to show it (a fixed sleep is too short for a
    // child still warming up on a loaded machine).
    await vi.waitFor(() => expect(polls.length).toBeGreaterThan(5), { timeout: 10_000 });
    const killedAt = f.kill('SIGTERM');
    await f.exited;
    await Promise.all(loops);
    agent.destroy();

    const drainingAt = f.drainingAt();
    // The issue asks for 503 within 100 ms of SIGTERM. Signal delivery and the child's event loop
    // are at the mercy of a shared 2-core machine, so the hard assertion is exact instead of
    // timed: every poll written after the state change got 503. The signal-to-503 latency itself
    // is only bounded generously here, and printed.
    expect(drainingAt - killedAt).toBeLessThan(1000);
    const after = polls.filter((o) => o.writtenAt !== undefined && o.writtenAt > drainingAt);
    const answeredAfter = after.filter((o) => o.status !== undefined);
    expect(answeredAfter.length).toBeGreaterThan(5);
    expect(answeredAfter.map((o) => o.status)).toEqual(answeredAfter.map(() => 503));
    const firstAfterKill = polls.find((o) => o.status === 503);
    console.info(
      `[lifecycle] express@${express}: SIGTERM→draining ${drainingAt - killedAt} ms, SIGTERM→first 503 response ${(firstAfterKill?.doneAt ?? Number.NaN) - killedAt} ms`,
    );
    // Ready before the signal.
    const beforeKill = polls.filter((o) => o.doneAt < killedAt);
    expect(beforeKill.length).toBeGreaterThan(5);
    expect(beforeKill.every((o) => o.status === 200)).toBe(true);
    // App routes kept answering 200 during the delay.
    const duringDelay = appCalls.filter(
      (o) =>
        o.writtenAt !== undefined &&
        o.writtenAt > drainingAt &&
        o.writtenAt < drainingAt + readinessDelayMs,
    );
    expect(duringDelay.length).toBeGreaterThan(5);
    expect(duringDelay.map((o) => o.status)).toEqual(duringDelay.map(() => 200));
  });

  it('3. 20 idle keep-alive sockets close right after the delay, not after keepAliveTimeout', async () => {
    const readinessDelayMs = 500;
    const f = await startFixture({
      express,
      lifecycle: { readinessDelayMs, drainTimeoutMs: 2000 },
    });
    const agent = new Agent({ keepAlive: true, maxSockets: 20 });
    const first = await Promise.all(
      Array.from({ length: 20 }, () => get(`${f.url}/work?ms=100`, agent)),
    );
    const sockets = new Set(first.map((o) => o.socket).filter((s): s is Socket => !!s));
    expect(sockets.size).toBe(20);
    const closedAt = new Map<Socket, number>();
    for (const socket of sockets) {
      socket.once('close', () => closedAt.set(socket, Date.now()));
    }
    await sleep(200);
    expect(closedAt.size).toBe(0);
    f.kill('SIGTERM');
    const exit = await f.exited;
    await sleep(50);
    agent.destroy();

    expect(exit.code, f.stderr()).toBe(0);
    expect(closedAt.size).toBe(20);
    const stopAt = f.drainingAt() + readinessDelayMs;
    const times = [...closedAt.values()];
    // Open through the delay (5 ms for rounding between the two processes' clocks) ...
    expect(Math.min(...times)).toBeGreaterThanOrEqual(stopAt - 5);
    // ... and closed promptly after it, by the lifecycle (the report counts them), not by the
    // 65 s keepAliveTimeout; the time bound is generous because this machine is shared.
    expect(Math.max(...times) - stopAt).toBeLessThan(3000);
    expect(f.report().requests.idleSocketsClosed).toBe(20);
  });

  it('4a. a 3 s request with a 5 s drain budget completes, answered with Connection: close', async () => {
    const f = await startFixture({
      express,
      lifecycle: { readinessDelayMs: 0, drainTimeoutMs: 5000 },
    });
    const agent = new Agent({ keepAlive: true });
    const pending = get(`${f.url}/work?ms=3000`, agent);
    await f.waitFor((e) => e.e === 'request');
    f.kill('SIGTERM');
    const outcome = await pending;
    const exit = await f.exited;
    agent.destroy();

    expect(outcome.error).toBeUndefined();
    expect(outcome.status).toBe(200);
    expect(outcome.body).toBe('ok');
    expect(outcome.connection).toBe('close');
    expect(exit.code, f.stderr()).toBe(0);
    const report = f.report();
    expect(report.requests).toMatchObject({ inFlightAtStop: 1, drained: 1, destroyed: 0 });
  });

  it('4b. with a 1 s drain budget the same request is cut at ~1 s and the exit code is 1', async () => {
    const drainTimeoutMs = 1000;
    const f = await startFixture({ express, lifecycle: { readinessDelayMs: 0, drainTimeoutMs } });
    const pending = get(`${f.url}/work?ms=3000`, undefined);
    await f.waitFor((e) => e.e === 'request');
    f.kill('SIGTERM');
    const outcome = await pending;
    const exit = await f.exited;

    expect(outcome.status).toBeUndefined();
    expect(outcome.error).toMatch(/ECONNRESET|socket hang up/);
    expect(exit.code).toBe(1);
    const cutAfter = outcome.doneAt - f.drainingAt();
    // Cut at the drain deadline: not before it, and before the handler's 3 s would end (an error,
    // not a 200, already shows it was cut; the bound is loose for a loaded machine).
    expect(cutAfter).toBeGreaterThanOrEqual(drainTimeoutMs - 5);
    expect(cutAfter).toBeLessThan(3000);
    const report = f.report();
    expect(report.phases.drain).toBeGreaterThanOrEqual(drainTimeoutMs - 5);
    expect(report.phases.drain).toBeLessThan(drainTimeoutMs + 1000);
    expect(report.exitCode).toBe(1);
    expect(report.requests).toMatchObject({ inFlightAtStop: 1, destroyed: 1 });
    expect(report.forced.join(' ')).toMatch(/cut at the drain timeout/);
  });

  it('5. SIGTERM twice then SIGINT: hooks run once, in order; one exit', async () => {
    const readinessDelayMs = 5000;
    const f = await startFixture({
      express,
      lifecycle: { readinessDelayMs, drainTimeoutMs: 5000 },
      hooks: [
        // Long enough that the SIGINT sent 20 ms after the second SIGTERM lands while they run,
        // even when this process is slow to send it.
        { name: 'logger', ms: 300 },
        { name: 'db', ms: 300 },
        { name: 'queue', ms: 300 },
      ],
    });
    f.kill('SIGTERM');
    await f.waitFor((e) => e.e === 'state' && e.state === 'draining');
    f.kill('SIGTERM');
    await sleep(20);
    f.kill('SIGINT');
    const exit = await f.exited;

    const starts = f.events.filter((e) => e.e === 'hook' && e.phase === 'start').map((e) => e.name);
    expect(starts).toEqual(['queue', 'db', 'logger']);
    const ends = f.events.filter((e) => e.e === 'hook' && e.phase === 'end').map((e) => e.name);
    expect(ends).toEqual(['queue', 'db', 'logger']);
    expect(f.events.filter((e) => e.e === 'exit-call')).toHaveLength(1);
    expect(f.events.filter((e) => e.e === 'state' && e.state === 'draining')).toHaveLength(1);
    expect(exit.code).toBe(1);
    // The second signal cut the 5 s readiness delay.
    expect(exit.at - f.drainingAt()).toBeLessThan(readinessDelayMs);
    const report = f.report();
    expect(report.phases.readinessDelay).toBeLessThan(readinessDelayMs);
    expect(report.trigger).toBe('SIGTERM');
    expect(report.forced.join(' ')).toMatch(/second signal SIGTERM/);
    const messages = f.events.filter((e) => e.e === 'log').map((e) => String(e.message));
    expect(messages.filter((m) => m.includes('forcing'))).toHaveLength(1);
    expect(messages.filter((m) => m.includes('SIGINT received again'))).toHaveLength(1);
  });

  it('6. a hanging hook is cut at its timeout, a failing one is isolated, the others run', async () => {
    const hookTimeoutMs = 300;
    const f = await startFixture({
      express,
      lifecycle: { readinessDelayMs: 0, drainTimeoutMs: 1000, hookTimeoutMs },
      hooks: [
        { name: 'flush-logs', mode: 'fail' },
        { name: 'stuck-client', mode: 'hang' },
        { name: 'close-db', ms: 20 },
      ],
    });
    f.kill('SIGTERM');
    const exit = await f.exited;

    expect(exit.code).toBe(1);
    const hookEvents = f.events
      .filter((e) => e.e === 'hook')
      .map((e) => `${String(e.name)}:${String(e.phase)}`);
    expect(hookEvents).toEqual([
      'close-db:start',
      'close-db:end',
      'stuck-client:start',
      'stuck-client:aborted',
      'flush-logs:start',
    ]);
    const hooks = f.report().hooks;
    expect(hooks.map((h) => [h.name, h.status])).toEqual([
      ['close-db', 'ok'],
      ['stuck-client', 'timed out'],
      ['flush-logs', 'failed'],
    ]);
    expect(hooks[1]?.durationMs).toBeGreaterThanOrEqual(hookTimeoutMs - 5);
    expect(hooks[1]?.durationMs).toBeLessThan(hookTimeoutMs + 1500);
    expect(hooks[2]?.error).toBe('flush-logs could not close');
  });

  it('7a. tracked background work finishes before the exit', async () => {
    const f = await startFixture({
      express,
      lifecycle: { readinessDelayMs: 0, drainTimeoutMs: 3000 },
      hooks: [{ name: 'close-db' }],
    });
    const started = await get(`${f.url}/task?name=report&ms=600`, undefined);
    expect(started.body).toBe('started');
    f.kill('SIGTERM');
    const exit = await f.exited;

    expect(exit.code, f.stderr()).toBe(0);
    const order = f.events
      .filter((e) => e.e === 'task' || e.e === 'hook' || e.e === 'exit-call')
      .map((e) => `${e.e}:${String(e.status ?? e.phase ?? e.code)}`);
    expect(order).toEqual(['task:done', 'hook:start', 'hook:end', 'exit-call:0']);
    expect(f.report().work).toEqual({ completed: 1, interrupted: [] });
  });

  it('7b. tracked work still running at the drain timeout is aborted and reported as interrupted', async () => {
    const f = await startFixture({
      express,
      lifecycle: { readinessDelayMs: 0, drainTimeoutMs: 500 },
    });
    await get(`${f.url}/task?name=nightly-export&ms=10000`, undefined);
    const killedAt = f.kill('SIGTERM');
    const exit = await f.exited;

    expect(exit.code).toBe(1);
    // Inside the child: drain budget plus slack; from here: a generous bound against hangs.
    expect(f.report().durationMs).toBeLessThan(500 + 1000);
    expect(exit.at - killedAt).toBeLessThan(500 + 10_000);
    expect(f.events.filter((e) => e.e === 'task').map((e) => e.status)).toEqual(['aborted']);
    const report = f.report();
    expect(report.work.interrupted).toEqual(['nightly-export']);
    expect(report.forced.join(' ')).toMatch(/tracked work interrupted: nightly-export/);
  });
});

drainSuite();
deadlineSuite();
