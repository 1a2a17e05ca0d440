import type { Request } from 'express';
import { Registry } from 'prom-client';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  describeEachExpress,
  type ExpressFactory,
  listen,
  REDIS_URL,
  serviceAvailable,
  startSpareRedis,
} from '../../../test/helpers/index.js';
import { type IpFilterMiddleware, type IpFilterOptions, ipFilter } from '../src/ip-filter.js';
import { memoryIpStore, redisIpStore } from '../src/ip-store.js';
import { rateLimit } from '../src/rate-limit.js';
import { captureLogger, send, uniquePrefix } from './helpers/http.js';

const redisUp = await serviceAvailable('redis');

function filteredApp(express: ExpressFactory, options: IpFilterOptions, withLimiter?: number) {
  const app = express();
  app.set('trust proxy', 'loopback');
  const filter = ipFilter(options);
  app.use(filter);
  const limiter =
    withLimiter === undefined ? undefined : rateLimit({ limit: withLimiter, ipFilter: filter });
  if (limiter) app.use(limiter);
  app.use((req: Request, res) => {
    res.json({ ip: req.ip });
  });
  return { app, filter, limiter };
}

const from = (url: string, ip: string) => send(url, { headers: { 'x-forwarded-for': ip } });

describeEachExpress('ipFilter', (express) => {
  it('denies listed IPv4, IPv6 and CIDR entries with 403 problem+json and an ip_blocked event', async () => {
    const logger = captureLogger();
    const registry = new Registry();
    const { app } = filteredApp(express, {
      deny: ['203.0.113.5', '198.51.100.0/24', '2001:db8:bad::/48', '::ffff:192.0.2.9'],
      logger,
      registry,
    });
    const server = await listen(app);
    try {
      const denied = await from(server.url, '198.51.100.77');
      expect(denied.status).toBe(403);
      expect(denied.headers['content-type']).toBe('application/problem+json; charset=utf-8');
      expect(denied.json()).toMatchObject({ status: 403, code: 'IP_BLOCKED', title: 'Forbidden' });
      expect((await from(server.url, '203.0.113.5')).status).toBe(403);
      expect((await from(server.url, '::ffff:203.0.113.5')).status).toBe(403);
      expect((await from(server.url, '192.0.2.9')).status).toBe(403);
      expect((await from(server.url, '2001:db8:bad:ffff::1')).status).toBe(403);
      expect((await from(server.url, '2001:db8:bae::1')).status).toBe(200);
      expect((await from(server.url, '203.0.113.6')).status).toBe(200);
      expect((await from(server.url, '198.51.101.1')).status).toBe(200);
      expect((await from(server.url, '198.51.100.77')).status).toBe(403);
      // repeats (this one, and ::ffff:203.0.113.5 = 203.0.113.5) are counted but not logged
      // again: one event per address and reason per minute
      expect(logger.entries.filter((e) => e.message === 'ip_blocked')).toHaveLength(4);
      const event = logger.entries.find((e) => e.message === 'ip_blocked');
      expect(event?.meta).toMatchObject({ ip: '198.51.100.77', reason: 'deny-list' });
      const metric = await registry.getSingleMetric('shipshape_security_ip_blocked_total')?.get();
      expect(metric?.values).toEqual([{ value: 6, labels: { reason: 'deny-list' } }]);
    } finally {
      await server.close();
    }
  });

  it('serves only allow-listed addresses when an allow list is set', async () => {
    const { app } = filteredApp(express, { allow: ['10.0.0.0/8', '2001:db8::/32'] });
    const server = await listen(app);
    try {
      expect((await from(server.url, '10.1.2.3')).status).toBe(200);
      expect((await from(server.url, '2001:db8:1::1')).status).toBe(200);
      const refused = await from(server.url, '11.0.0.1');
      expect(refused.status).toBe(403);
      expect(refused.json().code).toBe('IP_NOT_ALLOWED');
      // Verdicts are remembered per address: repeats answer the same, and neighbours their own.
      for (let i = 0; i < 3; i++) {
        expect((await from(server.url, '11.0.0.1')).status).toBe(403);
        expect((await from(server.url, '10.1.2.3')).status).toBe(200);
        expect((await from(server.url, '11.0.0.2')).status).toBe(403);
        expect((await from(server.url, '10.1.2.4')).status).toBe(200);
      }
    } finally {
      await server.close();
    }
  });

  it('auto-blocks after N rate-limit hits, with Retry-After, and unblocks on request', async () => {
    const logger = captureLogger();
    const { app, filter, limiter } = filteredApp(
      express,
      { autoBlock: { hits: 2, windowMs: 60_000, blockMs: 120_000 }, logger },
      1,
    );
    const server = await listen(app);
    try {
      const codes: number[] = [];
      for (let i = 0; i < 4; i++) codes.push((await from(server.url, '198.51.100.40')).status);
      // 1 ok, 2 limited (2nd limited request reaches the threshold), then blocked
      expect(codes).toEqual([200, 429, 429, 403]);
      const blocked = await from(server.url, '198.51.100.40');
      expect(blocked.json().code).toBe('IP_BLOCKED');
      const retry = Number(blocked.headers['retry-after']);
      expect(retry).toBeGreaterThan(100);
      expect(retry).toBeLessThanOrEqual(120);
      expect((await filter.isBlocked('198.51.100.40'))?.reason).toBe('auto-block');
      expect(logger.entries.some((e) => e.message === 'ip_auto_blocked')).toBe(true);
      // another client is unaffected
      expect((await from(server.url, '198.51.100.41')).status).toBe(200);
      expect(await filter.unblock('198.51.100.40')).toBe(true);
      expect(await filter.unblock('198.51.100.40')).toBe(false);
      expect((await from(server.url, '198.51.100.40')).status).toBe(429);
    } finally {
      await server.close();
      await limiter?.close();
      await filter.close();
    }
  });

  it('blocks IPv6 clients by /56 and accepts manual blocks of an address or prefix', async () => {
    const { app, filter } = filteredApp(express, {});
    const server = await listen(app);
    try {
      await filter.block('2001:db8:1:ab00::1', 60_000);
      expect(filter.keyFor('2001:db8:1:abff::9')).toBe('2001:db8:1:ab00::/56');
      expect((await from(server.url, '2001:db8:1:abff:1::2')).status).toBe(403);
      expect((await from(server.url, '2001:db8:1:ac00::1')).status).toBe(200);
      await filter.block('192.0.2.1', 60_000, 'abuse report');
      const r = await from(server.url, '::ffff:192.0.2.1');
      expect(r.status).toBe(403);
      expect((await filter.isBlocked('192.0.2.1'))?.reason).toBe('abuse report');
      expect(await filter.unblock('2001:db8:1:ab00::/56')).toBe(true);
      expect((await from(server.url, '2001:db8:1:abff:1::2')).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('honours onStoreError when the block store fails', async () => {
    const broken = {
      ...memoryIpStore(),
      blocked: () => Promise.reject(new Error('store down')),
    };
    const logger = captureLogger();
    const allow = filteredApp(express, { store: broken, onStoreError: 'allow', logger });
    const deny = filteredApp(express, { store: broken, onStoreError: 'deny', logger });
    const sa = await listen(allow.app);
    const sd = await listen(deny.app);
    try {
      expect((await send(sa.url)).status).toBe(200);
      const r = await send(sd.url);
      expect(r.status).toBe(503);
      expect(r.json().code).toBe('IP_STORE_UNAVAILABLE');
      expect(
        logger.entries.filter((e) => e.meta?.code === 'SHIPSHAPE_SECURITY_STORE_ERROR'),
      ).toHaveLength(2);
    } finally {
      await sa.close();
      await sd.close();
    }
  });
});

describe('ipFilter options', () => {
  it('rejects malformed entries and options with a clear message', () => {
    expect(() => ipFilter({ deny: ['10.0.0.0/33'] })).toThrow(
      /^@shipshape\/security: ipFilter "deny" entries are IPv4\/IPv6 addresses or CIDRs.*got "10.0.0.0\/33"/,
    );
    expect(() => ipFilter({ allow: ['not-an-ip'] })).toThrow(/"allow" entries.*"not-an-ip"/);
    expect(() => ipFilter({ deny: '10.0.0.1' as never })).toThrow(/"deny" must be an array/);
    expect(() => ipFilter({ autoBlock: { hits: 0 } })).toThrow(
      /"autoBlock.hits" must be a positive integer, got 0/,
    );
    expect(() => ipFilter({ store: {} as never })).toThrow(
      /"store" must be 'memory' or an IpBlockStore/,
    );
    const filter = ipFilter();
    expect(() => filter.keyFor('999.1.1.1')).toThrow(/"ip" must be an IP address/);
  });
});

describe.skipIf(!redisUp)('ipFilter with redisIpStore (real Redis)', () => {
  const client = createClient({ url: REDIS_URL });
  const prefix = uniquePrefix('ip');
  let a: IpFilterMiddleware;
  let b: IpFilterMiddleware;
  beforeAll(async () => {
    client.on('error', () => undefined);
    await client.connect();
  });
  afterAll(async () => {
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(keys);
    client.destroy();
  });

  describeEachExpress('shared blocks', (express, version) => {
    it('an auto-block triggered through one instance is enforced by another; unblock clears both', async () => {
      const p = `${prefix}${version.major}:`;
      const one = filteredApp(
        express,
        { store: redisIpStore(client, { prefix: p }), autoBlock: { hits: 2, blockMs: 30_000 } },
        1,
      );
      const two = filteredApp(express, {
        store: redisIpStore(client, { prefix: p }),
        autoBlock: { hits: 2, blockMs: 30_000 },
      });
      a = one.filter;
      b = two.filter;
      const s1 = await listen(one.app);
      const s2 = await listen(two.app);
      try {
        expect((await from(s2.url, '198.51.100.90')).status).toBe(200);
        const codes: number[] = [];
        for (let i = 0; i < 3; i++) codes.push((await from(s1.url, '198.51.100.90')).status);
        expect(codes).toEqual([200, 429, 429]);
        // rateLimit sends the 429 first and records the hit after it (two Redis round trips), so
        // the block lands a moment later: wait for it to be visible through the other instance.
        await vi.waitFor(async () => expect(await b.isBlocked('198.51.100.90')).toBeDefined(), {
          timeout: 2_000,
          interval: 10,
        });
        const blockedElsewhere = await from(s2.url, '198.51.100.90');
        expect(blockedElsewhere.status).toBe(403);
        expect(Number(blockedElsewhere.headers['retry-after'])).toBeGreaterThan(20);
        const raw = await client.get(`${p}block:198.51.100.90`);
        expect(JSON.parse(String(raw))).toMatchObject({ reason: 'auto-block' });
        const ttl = await client.pTTL(`${p}block:198.51.100.90`);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(30_000);
        expect(await b.unblock('198.51.100.90')).toBe(true);
        expect((await from(s1.url, '198.51.100.90')).status).toBe(429);
        expect((await from(s2.url, '198.51.100.90')).status).toBe(200);
        await a.block('2001:db8:77:100::1', 10_000, 'manual');
        expect((await from(s2.url, '2001:db8:77:1ff::5')).status).toBe(403);
        expect(await client.exists(`${p}block:2001:db8:77:100::/56`)).toBe(1);
      } finally {
        await s1.close();
        await s2.close();
        await one.limiter?.close();
      }
    });
  });
});

describe.skipIf(!redisUp)(
  'ipFilter store faults (private redis-server, stopped and restarted)',
  () => {
    it("'allow' serves and 'deny' answers 503 while Redis is down; blocks work again after a restart", async () => {
      const spare = await startSpareRedis();
      const client = createClient({
        url: spare.url,
        disableOfflineQueue: true,
        socket: { reconnectStrategy: () => 50, connectTimeout: 500 },
      });
      client.on('error', () => undefined);
      await client.connect();
      const express = (await import('express')).default as unknown as ExpressFactory;
      const store = redisIpStore(client, { prefix: 'fault:' });
      const allow = filteredApp(express, {
        store,
        onStoreError: 'allow',
        storeTimeoutMs: 300,
        storeCooldownMs: 200,
        warnings: false,
      });
      const deny = filteredApp(express, {
        store,
        onStoreError: 'deny',
        storeTimeoutMs: 300,
        storeCooldownMs: 200,
        warnings: false,
      });
      const sa = await listen(allow.app);
      const sd = await listen(deny.app);
      try {
        await allow.filter.block('198.51.100.200', 60_000);
        expect((await from(sa.url, '198.51.100.200')).status).toBe(403);
        await spare.stop();
        expect((await from(sa.url, '198.51.100.200')).status).toBe(200);
        const down = await from(sd.url, '198.51.100.201');
        expect(down.status).toBe(503);
        expect(down.json().code).toBe('IP_STORE_UNAVAILABLE');
        await expect(allow.filter.block('198.51.100.202', 60_000)).rejects.toThrow();
        await spare.start();
        const deadline = Date.now() + 10_000;
        while (!client.isReady && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 50));
        expect(client.isReady).toBe(true);
        // redis-server restarted without persistence: earlier blocks are gone, new ones apply.
        // An explicit block() is tried even while a circuit is still open, and closes it.
        await deny.filter.block('198.51.100.200', 60_000);
        expect((await from(sd.url, '198.51.100.200')).status).toBe(403);
        await deny.filter.unblock('198.51.100.200');
        expect((await from(sd.url, '198.51.100.200')).status).toBe(200);
        // The other filter's circuit closes with its next probe (cool-down 200 ms here).
        await allow.filter.block('198.51.100.203', 60_000);
        await vi.waitFor(
          async () => expect((await from(sa.url, '198.51.100.203')).status).toBe(403),
          { timeout: 5000, interval: 50 },
        );
      } finally {
        await sa.close();
        await sd.close();
        client.destroy();
        await spare.stop();
      }
    });
  },
);
