// What clients see of the drain, socket by socket, in child processes that receive real signals.
// Registered from shutdown.test.ts (see there why).
import { Agent } from 'node:http';
import { connect, type Socket } from 'node:net';
import { expect, it, vi } from 'vitest';
import { describeEachExpress } from '../../../test/helpers/index.js';
import { type Fixture, get, sleep, startFixture } from './child.js';

/** A raw TCP client: what the server sent, and how the connection ended. */
interface Raw {
  readonly socket: Socket;
  text(): string;
  /** 'open', 'end' (the server's FIN) or the error code (a reset). */
  ending(): string;
  closed: Promise<void>;
}

function rawConnect(port: number): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let ending = 'open';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    socket.on('end', () => {
      if (ending === 'open') ending = 'end';
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (ending === 'open') ending = error.code ?? error.message;
    });
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.once('connect', () =>
      resolve({ socket, text: () => text, ending: () => ending, closed }),
    );
    socket.once('error', reject);
  });
}

/** Resolves once the listener refuses connections, i.e. the lifecycle has stopped accepting. */
async function untilRefused(port: number): Promise<void> {
  for (;;) {
    const refused = await new Promise<boolean>((resolve) => {
      const probe = connect(port, '127.0.0.1');
      probe.once('connect', () => {
        probe.destroy();
        resolve(false);
      });
      probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
    });
    if (refused) return;
    await sleep(5);
  }
}

const portOf = (f: Fixture) => Number(new URL(f.url).port);

