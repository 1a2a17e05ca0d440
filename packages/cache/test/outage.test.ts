import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  compileToPrivateDir,
  describeEachExpress,
  type ExpressFactory,
  listen,
  type SpareRedis,
  sampleLatency,
  serviceAvailable,
  startSpareRedis,
} from '../../../test/helpers/index.js';
import {
  type Cache,
  cacheResponse,
  createCache,
  memoryStore,
  redisStore,
  type TieredStore,
  tieredStore,
} from '../src/index.js';
import { uniquePrefix } from './helpers.js';

const redisUp = await serviceAvailable('redis');

const makeClient = (url: string) => createClient({ url });
type Client = ReturnType<typeof makeClient>;

/** A node-redis client as an app creates it: offline queue on, default reconnects. */
async function appClient(url: string): Promise<Client> {
  const client = makeClient(url);
  client.on('error', () => undefined); // the app's own listener; the subscriber gets none
  await client.connect();
  return client;
}

/** A tiered cache whose subscriber is a plain `client.duplicate()`: no listener, not connected. */
function tieredCache(client: Client, name: string): Cache {
  return createCache({
    name,
    store: tieredStore(
      memoryStore(),
      redisStore({ client, prefix: uniquePrefix(name) }),
      // The store adds its 'error' listener, then connects it.
      { subscriber: client.duplicate() },
    ),
  });
}

function l1Hits(cache: Cache): number {
  return cache.stats().tiers.find((t) => t.tier === 'l1')?.hits ?? 0;
}

async function appWith(express: ExpressFactory, cache: Cache) {
  const app = express();
  let loads = 0;
  app.get('/items/:id', cacheResponse({ cache, ttl: 60_000 }), (req, res) => {
    loads++;
    res.json({ id: req.params.id });
  });
  const server = await listen(app);
  return { server, loads: () => loads };
}

describe.skipIf(!redisUp)('cache during a Redis outage (private redis-server)', () => {
  let spare: SpareRedis;
  beforeAll(async () => {
    spare = await startSpareRedis();
  });
  afterEach(async () => {
    // A test that failed mid-outage must not leave the next one without Redis.
    spare.resume();
    await spare.stop();
    await spare.start();
  });
  afterAll(async () => {
    await spare?.stop();
  });

  describeEachExpress('cacheResponse over a tiered store', (express) => {
    it('kill -9: every request still answers, fast; restart: the circuit closes and L1 serves again', async () => {
      const client = await appClient(spare.url);
      const cache = tieredCache(client, 'outage');
      await cache.ready();
      const { server } = await appWith(express, cache);
      try {
        for (const id of ['a', 'b', 'a', 'b'])
          expect((await fetch(`${server.url}/items/${id}`)).status).toBe(200);
        expect(l1Hits(cache)).toBeGreaterThan(0);

        await spare.stop();
        // New keys each time: every request goes to Redis first (L1 has none of them).
        const during = await sampleLatency((i) => `${server.url}/items/down-${i}`, 60);
        expect(during.statuses.every((s) => s === 200)).toBe(true);
        // Before: 500 ms command timeout, then node-redis queued commands offline.
        expect(during.median).toBeLessThan(50);
        expect(during.max).toBeLessThan(500);
        expect(cache.stats().degraded).toBe(true);
        expect((await cache.healthCheck()()).status).toBe('warn');

        await spare.start();
        const back = performance.now();
        await vi.waitFor(
          async () => {
            expect((await cache.healthCheck()()).status).toBe('pass');
            const before = l1Hits(cache);
            await fetch(`${server.url}/items/after`);
            await fetch(`${server.url}/items/after`);
            expect(l1Hits(cache)).toBeGreaterThan(before);
          },
          { timeout: 8000, interval: 100 },
        );
        const recoveryMs = performance.now() - back;
        expect(recoveryMs).toBeLessThan(8000);
      } finally {
        await server.close();
        await cache.close();
        client.destroy();
      }
    });
  });

  it('black hole (SIGSTOP): requests pay the short command timeout a few times, then none', async () => {
    const express = (await import('express')).default as unknown as ExpressFactory;
    const client = await appClient(spare.url);
    const cache = tieredCache(client, 'blackhole');
    await cache.ready();
    const { server } = await appWith(express, cache);
    try {
      expect((await fetch(`${server.url}/items/warm`)).status).toBe(200);
      spare.pause();
      const during = await sampleLatency((i) => `${server.url}/items/hole-${i}`, 60);
      expect(during.statuses.every((s) => s === 200)).toBe(true);
      expect(during.median).toBeLessThan(50);
      expect(during.max).toBeLessThan(500);
      const check = cache.healthCheck();
      const started = performance.now();
      expect((await check()).status).toBe('warn');
      expect(performance.now() - started).toBeLessThan(200);
      spare.resume();
      await vi.waitFor(async () => expect((await check()).status).toBe('pass'), {
        timeout: 8000,
        interval: 100,
      });
    } finally {
      await server.close();
      await cache.close();
      client.destroy();
    }
  });

  it('Redis down at startup: loaders answer, and once Redis is up the store subscribes and uses L1', async () => {
    await spare.stop();
    const client = createClient({ url: spare.url, disableOfflineQueue: true });
    client.on('error', () => undefined);
    void client.connect().catch(() => undefined); // not awaited: it would wait for Redis
    const cache = tieredCache(client, 'cold-start');
    const store = cache.store as TieredStore;
    try {
      expect(await cache.getOrSet('k', () => 'from-loader')).toBe('from-loader');
      expect(store.subscribed).toBe(false);
      expect((await cache.healthCheck()()).status).toBe('warn');
      await spare.start();
      await vi.waitFor(() => expect(store.subscribed).toBe(true), { timeout: 8000, interval: 50 });
      await vi.waitFor(
        async () => {
          await cache.set('warm', 'v');
          const before = l1Hits(cache);
          expect(await cache.get('warm')).toBe('v');
          expect(l1Hits(cache)).toBe(before + 1);
        },
        { timeout: 8000, interval: 100 },
      );
    } finally {
      await cache.close();
      client.destroy();
    }
  });

  it('a subscriber whose reconnect strategy gives up is reconnected by the store', async () => {
    const client = await appClient(spare.url);
    const other = await appClient(spare.url);
    const prefix = uniquePrefix('terminated');
    const make = (c: Client, subscriber: Client) =>
      createCache({
        name: 'terminated',
        store: tieredStore(memoryStore(), redisStore({ client: c, prefix }), { subscriber }),
      });
    const a = make(client, client.duplicate({ socket: { reconnectStrategy: false } }));
    const b = make(other, other.duplicate());
    try {
      await Promise.all([a.ready(), b.ready()]);
      await spare.stop();
      await spare.start();
      await vi.waitFor(
        async () => {
          expect((await a.healthCheck()()).status).toBe('pass');
          expect((await b.healthCheck()()).status).toBe('pass');
        },
        { timeout: 8000, interval: 100 },
      );
      // a's subscription is back: b's write invalidates a's L1 copy.
      await a.set('k', 'v1');
      await vi.waitFor(async () => expect(await a.get('k')).toBe('v1'));
      expect(await a.get('k')).toBe('v1');
      await b.set('k', 'v2');
      await vi.waitFor(async () => expect(await a.get('k')).toBe('v2'), {
        timeout: 5000,
        interval: 50,
      });
    } finally {
      await Promise.all([a.close(), b.close()]);
      client.destroy();
      other.destroy();
    }
  });
});

