import type { Request } from 'express';
import { MemoryStore } from 'express-rate-limit';
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
import { securityHeaders } from '../src/headers.js';
import {
  type RateLimitOptions,
  type RateLimitStore,
  rateLimit,
  redisRateLimitStore,
} from '../src/rate-limit.js';
import { captureLogger, send, uniquePrefix } from './helpers/http.js';

const redisUp = await serviceAvailable('redis');

function limitedApp(
  express: ExpressFactory,
  options: RateLimitOptions,
  trustProxy: unknown = false,
) {
  const app = express();
  app.set('trust proxy', trustProxy);
  const limiter = rateLimit(options);
  app.use(limiter);
  app.use((req: Request, res) => {
    res.json({ ip: req.ip });
  });
  return { app, limiter };
}

async function statuses(
  url: string,
  n: number,
  headers: Record<string, string> = {},
): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await send(url, { headers })).status);
  return out;
}

describeEachExpress('rateLimit (memory)', (express) => {
  it('allows `limit` requests, then answers 429 problem+json with Retry-After and draft-8 headers', async () => {
    const logger = captureLogger();
    const registry = new Registry();
    const { app, limiter } = limitedApp(express, {
      limit: 3,
      windowMs: 60_000,
      name: 'login',
      logger,
      registry,
    });
    const server = await listen(app);
    try {
      const first = await send(`${server.url}/x`);
      expect(first.status).toBe(200);
      expect(first.headers.ratelimit).toBe('"login"; r=2; t=60');
      expect(first.headers['ratelimit-policy']).toMatch(
        /^"login"; q=3; w=60; pk=:[A-Za-z0-9+/=]+:$/,
      );
      expect(await statuses(`${server.url}/x`, 2)).toEqual([200, 200]);
      const limited = await send(`${server.url}/x?secret=1`);
      expect(limited.status).toBe(429);
      expect(limited.headers['content-type']).toBe('application/problem+json; charset=utf-8');
      const retryAfter = Number(limited.headers['retry-after']);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(limited.json()).toMatchObject({
        type: 'about:blank',
        status: 429,
        title: 'Too Many Requests',
        code: 'RATE_LIMITED',
        instance: '/x',
      });
      expect(limited.headers.ratelimit).toMatch(/^"login"; r=0; t=\d+$/);
      const events = logger.entries.filter(
        (e) => e.level === 'security' && e.message === 'rate_limited',
      );
      expect(events).toHaveLength(1);
      expect(events[0]?.meta).toMatchObject({
        limiter: 'login',
        ip: '127.0.0.1',
        path: '/x',
        limit: 3,
      });
      const metric = await registry.getSingleMetric('shipshape_security_rate_limited_total')?.get();
      expect(metric?.values).toEqual([{ value: 1, labels: { limiter: 'login' } }]);
      await limiter.resetKey('127.0.0.1');
      expect((await send(`${server.url}/x`)).status).toBe(200);
      expect(logger.entries.filter((e) => e.level === 'error' || e.level === 'warn')).toEqual([]);
    } finally {
      await server.close();
      await limiter.close();
    }
  });

  it('falls back to logger.warn for the event when the logger has no security channel', async () => {
    const logger = captureLogger(false);
    const { app, limiter } = limitedApp(express, { limit: 1, logger });
    const server = await listen(app);
    try {
      expect(await statuses(server.url, 2)).toEqual([200, 429]);
      expect(logger.entries).toContainEqual(
        expect.objectContaining({
          level: 'warn',
          message: 'rate_limited',
          meta: expect.objectContaining({ event: 'rate_limited' }),
        }),
      );
    } finally {
      await server.close();
      await limiter.close();
    }
  });

  it('never limits probe routes, but does limit look-alike paths', async () => {
    const { app, limiter } = limitedApp(express, { limit: 1 });
    const server = await listen(app);
    try {
      for (const path of ['/health', '/health/ready', '/healthz', '/livez', '/readyz', '/metrics'])
        expect(await statuses(`${server.url}${path}`, 3), path).toEqual([200, 200, 200]);
      expect(await statuses(`${server.url}/healthcheck-admin`, 2)).toEqual([200, 429]);
    } finally {
      await server.close();
      await limiter.close();
    }
  });

  it('ignores spoofed X-Forwarded-For when no proxy is trusted, and warns once', async () => {
    const logger = captureLogger();
    const { app, limiter } = limitedApp(express, { limit: 2, logger });
    const server = await listen(app);
    try {
      const codes: number[] = [];
      for (let i = 1; i <= 4; i++)
        codes.push(
          (await send(server.url, { headers: { 'x-forwarded-for': `198.51.100.${i}` } })).status,
        );
      expect(codes).toEqual([200, 200, 429, 429]);
      const warnings = logger.entries.filter(
        (e) => e.meta?.code === 'SHIPSHAPE_SECURITY_XFF_UNTRUSTED',
      );
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.message).toMatch(/hop count.*loopback.*CIDR/s);
    } finally {
      await server.close();
      await limiter.close();
    }
  });

  it('with one trusted hop, keys on the address the proxy appended, not on client-supplied entries', async () => {
    const { app, limiter } = limitedApp(express, { limit: 2 }, 1);
    const server = await listen(app);
    try {
      const codes: number[] = [];
      for (let i = 1; i <= 3; i++)
        codes.push(
          (await send(server.url, { headers: { 'x-forwarded-for': `10.0.0.${i}, 198.51.100.20` } }))
            .status,
        );
      expect(codes).toEqual([200, 200, 429]);
      expect(
        (await send(server.url, { headers: { 'x-forwarded-for': '198.51.100.21' } })).status,
      ).toBe(200);
    } finally {
      await server.close();
      await limiter.close();
    }
  });

  it('puts IPv6 addresses of one /56 in one bucket and each ::ffff:a.b.c.d in its IPv4 bucket', async () => {
    const { app, limiter } = limitedApp(express, { limit: 2 }, 'loopback');
    const server = await listen(app);
    const from = (ip: string) =>
      send(server.url, { headers: { 'x-forwarded-for': ip } }).then((r) => r.status);
    try {
      expect(await from('2001:db8:abcd:1200::1')).toBe(200);
      expect(await from('2001:db8:abcd:12ff:ffff:ffff:ffff:fffe')).toBe(200);
      expect(await from('2001:db8:abcd:1234::99')).toBe(429);
      expect(await from('2001:db8:abcd:1300::1')).toBe(200);
      expect(await from('::ffff:198.51.100.7')).toBe(200);
      expect(await from('198.51.100.7')).toBe(200);
      expect(await from('::ffff:198.51.100.7')).toBe(429);
      expect(await from('::ffff:198.51.100.8')).toBe(200);
    } finally {
      await server.close();
      await limiter.close();
    }
  });

  it('refuses trust proxy = true at request time (500) and at factory time when given the app', async () => {
    const logger = captureLogger();
    const { app, limiter } = limitedApp(express, { limit: 5, logger }, true);
    const server = await listen(app);
    try {
      const reply = await send(server.url, { headers: { 'x-forwarded-for': '1.2.3.4' } });
      expect(reply.status).toBe(500);
      expect(reply.json().code).toBe('TRUST_PROXY_ALL');
      expect(reply.text).not.toContain('trust proxy');
      expect(logger.entries).toContainEqual(
        expect.objectContaining({
          level: 'error',
          message: expect.stringMatching(/'trust proxy', true\).*hop count.*'loopback'.*CIDR/s),
        }),
      );
    } finally {
      await server.close();
      await limiter.close();
    }
    const app2 = express();
    app2.set('trust proxy', true);
    expect(() => rateLimit({ app: app2 })).toThrow(
      /^@shipshape\/security: app.set\('trust proxy', true\)/,
    );
  });

  it('feeds each limited client IP to an ipFilter-like sink; logs one event per client per minute', async () => {
    const seen: string[] = [];
    const logger = captureLogger();
    const registry = new Registry();
    const { app, limiter } = limitedApp(express, {
      limit: 1,
      logger,
      registry,
      ipFilter: { recordLimitHit: (ip) => seen.push(ip) },
    });
    const server = await listen(app);
    try {
      expect(await statuses(server.url, 3)).toEqual([200, 429, 429]);
      expect(seen).toEqual(['127.0.0.1', '127.0.0.1']);
      expect(logger.entries.filter((e) => e.message === 'rate_limited')).toHaveLength(1);
      const metric = await registry.getSingleMetric('shipshape_security_rate_limited_total')?.get();
      expect(metric?.values[0]?.value).toBe(2);
    } finally {
      await server.close();
      await limiter.close();
    }
  });

  it('keeps the security headers on its 429', async () => {
    const app = express();
    app.use(securityHeaders({ production: false }));
    const limiter = rateLimit({ limit: 1 });
    app.use(limiter);
    app.use((_req, res) => {
      res.json({});
    });
    const server = await listen(app);
    try {
      await send(server.url);
      const limited = await send(server.url);
      expect(limited.status).toBe(429);
      expect(limited.headers['x-content-type-options']).toBe('nosniff');
      expect(limited.headers['cache-control']).toBe('no-store');
    } finally {
      await server.close();
      await limiter.close();
    }
  });
});

