import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SpareRedis, serviceAvailable, startSpareRedis } from '../../../test/helpers/index.js';
import { createCache, memoryStore, redisStore, tieredStore } from '../src/index.js';
import { type Client, connect, recordingLogger, sleep, waitFor } from './helpers.js';

// The spare redis-server binary is what matters here; the shared server only signals it is installed.
const redisUp = await serviceAvailable('redis');

describe.skipIf(!redisUp)('Redis stopped mid-run (private redis-server)', () => {
  let spare: SpareRedis;
  let client: Client & { errors: unknown[] };

  beforeAll(async () => {
    spare = await startSpareRedis();
    client = await connect(spare.url);
  });
  afterAll(async () => {
    client.destroy();
    await spare.stop();
  });

  it('keeps answering from loaders, opens the circuit, logs once, warns in health, and recovers', async () => {
    const logger = recordingLogger();
    const cache = createCache({
      name: 'fault',
      logger,
      store: redisStore({
        client,
        prefix: 'fault:',
        commandTimeoutMs: 200,
        failureThreshold: 2,
        cooldownMs: 300,
      }),
    });
    const check = cache.healthCheck();
    await cache.set('warm', 'cached-before');
    expect(await cache.get('warm')).toBe('cached-before');
    expect(await check()).toEqual({ status: 'pass' });

    await spare.stop();
    let loads = 0;
    const answers: string[] = [];
    for (let i = 0; i < 20; i++) {
      answers.push(
        await cache.getOrSet(`k${i % 3}`, async () => {
          loads++;
          return `loaded-${i}`;
        }),
      );
    }
    // No request failed: every call was answered by its loader.
    expect(answers).toHaveLength(20);
    expect(loads).toBe(20);
    expect(await cache.get('warm')).toBeUndefined();
    await expect(cache.set('x', 1)).resolves.toBeUndefined();
    await expect(cache.delete('x')).resolves.toBe(false);
    await expect(cache.invalidateTag('t')).resolves.toBe(0);
    await expect(cache.clear()).resolves.toBeUndefined();

    const stats = cache.stats();
    expect(stats.degraded).toBe(true);
    expect(stats.errors).toBeGreaterThan(20);
    const warnings = logger.lines.filter((line) => line.meta?.code === 'SHIPSHAPE_CACHE_DEGRADED');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toMatch(/cache "fault" is degraded/);
    const health = await check();
    expect(health.status).toBe('warn');
    expect(health.output).toMatch(/cache "fault" degraded: .*requests are served by loaders/);

    await spare.start();
    await waitFor(() => client.isReady, 5000);
    await sleep(350); // past the cool-down, the next command is the probe
    await waitFor(async () => (await check()).status === 'pass', 5000);
    expect(cache.stats().degraded).toBe(false);
    expect(
      logger.lines.some(
        (line) => line.level === 'info' && /store redis is back/.test(line.message),
      ),
    ).toBe(true);
    await cache.set('after', 'ok');
    expect(await cache.get('after')).toBe('ok');

    // A second outage after recovery is logged at once, not hidden by the interval.
    await spare.stop();
    for (let i = 0; i < 3; i++)
      expect(await cache.getOrSet('again', () => 'loader')).toBe('loader');
    expect(
      logger.lines.filter((line) => line.meta?.code === 'SHIPSHAPE_CACHE_DEGRADED'),
    ).toHaveLength(2);
    await spare.start();
    await waitFor(() => client.isReady, 5000);
    await cache.close();
  });

  it('a tiered cache keeps serving L1 while Redis is down, then empties L1 when Redis returns', async () => {
    const own = await connect(spare.url);
    const logger = recordingLogger();
    const cache = createCache({
      name: 'tiered-fault',
      logger,
      store: tieredStore(
        memoryStore(),
        redisStore({
          client: own,
          prefix: 'tfault:',
          commandTimeoutMs: 200,
          failureThreshold: 1,
          cooldownMs: 300,
        }),
        {
          subscriber: async () => {
            const sub = own.duplicate();
            sub.on('error', () => undefined);
            await sub.connect();
            return sub;
          },
        },
      ),
    });
    await cache.ready();
    await cache.set('hot', 'from-l1');
    expect(await cache.get('hot')).toBe('from-l1');

    await spare.stop();
    expect(await cache.get('hot')).toBe('from-l1');
    expect(await cache.getOrSet('hot', () => 'loader-not-needed')).toBe('from-l1');
    expect(await cache.getOrSet('cold', () => 'from-loader')).toBe('from-loader');
    const health = await cache.healthCheck()();
    expect(health.status).toBe('warn');
    expect(health.output).toMatch(/serving from L1 and loaders/);

    await spare.start();
    await waitFor(() => own.isReady, 5000);
    await sleep(350);
    await waitFor(async () => (await cache.healthCheck()()).status === 'pass', 5000);
    // Invalidations may have been missed while Redis was away: L1 was emptied on recovery.
    expect(cache.stats().tiers[0]?.entries).toBe(0);
    await cache.close();
    own.destroy();
  });
});