export function drainSuite(): void {
  describeEachExpress('drain, socket by socket (child process)', (_express, version) => {
    const express = version.major;

    it('keep-alive clients (http.Agent and fetch) hammering through SIGTERM: every request is answered or refused at connect, none is reset', async () => {
      const readinessDelayMs = 300;
      const f = await startFixture({
        express,
        lifecycle: { readinessDelayMs, drainTimeoutMs: 3000 },
      });
      const agent = new Agent({ keepAlive: true });
      let exited = false;
      void f.exited.then(() => {
        exited = true;
      });
      const outcomes: Array<{ client: 'agent' | 'fetch'; outcome: string }> = [];
      const completed: number[] = [];
      const viaAgent = async (url: string) => {
        const o = await get(url, agent);
        return o.error ?? `${o.status} ${o.connection}`;
      };
      const viaFetch = async (url: string) => {
        try {
          const response = await fetch(url);
          await response.text();
          return `${response.status} ${response.headers.get('connection')}`;
        } catch (error) {
          const cause = (error as { cause?: { code?: string; message?: string } }).cause;
          return cause?.code ?? cause?.message ?? String(error);
        }
      };
      // No think time: the client's next request follows each response at once, so a socket is
      // idle only for a moment — the moment a careless close would cross a request on the wire.
      const loop = async (i: number, client: 'agent' | 'fetch') => {
        const url = `${f.url}/work?ms=${i % 2 === 0 ? 0 : 20}`;
        completed[i] = 0;
        while (!exited) {
          const outcome = await (client === 'agent' ? viaAgent(url) : viaFetch(url));
          outcomes.push({ client, outcome });
          completed[i] = (completed[i] ?? 0) + 1;
          // Refused after the stop: do not spin on it.
          if (!outcome.startsWith('200 ')) await sleep(20);
        }
      };
      const loops = [
        ...Array.from({ length: 20 }, (_, i) => loop(i, 'agent')),
        ...Array.from({ length: 20 }, (_, i) => loop(20 + i, 'fetch')),
      ];
      // Pools at their working size first: a pool still growing opens new connections, and those
      // are what the kernel resets if they are still in the accept queue when the listener closes.
      await vi.waitFor(
        () => {
          if (Math.min(...completed) < 5) throw new Error('clients still warming up');
        },
        { timeout: 20_000, interval: 20 },
      );
      f.kill('SIGTERM');
      const exit = await f.exited;
      await Promise.all(loops);
      agent.destroy();

      expect(exit.code, f.stderr()).toBe(0);
      const failed = outcomes.filter(
        (o) => !o.outcome.startsWith('200 ') && o.outcome !== 'ECONNREFUSED',
      );
      const count = (client: string, outcome: string) =>
        outcomes.filter((o) => o.client === client && o.outcome === outcome).length;
      const report = f.report();
      console.info(
        `[lifecycle] express@${express}: ${outcomes.length} requests; agent ${count('agent', '200 close')} answered with Connection: close, ${count('agent', 'ECONNREFUSED')} refused; fetch ${count('fetch', '200 close')} close, ${count('fetch', 'ECONNREFUSED')} refused; failed ${failed.length}; idle sockets closed ${report.requests.idleSocketsClosed}, drain ${report.phases.drain} ms`,
      );
      expect(failed).toEqual([]);
      // The clients really were hammering across the stop: both kinds got answers with
      // `Connection: close` and were then refused by the closed listener.
      for (const client of ['agent', 'fetch']) {
        expect(count(client, '200 close'), client).toBeGreaterThan(0);
        expect(count(client, 'ECONNREFUSED'), client).toBeGreaterThan(0);
      }
      expect(report.requests.destroyed).toBe(0);
    });

    it('a request begun before the stop and completed after it is answered with Connection: close, on a new connection and on an idle keep-alive one', async () => {
      const readinessDelayMs = 300;
      const f = await startFixture({
        express,
        lifecycle: { readinessDelayMs, drainTimeoutMs: 3000 },
      });
      const port = portOf(f);
      const keepAlive = await rawConnect(port);
      keepAlive.socket.write('GET /work?ms=0 HTTP/1.1\r\nHost: x\r\n\r\n');
      await vi.waitFor(() => expect(keepAlive.text()).toMatch(/\r\n\r\nok$/));

      f.kill('SIGTERM');
      await f.waitFor((e) => e.e === 'state' && e.state === 'draining');
      // During the delay: a new connection, and the idle keep-alive socket, each send the first
      // line of a request; the rest comes once the listener is closed. Until then the server has
      // parsed no request on either socket.
      const fresh = await rawConnect(port);
      for (const raw of [fresh, keepAlive]) raw.socket.write('GET /work?ms=0 HTTP/1.1\r\n');
      await untilRefused(port);
      const before = [fresh.ending(), keepAlive.ending()];
      for (const raw of [fresh, keepAlive]) raw.socket.write('Host: x\r\n\r\n');
      await Promise.all([fresh.closed, keepAlive.closed]);
      const exit = await f.exited;

      // Not closed (nor reset) under the client while it was sending its request ...
      expect(before).toEqual(['open', 'open']);
      // ... answered, with Connection: close, then ended cleanly by the server.
      for (const raw of [fresh, keepAlive]) {
        const responses = raw.text().split('HTTP/1.1 ').slice(1);
        const last = responses.at(-1) ?? '';
        expect(last).toMatch(/^200 /);
        expect(last).toMatch(/\r\nConnection: close\r\n/i);
        expect(last).toMatch(/\r\n\r\nok$/);
        expect(raw.ending()).toBe('end');
      }
      expect(exit.code, f.stderr()).toBe(0);
      expect(f.report().requests.destroyed).toBe(0);
    });

    it('sockets reset by their clients during the drain (idle, mid-request, just upgraded) never throw in the server', async () => {
      const f = await startFixture({
        express,
        lifecycle: { readinessDelayMs: 0, drainTimeoutMs: 3000 },
      });
      const port = portOf(f);
      const idle = await rawConnect(port);
      idle.socket.write('GET /work?ms=0 HTTP/1.1\r\nHost: x\r\n\r\n');
      const busy = await rawConnect(port);
      busy.socket.write('GET /work?ms=1500 HTTP/1.1\r\nHost: x\r\n\r\n');
      const upgrading = await rawConnect(port);
      upgrading.socket.write('GET /work?ms=0 HTTP/1.1\r\nHost: x\r\n\r\n');
      await vi.waitFor(() => {
        expect(idle.text()).toMatch(/\r\n\r\nok$/);
        expect(upgrading.text()).toMatch(/\r\n\r\nok$/);
      });
      await f.waitFor((e) => e.e === 'request' && e.ms === 1500);
      // Keeps the server from being quiet, so the idle sockets stay open into the drain.
      upgrading.socket.write('GET /echo HTTP/1.1\r\n');

      f.kill('SIGTERM');
      await untilRefused(port);
      // The app takes this socket over (101) and gives it no 'error' listener; the client resets
      // it at once, before the lifecycle closes it.
      upgrading.socket.write('Host: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
      await vi.waitFor(() => expect(upgrading.text()).toMatch(/101 Switching Protocols/));
      for (const raw of [upgrading, idle, busy]) raw.socket.resetAndDestroy();
      const exit = await f.exited;

      const logs = f.events.filter((e) => e.e === 'log').map((e) => String(e.message));
      expect(
        logs.filter((m) => m.includes('fatal')),
        f.stderr(),
      ).toEqual([]);
      expect(exit.code, f.stderr()).toBe(0);
      expect(f.events.some((e) => e.e === 'upgrade')).toBe(true);
    });
  });
}
