import { Counter, Gauge, type Registry } from 'prom-client';
import { INVALID_OPTION, invalidOption } from './errors.js';
import type { Cache, CacheStats } from './types.js';

// The set of caches feeding a registry's metrics lives on the metric object itself, so two
// registries (or two test files) never share state and one cache can be removed alone.
const SOURCES = Symbol.for('shipshape.cache.metricSources');

type Sourced = { [SOURCES]?: Map<string, Cache> };

type CounterField = 'hits' | 'misses' | 'sets' | 'deletes' | 'evictions';

const CACHE_COUNTERS: readonly [string, keyof CacheStats, string][] = [
  ['shipshape_cache_hits_total', 'hits', 'Cache reads answered from the cache'],
  ['shipshape_cache_misses_total', 'misses', 'Cache reads not answered from the cache'],
  ['shipshape_cache_sets_total', 'sets', 'Cache writes'],
  ['shipshape_cache_deletes_total', 'deletes', 'Entries removed by delete or tag invalidation'],
  ['shipshape_cache_evictions_total', 'evictions', 'Entries evicted to respect size limits'],
  ['shipshape_cache_stale_hits_total', 'staleHits', 'Stale values served while refreshing'],
  ['shipshape_cache_loads_total', 'loads', 'Loader runs'],
  ['shipshape_cache_load_errors_total', 'loadErrors', 'Loader runs that threw'],
  ['shipshape_cache_errors_total', 'errors', 'Store failures the cache absorbed'],
];

const TIER_COUNTERS: readonly [string, CounterField, string][] = [
  ['shipshape_cache_tier_hits_total', 'hits', 'Reads answered by this tier'],
  ['shipshape_cache_tier_misses_total', 'misses', 'Reads this tier could not answer'],
  ['shipshape_cache_tier_sets_total', 'sets', 'Writes to this tier'],
  ['shipshape_cache_tier_deletes_total', 'deletes', 'Entries removed from this tier'],
  ['shipshape_cache_tier_evictions_total', 'evictions', 'Entries this tier evicted'],
];

// No hit-ratio gauge: a ratio since start cannot be rated or summed over instances; the hit and
// miss counters give it over any window. The aggregator is how a node:cluster primary
// (prom-client's AggregatorRegistry) combines workers: entries and bytes add up (each worker
// holds its own in-process tier), the 0/1 `degraded` must not (1 when any worker is degraded).
const GAUGES: readonly [string, (stats: CacheStats) => number | null, string, 'sum' | 'max'][] = [
  ['shipshape_cache_entries', (s) => s.entries, 'Entries held (in-process tier)', 'sum'],
  ['shipshape_cache_bytes', (s) => s.bytes, 'Serialised bytes held (in-process tier)', 'sum'],
  [
    'shipshape_cache_degraded',
    (s) => (s.degraded ? 1 : 0),
    '1 while the cache runs without its Redis tier',
    'max',
  ],
];

function sourcesOf(metric: unknown): Map<string, Cache> {
  const holder = metric as Sourced;
  holder[SOURCES] ??= new Map();
  return holder[SOURCES];
}

function ensure<T extends Counter<string> | Gauge<string>>(
  registry: Registry,
  name: string,
  make: (sources: Map<string, Cache>) => T,
): Map<string, Cache> {
  const existing = registry.getSingleMetric(name);
  if (existing) return sourcesOf(existing);
  const sources = new Map<string, Cache>();
  const metric = make(sources);
  (metric as unknown as Sourced)[SOURCES] = sources;
  return sources;
}

/** Registers (or joins) the cache metrics on `registry`; returns a function that leaves them. */
export function registerCacheMetrics(registry: Registry, cache: Cache): () => void {
  if (!registry || typeof registry.getSingleMetric !== 'function') {
    throw invalidOption('cache.metrics(registry)', 'registry', registry, 'a prom-client Registry');
  }
  const joined: Map<string, Cache>[] = [];
  const join = (sources: Map<string, Cache>) => {
    const other = sources.get(cache.name);
    if (other && other !== cache) {
      throw Object.assign(
        new TypeError(
          `@shipshape/cache: a cache named "${cache.name}" already exports metrics to this registry; give each cache its own name`,
        ),
        { code: INVALID_OPTION } as const,
      );
    }
    sources.set(cache.name, cache);
    joined.push(sources);
  };
  for (const [name, field, help] of CACHE_COUNTERS) {
    join(
      ensure(
        registry,
        name,
        (sources) =>
          new Counter({
            name,
            help,
            labelNames: ['cache'],
            registers: [registry],
            collect() {
              this.reset();
              for (const source of sources.values())
                this.inc({ cache: source.name }, source.stats()[field] as number);
            },
          }),
      ),
    );
  }
  for (const [name, field, help] of TIER_COUNTERS) {
    join(
      ensure(
        registry,
        name,
        (sources) =>
          new Counter({
            name,
            help,
            labelNames: ['cache', 'tier'],
            registers: [registry],
            collect() {
              this.reset();
              for (const source of sources.values())
                for (const tier of source.stats().tiers)
                  this.inc({ cache: source.name, tier: tier.tier }, tier[field]);
            },
          }),
      ),
    );
  }
  for (const [name, read, help, aggregator] of GAUGES) {
    join(
      ensure(
        registry,
        name,
        (sources) =>
          new Gauge({
            name,
            help,
            labelNames: ['cache'],
            registers: [registry],
            aggregator,
            collect() {
              this.reset();
              for (const source of sources.values()) {
                const value = read(source.stats());
                if (value !== null) this.set({ cache: source.name }, value);
              }
            },
          }),
      ),
    );
  }
  return function stopCacheMetrics() {
    for (const sources of joined) if (sources.get(cache.name) === cache) sources.delete(cache.name);
  };
}