describe.skipIf(!redisUp)(
  'the process survives kill -9 of Redis (tiered subscriber, own process)',
  () => {
    const packageDir = fileURLToPath(new URL('..', import.meta.url));
    let spare: SpareRedis;
    let build: string;
    beforeAll(async () => {
      [spare, build] = await Promise.all([
        startSpareRedis(),
        compileToPrivateDir(packageDir, 'cache-outage'),
      ]);
    });
    afterAll(async () => {
      await spare?.stop();
      if (build) await rm(build, { recursive: true, force: true });
    });

    // 'factory' is the wiring that crashed in production ("Socket closed unexpectedly" ~16 ms
    // after the kill): a duplicate connected by the app, with no 'error' listener of its own.
    for (const mode of ['duplicate', 'factory'] as const) {
      it(`subscriber from ${mode === 'duplicate' ? 'client.duplicate()' : 'a factory that connects it'}: no crash, and it resubscribes`, async () => {
        const child: ChildProcess = fork(
          join(packageDir, 'test', 'fixtures', 'outage-app.mjs'),
          [join(build, 'index.js'), spare.url, mode],
          { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], cwd: packageDir },
        );
        let stderr = '';
        child.stderr?.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
        });
        const exited = once(child, 'exit');
        const ask = async () => {
          child.send('probe');
          const [reply] = (await once(child, 'message')) as [
            { subscribed: boolean; health: string },
          ];
          return reply;
        };
        try {
          await once(child, 'message'); // ready
          await spare.stop();
          await new Promise((r) => setTimeout(r, 500));
          expect(child.exitCode, stderr).toBeNull();
          expect(stderr).not.toMatch(/Unhandled 'error' event|Socket closed unexpectedly/);
          expect((await ask()).health).toBe('warn');
          await spare.start();
          await vi.waitFor(
            async () => expect(await ask()).toEqual({ subscribed: true, health: 'pass' }),
            { timeout: 8000, interval: 100 },
          );
          child.send('exit');
          const [code] = await exited;
          expect(code, stderr).toBe(0);
        } finally {
          if (child.exitCode === null) child.kill('SIGKILL');
        }
      });
    }
  },
);
