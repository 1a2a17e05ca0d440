import type { CacheStats, CacheStore } from './types.js';

/** What one cache counts; `stats()` reports it with the store's own numbers. */
export interface CacheCounters {
  hits: number;
  misses: number;
  sets: number;
  deletes: number;
  staleHits: number;
  loads: number;
  loadErrors: number;
  errors: number;
}

export function createCounters(): CacheCounters {
  return {
    hits: 0,
    misses: 0,
    sets: 0,
    deletes: 0,
    staleHits: 0,
    loads: 0,
    loadErrors: 0,
    errors: 0,
  };
}

export function cacheStats(
  name: string,
  store: CacheStore,
  counts: Readonly<CacheCounters>,
  down: boolean,
): CacheStats {
  const tiers = store.stats();
  const reads = counts.hits + counts.misses;
  const sized = tiers.find((tier) => tier.entries !== null);
  const health = store.health?.();
  return {
    name,
    store: store.kind,
    hits: counts.hits,
    misses: counts.misses,
    sets: counts.sets,
    deletes: counts.deletes,
    evictions: tiers.reduce((sum, tier) => sum + tier.evictions, 0),
    entries: sized?.entries ?? null,
    bytes: sized?.bytes ?? null,
    hitRate: reads === 0 ? 0 : counts.hits / reads,
    staleHits: counts.staleHits,
    loads: counts.loads,
    loadErrors: counts.loadErrors,
    errors: counts.errors,
    degraded: down || health?.status === 'degraded',
    tiers,
  };
}