describe('rateLimit options', () => {
  it('has presets api (100/min) and strict (10/min) with overridable numbers', async () => {
    const api = rateLimit.api();
    const strict = rateLimit.strict();
    const custom = rateLimit.strict({ limit: 3, windowMs: 5000 });
    expect([api.limit, api.windowMs]).toEqual([100, 60_000]);
    expect([strict.limit, strict.windowMs]).toEqual([10, 60_000]);
    expect([custom.limit, custom.windowMs]).toEqual([3, 5000]);
    await Promise.all([api.close(), strict.close(), custom.close()]);
  });

  it('rejects bad options with the option name and value', () => {
    expect(() => rateLimit({ limit: 'abc' as never })).toThrow(
      '@shipshape/security: rateLimit "limit" must be a positive integer, got "abc"',
    );
    expect(() => rateLimit({ limit: 0 })).toThrow(/"limit" must be a positive integer, got 0/);
    expect(() => rateLimit({ windowMs: -5 })).toThrow(/"windowMs"/);
    expect(() => rateLimit({ onStoreError: 'maybe' as never })).toThrow(
      /"onStoreError" must be 'allow' or 'deny', got "maybe"/,
    );
    expect(() => rateLimit({ store: {} as never })).toThrow(/"store" must be 'memory' or a Store/);
    expect(() => rateLimit({ ipv6Subnet: 200 })).toThrow(/"ipv6Subnet"/);
    expect(() => rateLimit({ name: 'has space' })).toThrow(/"name"/);
    expect(() => redisRateLimitStore({} as never)).toThrow(
      /redisRateLimitStore needs a client with sendCommand/,
    );
  });

  it('warns in production when onStoreError is not set for a store that can fail, never for the memory store', async () => {
    // A store that talks to a service: no localKeys (as rate-limit-redis, or any network store).
    const networkStore = (): RateLimitStore => ({
      increment: async () => ({ totalHits: 1, resetTime: new Date(Date.now() + 60_000) }),
      decrement: async () => undefined,
      resetKey: async () => undefined,
    });
    const policyWarnings = (logger: ReturnType<typeof captureLogger>) =>
      logger.entries.filter((e) => e.meta?.code === 'SHIPSHAPE_SECURITY_STORE_ERROR_POLICY');

    const network = captureLogger();
    const a = rateLimit({ production: true, logger: network, store: networkStore() });
    const b = rateLimit({
      production: true,
      logger: network,
      store: networkStore(),
      onStoreError: 'deny',
    });
    const c = rateLimit({ production: false, logger: network, store: networkStore() });
    expect(policyWarnings(network)).toHaveLength(1);
    expect(policyWarnings(network)[0]?.message).toMatch(/has no "onStoreError"/);

    // Stores that cannot fail: the default memory store, express-rate-limit's MemoryStore.
    const local = captureLogger();
    const d = rateLimit({ production: true, logger: local });
    const e = rateLimit({ production: true, logger: local, store: 'memory' });
    const f = rateLimit({ production: true, logger: local, store: new MemoryStore() });
    expect(policyWarnings(local)).toEqual([]);

    const quiet = captureLogger();
    const g = rateLimit({
      production: true,
      logger: quiet,
      store: networkStore(),
      warnings: ['SHIPSHAPE_SECURITY_STORE_ERROR_POLICY'],
    });
    expect(quiet.entries).toHaveLength(0);
    await Promise.all([a, b, c, d, e, f, g].map((limiter) => limiter.close()));
  });
});

