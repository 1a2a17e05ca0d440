import type { Request } from 'express';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type BlackHole,
  describeEachExpress,
  type ExpressFactory,
  listen,
  type SpareRedis,
  sampleLatency,
  serviceAvailable,
  startBlackHole,
  startSpareRedis,
} from '../../../test/helpers/index.js';
import { type IpFilterOptions, ipFilter } from '../src/ip-filter.js';
import { redisIpStore } from '../src/ip-store.js';
import { type RateLimitOptions, rateLimit, redisRateLimitStore } from '../src/rate-limit.js';
import { captureLogger, uniquePrefix } from './helpers/http.js';

const redisUp = await serviceAvailable('redis');

const makeClient = (url: string) => createClient({ url });
type Client = ReturnType<typeof makeClient>;

/** An API as harden() composes it: ipFilter, then rateLimit, both on one Redis client. */
function api(
  express: ExpressFactory,
  client: { sendCommand(args: string[]): Promise<unknown> },
  options: { filter?: IpFilterOptions; limit?: RateLimitOptions } = {},
) {
  const prefix = uniquePrefix('outage');
  const logger = captureLogger();
  const app = express();
  const filter = ipFilter({
    store: redisIpStore(client, { prefix: `${prefix}ip:` }),
    logger,
    ...options.filter,
  });
  const limiter = rateLimit({
    limit: 10_000,
    store: redisRateLimitStore(client, { prefix: `${prefix}rl:` }),
    onStoreError: 'allow',
    ipFilter: filter,
    logger,
    ...options.limit,
  });
  app.use(filter, limiter);
  app.get('/api/items/:id', (req: Request, res) => {
    res.json({ id: req.params.id });
  });
  return { app, filter, limiter, logger, rateLimitKey: `${prefix}rl:127.0.0.1` };
}

