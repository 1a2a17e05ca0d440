import { loadConfig, port, str, url } from '@shipshape/config';
import { createTestLogger } from '@shipshape/logger/testing';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import Transport from 'winston-transport';
import {
  describeEachExpress,
  type ExpressFactory,
  type SpareRedis,
  sampleLatency,
  serviceAvailable,
  startSpareRedis,
} from '../../../test/helpers/index.js';
import { type HardenedService, type HardenOptions, harden } from '../src/index.js';

const redisUp = await serviceAvailable('redis');

const makeClient = (url: string) => createClient({ url });
type Client = ReturnType<typeof makeClient>;

const lifecycle = {
  exit: false,
  signals: [],
  handleUncaughtException: false,
  unhandledRejection: 'off',
} as const;

interface Started {
  readonly service: HardenedService;
  readonly base: string;
  readonly test: ReturnType<typeof createTestLogger>;
}

async function start(
  express: ExpressFactory,
  options: HardenOptions,
  test = createTestLogger(),
): Promise<Started> {
  const app = express();
  const service = harden(app, {
    env: 'test',
    service: 'redis-test',
    logger: test.logger,
    lifecycle,
    ...options,
  });
  app.get('/api/items/:id', (req, res) => {
    res.json({ id: req.params.id });
  });
  const address = await service.listen(0, '127.0.0.1');
  return { service, base: `http://127.0.0.1:${address.port}`, test };
}

async function ready(base: string): Promise<{ ms: number; status: number; body: unknown }> {
  const started = performance.now();
  const res = await fetch(`${base}/health/ready`);
  const body = await res.json();
  return { ms: performance.now() - started, status: res.status, body };
}

describe.skipIf(!redisUp)('harden() with a Redis that fails (private redis-server)', () => {
  let spare: SpareRedis;
  const clients: Client[] = [];
  const services: HardenedService[] = [];
  beforeAll(async () => {
    spare = await startSpareRedis();
  });
  afterEach(async () => {
    await Promise.all(services.splice(0).map((s) => s.shutdown()));
    for (const client of clients.splice(0)) client.destroy();
    spare.resume();
    await spare.stop();
    await spare.start();
  });
  afterAll(async () => {
    await spare?.stop();
  });

  describeEachExpress('kill -9 of Redis under load', (express) => {
    it('no crash; requests and /health/ready stay fast with Redis degraded; one line each way', async () => {
      // As the example service created it: default options, connect() awaited while Redis is up.
      // No 'error' listener of the app's own: harden()'s keeps the process alive.
      const client = makeClient(spare.url);
      clients.push(client);
      await client.connect();
      const { service, base, test } = await start(express, {
        redis: client,
        rateLimit: { limit: 10_000, onStoreError: 'allow' },
      });
      services.push(service);
      expect((await ready(base)).body).toMatchObject({ checks: { redis: 'pass' } });
      const limited = await fetch(`${base}/api/items/1`);
      expect(limited.headers.get('ratelimit')).toMatch(/; r=\d+;/);

      await spare.stop();
      const during = await sampleLatency((i) => `${base}/api/items/${i}`, 60);
      expect(during.statuses.every((s) => s === 200)).toBe(true);
      // Before: ~2 s per request (the IP filter's and the limiter's 1 s store timeouts).
      expect(during.median).toBeLessThan(50);
      expect(during.max).toBeLessThan(500);

      // Probes over 1.8 s: past the health registry's 1 s result cache, so Redis is PINGed again.
      const probes = [];
      for (let i = 0; i < 12; i++) {
        probes.push(await ready(base));
        await new Promise((r) => setTimeout(r, 150));
      }
      const degraded = { status: 'warn', state: 'ready', checks: { redis: 'warn' } };
      expect(probes.every((probe) => probe.status === 200)).toBe(true);
      const firstWarn = probes.findIndex((p) => (p.body as { status: string }).status === 'warn');
      expect(firstWarn).toBeGreaterThanOrEqual(0);
      for (const probe of probes.slice(firstWarn)) expect(probe.body).toEqual(degraded);
      const probeMs = probes.map((p) => p.ms).sort((a, b) => a - b);
      // Requirement < 100 ms (Kubernetes probes time out at 1 s); before: ~2 s every other probe.
      expect(probeMs[Math.floor(probeMs.length / 2)]).toBeLessThan(50);
      expect(probeMs[probeMs.length - 1]).toBeLessThan(300);

      const lost = test.find({ code: 'SHIPSHAPE_UMBRELLA_REDIS_CONNECTION_LOST' });
      expect(lost).toHaveLength(1);
      expect(String(lost[0]?.message)).toMatch(/^shipshape: lost the Redis connection/);

      await spare.start();
      const back = performance.now();
      await vi.waitFor(
        async () => {
          expect((await ready(base)).body).toMatchObject({ status: 'pass' });
          // The limiter counts again (its circuit closed): the RateLimit header is back.
          const res = await fetch(`${base}/api/items/after`);
          expect(res.headers.get('ratelimit')).toMatch(/; r=\d+;/);
        },
        { timeout: 8000, interval: 100 },
      );
      expect(performance.now() - back).toBeLessThan(8000);
      expect(test.find({ message: 'shipshape: the Redis connection is back' })).toHaveLength(1);
    });
  });

  it('Redis down at startup: listen() does not hang and logs one line that it starts degraded', async () => {
    await spare.stop();
    const express = (await import('express')).default as unknown as ExpressFactory;
    const client = createClient({
      url: spare.url,
      disableOfflineQueue: true,
      socket: { connectTimeout: 1000, reconnectStrategy: () => 100 },
    });
    clients.push(client);
    client.on('error', () => undefined);
    void client.connect().catch(() => undefined); // as recommended: not awaited
    const began = performance.now();
    const { service, base, test } = await start(express, { redis: client });
    services.push(service);
    const startupMs = performance.now() - began;
    // Bounded by the 1 s startup PING window, not by Redis coming back.
    expect(startupMs).toBeLessThan(3000);
    const unreachable = test.find({ code: 'SHIPSHAPE_UMBRELLA_REDIS_UNREACHABLE' });
    expect(unreachable).toHaveLength(1);
    expect(String(unreachable[0]?.message)).toMatch(
      /^shipshape: Redis did not answer PING at startup \(.+\); starting degraded: rate limits and IP blocks follow their onStoreError policy/,
    );
    expect(test.find({ code: 'SHIPSHAPE_UMBRELLA_REDIS_CONNECTION_LOST' })).toHaveLength(0);
    expect(service.report.warnings.map((w) => w.code)).toContain(
      'SHIPSHAPE_UMBRELLA_REDIS_UNREACHABLE',
    );
    const report = test.find({ event: 'startup_report' });
    expect(report[0]?.warnings).toContain('SHIPSHAPE_UMBRELLA_REDIS_UNREACHABLE');
    expect((await fetch(`${base}/api/items/1`)).status).toBe(200);
    const probe = await ready(base);
    expect(probe.status).toBe(200);
    expect(probe.body).toMatchObject({ status: 'warn', checks: { redis: 'warn' } });

    await spare.start();
    await vi.waitFor(
      async () => expect((await ready(base)).body).toMatchObject({ status: 'pass' }),
      { timeout: 8000, interval: 100 },
    );
    await vi.waitFor(() =>
      expect(test.find({ message: 'shipshape: the Redis connection is back' })).toHaveLength(1),
    );
  });

  it('a client that was never connected is named as such, and listen() goes on', async () => {
    const express = (await import('express')).default as unknown as ExpressFactory;
    const client = makeClient(spare.url);
    clients.push(client);
    const { service, test } = await start(express, { redis: client });
    services.push(service);
    const [line] = test.find({ code: 'SHIPSHAPE_UMBRELLA_REDIS_UNREACHABLE' });
    expect(String(line?.message)).toContain('the client is not connected; call client.connect()');
  });
});