describe.skipIf(!redisUp)('rateLimit with redisRateLimitStore (real Redis)', () => {
  const client = createClient({ url: REDIS_URL });
  const prefix = uniquePrefix('rl');
  beforeAll(async () => {
    client.on('error', () => undefined);
    await client.connect();
  });
  afterAll(async () => {
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(keys);
    client.destroy();
  });

  describeEachExpress('shared counters', (express, version) => {
    it('two app instances with one Redis prefix share one count per client', async () => {
      const p = `${prefix}${version.major}:`;
      const a = limitedApp(express, {
        limit: 3,
        store: redisRateLimitStore(client, { prefix: p }),
        onStoreError: 'deny',
      });
      const b = limitedApp(express, {
        limit: 3,
        store: redisRateLimitStore(client, { prefix: p }),
        onStoreError: 'deny',
      });
      const sa = await listen(a.app);
      const sb = await listen(b.app);
      try {
        const codes = [
          (await send(sa.url)).status,
          (await send(sb.url)).status,
          (await send(sa.url)).status,
          (await send(sb.url)).status,
          (await send(sa.url)).status,
        ];
        expect(codes).toEqual([200, 200, 200, 429, 429]);
        expect(await client.get(`${p}127.0.0.1`)).toBe('5');
        const ttl = await client.pTTL(`${p}127.0.0.1`);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(60_000);
        await a.limiter.resetKey('127.0.0.1');
        expect(await client.exists(`${p}127.0.0.1`)).toBe(0);
        expect((await send(sb.url)).status).toBe(200);
      } finally {
        await sa.close();
        await sb.close();
      }
    });
  });
});