describe.skipIf(!redisUp)('ipFilter + rateLimit while Redis fails (private redis-server)', () => {
  let spare: SpareRedis;
  const clients: Client[] = [];
  beforeAll(async () => {
    spare = await startSpareRedis();
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    // A test that failed mid-outage must not leave the next one without Redis.
    spare.resume();
    await spare.stop();
    await spare.start();
  });
  afterAll(async () => {
    await spare?.stop();
  });

  /** As users create it: offline queue on, default reconnects, and no 'error' listener. */
  async function userClient(): Promise<Client> {
    const client = makeClient(spare.url);
    clients.push(client);
    await client.connect();
    return client;
  }

  describeEachExpress('kill -9 under load', (express) => {
    it('no crash; each request pays < 50 ms (median) once the circuits open; both recover within seconds', async () => {
      const client = await userClient();
      const { app, filter, rateLimitKey, logger } = api(express, client);
      // The stores' guard listens for 'error' on a client that has no listener of its own.
      expect(client.listenerCount('error')).toBe(1);
      const server = await listen(app);
      try {
        const healthy = await sampleLatency((i) => `${server.url}/api/items/${i}`, 20);
        expect(healthy.statuses.every((s) => s === 200)).toBe(true);
        expect(await client.get(rateLimitKey)).toBe('20');

        await spare.stop();
        const during = await sampleLatency((i) => `${server.url}/api/items/${i}`, 60);
        expect(during.statuses.every((s) => s === 200)).toBe(true); // onStoreError 'allow'
        // Before: every request waited for two 1 s store timeouts (~2 s each).
        expect(during.median).toBeLessThan(50);
        expect(during.max).toBeLessThan(500);
        const warned = logger.entries.filter(
          (e) => e.meta?.code === 'SHIPSHAPE_SECURITY_STORE_ERROR',
        );
        expect(warned.map((e) => e.message.slice(0, 34)).sort()).toEqual([
          '@shipshape/security: ipFilter stor',
          '@shipshape/security: rateLimit "de',
        ]);

        await spare.start();
        const back = performance.now();
        // The rate limiter counts each request again once its circuit has closed (a probe after
        // the 2 s cool-down). Commands node-redis had queued offline may land on reconnect, so
        // look at the count one request adds, not at the count itself.
        await vi.waitFor(
          async () => {
            const before = Number(await client.get(rateLimitKey));
            expect((await fetch(`${server.url}/api/items/after`)).status).toBe(200);
            expect(Number(await client.get(rateLimitKey))).toBe(before + 1);
          },
          { timeout: 8000, interval: 100 },
        );
        // And blocks are enforced again (block() is tried even while a circuit is open).
        await filter.block('127.0.0.1', 60_000);
        await vi.waitFor(
          async () => expect((await fetch(`${server.url}/api/items/blocked`)).status).toBe(403),
          { timeout: 8000, interval: 100 },
        );
        const recoveryMs = performance.now() - back;
        expect(recoveryMs).toBeLessThan(8000);
        const recovered = logger.entries.filter(
          (e) => e.level === 'info' && / is back;/.test(e.message),
        );
        expect(recovered.map((e) => e.message).sort()).toEqual([
          '@shipshape/security: ipFilter store is back; block checks resume',
          '@shipshape/security: rateLimit "default" store is back; limiting again',
        ]);
      } finally {
        await server.close();
      }
    });
  });

  it("black hole (SIGSTOP), 'deny': 503s come fast once the circuits are open, then recovery", async () => {
    const express = (await import('express')).default as unknown as ExpressFactory;
    const client = await userClient();
    const { app, rateLimitKey } = api(express, client, {
      filter: { onStoreError: 'deny' },
      limit: { onStoreError: 'deny' },
    });
    const server = await listen(app);
    try {
      expect((await fetch(`${server.url}/api/items/1`)).status).toBe(200);
      spare.pause();
      const during = await sampleLatency((i) => `${server.url}/api/items/${i}`, 40);
      expect(during.statuses.every((s) => s === 503)).toBe(true);
      expect(during.median).toBeLessThan(50);
      expect(during.max).toBeLessThan(500);
      spare.resume();
      await vi.waitFor(
        async () => expect((await fetch(`${server.url}/api/items/back`)).status).toBe(200),
        { timeout: 8000, interval: 100 },
      );
      expect(Number(await client.get(rateLimitKey))).toBeGreaterThan(1);
    } finally {
      await server.close();
    }
  });

  it('while open, the circuit sends nothing to Redis; one probe per cool-down', async () => {
    const express = (await import('express')).default as unknown as ExpressFactory;
    const client = await userClient();
    let sent = 0;
    const counting = {
      sendCommand: (args: string[]) => {
        sent++;
        return client.sendCommand(args);
      },
    };
    const { app } = api(express, counting, {
      filter: { storeCooldownMs: 1000 },
      limit: { storeCooldownMs: 1000 },
    });
    const server = await listen(app);
    try {
      await fetch(`${server.url}/api/items/warm`);
      spare.pause();
      // Three failures in a row open each circuit (a few calls each, incl. the script re-load).
      await sampleLatency((i) => `${server.url}/api/items/${i}`, 6);
      const whenOpen = sent;
      const openedBy = performance.now();
      // Requests well inside the 1 s cool-down: not one command reaches the client.
      let quiet = 0;
      while (performance.now() - openedBy < 500) {
        expect((await fetch(`${server.url}/api/items/q${quiet}`)).status).toBe(200);
        quiet++;
      }
      expect(quiet).toBeGreaterThan(5);
      expect(sent).toBe(whenOpen);
      await new Promise((r) => setTimeout(r, 600));
      await sampleLatency((i) => `${server.url}/api/items/p${i}`, 10);
      // After the cool-down each circuit lets one probe through (a few commands at most).
      expect(sent - whenOpen).toBeGreaterThan(0);
      expect(sent - whenOpen).toBeLessThanOrEqual(6);
    } finally {
      spare.resume();
      await server.close();
    }
  });
});

describe('a black-hole TCP server as Redis (connects, never answers)', () => {
  let hole: BlackHole;
  beforeAll(async () => {
    hole = await startBlackHole();
  });
  afterAll(async () => {
    await hole.close();
  });

  it('requests pay the short store timeout a few times, then nothing; the limiter fails open', async () => {
    const express = (await import('express')).default as unknown as ExpressFactory;
    const client = makeClient(hole.url);
    // connect() would wait forever for the handshake answer; the app must not await it.
    void client.connect().catch(() => undefined);
    const { app } = api(express, client);
    const server = await listen(app);
    try {
      const during = await sampleLatency((i) => `${server.url}/api/items/${i}`, 40);
      expect(hole.accepted).toBeGreaterThan(0);
      expect(during.statuses.every((s) => s === 200)).toBe(true);
      expect(during.median).toBeLessThan(50);
      expect(during.max).toBeLessThan(500);
      // Before the circuits open, at most a few requests pay up to both 100 ms timeouts.
      expect(during.durations.filter((ms) => ms >= 90).length).toBeLessThanOrEqual(6);
    } finally {
      await server.close();
      client.destroy();
    }
  });
});
