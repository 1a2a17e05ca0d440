import { Registry } from 'prom-client';
import { describe, expect, expectTypeOf, it } from 'vitest';
import winston from 'winston';
import { type CacheCheckOutcome, type CacheLogger, createCache, redisStore } from '../src/index.js';
import { recordingLogger } from './helpers.js';

/** The check function shape `@shipshape/health`'s `check(name, fn)` accepts (see its types.ts). */
type HealthCheckFunction = (
  signal: AbortSignal,
) =>
  | undefined
  | boolean
  | 'pass'
  | 'warn'
  | 'fail'
  | { readonly status: 'pass' | 'warn' | 'fail'; readonly output?: string }
  | Promise<
      | undefined
      | boolean
      | 'pass'
      | 'warn'
      | 'fail'
      | { readonly status: 'pass' | 'warn' | 'fail'; readonly output?: string }
    >;

describe('metrics and health', () => {
  it('exports per-cache and per-tier stats to a prom-client Registry', async () => {
    const registry = new Registry();
    const a = createCache({ name: 'alpha' });
    const b = createCache({ name: 'beta' });
    const stopA = a.metrics(registry);
    b.metrics(registry);
    await a.set('k', 'v');
    await a.get('k');
    await a.get('k');
    await a.get('missing');
    await b.get('missing');
    const text = await registry.metrics();
    expect(text).toContain('shipshape_cache_hits_total{cache="alpha"} 2');
    expect(text).toContain('shipshape_cache_misses_total{cache="alpha"} 1');
    expect(text).toContain('shipshape_cache_misses_total{cache="beta"} 1');
    expect(text).toContain('shipshape_cache_sets_total{cache="alpha"} 1');
    expect(text).toContain('shipshape_cache_entries{cache="alpha"} 1');
    // The hit ratio is PromQL's to compute from the two counters (no gauge of it since start).
    expect(text).not.toContain('hit_ratio');
    expect(text).toContain('shipshape_cache_tier_hits_total{cache="alpha",tier="memory"} 2');
    expect(text).toContain('shipshape_cache_degraded{cache="alpha"} 0');
    expect(text).toMatch(/shipshape_cache_bytes\{cache="alpha"\} \d+/);
    stopA();
    const after = await registry.metrics();
    expect(after).not.toContain('cache="alpha"');
    expect(after).toContain('cache="beta"');
  });

  it('refuses two different caches with one name on one registry, but allows separate registries', () => {
    const registry = new Registry();
    createCache({ name: 'dup' }).metrics(registry);
    expect(() => createCache({ name: 'dup' }).metrics(registry)).toThrow(
      /a cache named "dup" already exports metrics/,
    );
    expect(() => createCache({ name: 'dup' }).metrics(registry)).toThrow(
      expect.objectContaining({ name: 'TypeError', code: 'SHIPSHAPE_CACHE_INVALID_OPTION' }),
    );
    expect(() => createCache({ name: 'other' }).metrics({} as Registry)).toThrow(
      expect.objectContaining({ name: 'TypeError', code: 'SHIPSHAPE_CACHE_INVALID_OPTION' }),
    );
    expect(() => createCache({ name: 'dup' }).metrics(new Registry())).not.toThrow();
  });

  it('healthCheck passes for memory, warns when Redis is unreachable, fails when closed', async () => {
    const memory = createCache();
    expect(await memory.healthCheck()()).toEqual({ status: 'pass' });
    const broken = createCache({
      name: 'broken',
      store: redisStore({
        client: { sendCommand: () => Promise.reject(new Error('ECONNREFUSED 127.0.0.1:1')) },
        failureThreshold: 1,
      }),
    });
    const outcome = await broken.healthCheck()();
    expect(outcome.status).toBe('warn');
    expect(outcome.output).toMatch(/ECONNREFUSED/);
    // The cache itself keeps working through the loader.
    expect(await broken.getOrSet('k', () => 'fallback')).toBe('fallback');
    await memory.close();
    expect(await memory.healthCheck()()).toMatchObject({ status: 'fail' });
  });

  it('a store shared by two caches reports its outage to both', async () => {
    const store = redisStore({
      client: { sendCommand: () => Promise.reject(new Error('connection refused')) },
      failureThreshold: 1,
    });
    const loggers = [recordingLogger(), recordingLogger()];
    const caches = loggers.map((logger, i) => createCache({ name: `shared-${i}`, store, logger }));
    await caches[1]?.get('k'); // only the last cache calls the store; the first learns through its hook
    for (const [i, cache] of caches.entries()) {
      expect(cache.stats().degraded, cache.name).toBe(true);
      expect(
        loggers[i]?.lines.filter((l) => l.meta?.code === 'SHIPSHAPE_CACHE_DEGRADED'),
      ).toHaveLength(1);
    }
  });

  it('types fit the sibling contracts: health check function and a winston logger', () => {
    const cache = createCache();
    expectTypeOf(cache.healthCheck()).toExtend<HealthCheckFunction>();
    expectTypeOf<CacheCheckOutcome>().toExtend<{ status: 'pass' | 'warn' | 'fail' }>();
    expectTypeOf(winston.createLogger()).toExtend<CacheLogger>();
  });
});