describe('rateLimit store faults (private redis-server, stopped and restarted)', async () => {
  const canSpawn = redisUp;
  describe.skipIf(!canSpawn)('onStoreError', () => {
    it("'allow' passes requests while Redis is down, 'deny' answers 503, both recover; a limiter started while Redis was down recovers too", async () => {
      const spare = await startSpareRedis();
      const client = createClient({
        url: spare.url,
        disableOfflineQueue: true,
        socket: { reconnectStrategy: () => 50, connectTimeout: 500 },
      });
      client.on('error', () => undefined);
      await client.connect();
      const logger = captureLogger();
      const express = (await import('express')).default;
      const allow = limitedApp(express, {
        limit: 2,
        store: redisRateLimitStore(client, { prefix: 'allow:' }),
        onStoreError: 'allow',
        logger,
        storeTimeoutMs: 300,
        storeCooldownMs: 200,
      });
      const deny = limitedApp(express, {
        limit: 2,
        store: redisRateLimitStore(client, { prefix: 'deny:' }),
        onStoreError: 'deny',
        logger,
        storeTimeoutMs: 300,
        storeCooldownMs: 200,
      });
      const sa = await listen(allow.app);
      const sd = await listen(deny.app);
      try {
        expect(await statuses(sa.url, 3)).toEqual([200, 200, 429]);
        await spare.stop();
        expect(await statuses(sa.url, 3)).toEqual([200, 200, 200]);
        const down = await send(sd.url);
        expect(down.status).toBe(503);
        expect(down.json().code).toBe('RATE_LIMIT_STORE_UNAVAILABLE');
        const storeWarnings = logger.entries.filter(
          (e) => e.meta?.code === 'SHIPSHAPE_SECURITY_STORE_ERROR',
        );
        expect(storeWarnings.map((e) => e.meta?.policy).sort()).toEqual(['allow', 'deny']);
        // A limiter created while Redis is down: its script load failed at init.
        const late = limitedApp(express, {
          limit: 1,
          store: redisRateLimitStore(client, { prefix: 'late:' }),
          onStoreError: 'deny',
          storeTimeoutMs: 300,
          storeCooldownMs: 200,
        });
        const sl = await listen(late.app);
        try {
          expect((await send(sl.url)).status).toBe(503);
          await spare.start();
          // A restarted redis-server has lost its scripts and counts. Each limiter counts again
          // once its circuit has let a probe through (cool-down 200 ms here).
          const countsAgain = async (
            limiter: { resetKey(key: string): Promise<void> },
            url: string,
            expected: number[],
          ) =>
            vi.waitFor(
              async () => {
                await limiter.resetKey('127.0.0.1').catch(() => undefined);
                expect(await statuses(url, expected.length)).toEqual(expected);
              },
              { timeout: 10_000, interval: 100 },
            );
          await countsAgain(allow.limiter, sa.url, [200, 200, 429]);
          await countsAgain(deny.limiter, sd.url, [200, 200, 429]);
          await countsAgain(late.limiter, sl.url, [200, 429]);
        } finally {
          await sl.close();
        }
      } finally {
        await sa.close();
        await sd.close();
        client.destroy();
        await spare.stop();
      }
    });
  });
});