/** Keeps every line as a winston transport writes it (`info[MESSAGE]`), like a log file would. */
class Lines extends Transport {
  readonly lines: string[] = [];
  override log(info: Record<symbol, unknown>, next: () => void): void {
    this.lines.push(String(info[Symbol.for('message')]));
    next();
  }
}

describe('secrets inside URLs in what harden() shows', () => {
  const password = 'Sup3r-Secret-Redis-Pw';
  const config = loadConfig(
    {
      PORT: port({ default: 3000 }),
      REDIS_URL: url({ protocols: ['redis', 'rediss'] }),
      API_KEY: str({ secret: true }),
    },
    {
      env: {
        NODE_ENV: 'test',
        REDIS_URL: `redis://default:${password}@redis.internal:6379/0`,
        API_KEY: 'sk-live-abcdef123456',
      },
      files: false,
    },
  );

  it('the startup report, /health/detailed and log lines never show the Redis password', async () => {
    const { default: express } = await import('express');
    const sink = new Lines();
    const app = express();
    const service = harden(app, {
      env: 'test',
      config,
      logger: { console: false, level: 'info', format: 'json', transports: [sink] },
      lifecycle,
    });
    service.logger.info(`connecting to ${config.REDIS_URL}`);
    service.logger.warn('redis said', { detail: `AUTH ${password} failed` });
    const address = await service.listen(0, '127.0.0.1');
    try {
      expect(service.report.config).toMatchObject({
        REDIS_URL: 'redis://default:***@redis.internal:6379/0',
        API_KEY: '[REDACTED]',
      });
      const detailed = await (
        await fetch(`http://127.0.0.1:${address.port}/health/detailed`)
      ).text();
      expect(detailed).toContain('redis://default:***@redis.internal:6379/0');
      expect(detailed).not.toContain(password);
      await service.logger.flush();
      const all = sink.lines.join('\n');
      expect(sink.lines.some((l) => l.includes('startup_report'))).toBe(true);
      expect(all).toContain('redis://default:***@redis.internal:6379/0');
      expect(all).not.toContain(password);
      expect(all).not.toContain('sk-live-abcdef123456');
    } finally {
      await service.shutdown();
    }
  });
});
