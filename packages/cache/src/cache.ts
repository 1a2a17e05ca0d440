import type { Registry } from 'prom-client';
import { resolveCacheOptions } from './cache-options.js';
import { cacheStats, createCounters } from './cache-stats.js';
import { createCodec } from './codec.js';
import { CacheError, invalidOption, warnUnknownOptions } from './errors.js';
import { cacheHealthCheck } from './health-check.js';
import { storageKey } from './keys.js';
import { createLoading } from './loading.js';
import { registerCacheMetrics } from './metrics.js';
import { watchStore } from './store-failures.js';
import type { Cache, CacheGetOrSetOptions, CacheOptions, StoredEntry } from './types.js';
import { writeOptions } from './write-options.js';

export { CACHE_WARNINGS } from './cache-warnings.js';

/**
 * A cache over a store: namespaced keys, serialisation, single-flight loads, stats. The parts
 * live beside this file: options (cache-options), counters and `stats()` (cache-stats), the
 * degraded-store policy (store-failures), per-call write options (write-options), entries
 * (codec), loading (loading) and `healthCheck()` (health-check).
 */
export function createCache(options: CacheOptions = {}): Cache {
  const config = resolveCacheOptions(options);
  const { name, store, logger, maxKeyLength } = config;
  const namespace = `${name}:`;
  const counts = createCounters();
  let closed = false;
  const isClosed = () => closed;

  const keyOf = (key: string) => storageKey(namespace, 'k', key, maxKeyLength);
  const tagOf = (tag: string) => storageKey(namespace, 't', tag, maxKeyLength);
  const lockOf = (sk: string) => `${namespace}l:${sk.slice(namespace.length)}`;

  const failures = watchStore(name, store, logger, config.errorLogIntervalMs, counts);
  const fail = failures.fail;
  const ready = store.init ? store.init() : Promise.resolve();
  // A failed subscription only means no L1; ready() still reports it to whoever waits.
  ready.catch((error: unknown) => fail('subscribe', error));

  // Per-call options (set, getOrSet, wrap, healthCheck): each distinct warning once per cache.
  const warnedOptions = new Set<string>();
  const warnUnknownOnce = (op: string, opts: object, known: Readonly<Record<string, true>>) => {
    const unknown = Object.keys(opts).filter((key) => !Object.hasOwn(known, key));
    if (unknown.length === 0) return;
    const seen = `${op}\0${unknown.join('\0')}`;
    if (warnedOptions.has(seen)) return;
    warnedOptions.add(seen);
    warnUnknownOptions(`cache "${name}" ${op}`, opts, known, logger);
  };

  const resolveWrite = writeOptions(
    config.ttl,
    config.staleWhileRevalidate,
    tagOf,
    warnUnknownOnce,
  );
  const codec = createCodec(name, config.serializer, store, logger);

  const safeGet = async (sk: string): Promise<StoredEntry | undefined> => {
    try {
      return await store.get(sk);
    } catch (error) {
      fail('get', error);
      return undefined;
    }
  };

  const write = async (sk: string, entry: StoredEntry) => {
    counts.sets++;
    try {
      await store.set(sk, entry);
    } catch (error) {
      fail('set', error);
    }
  };

  const assertOpen = (op: string) => {
    if (closed) throw new CacheError('CLOSED', `cache "${name}" is closed; ${op} is not possible`);
  };

  const loading = createLoading({
    name,
    store,
    lock: config.lock,
    logger,
    counts,
    codec,
    safeGet,
    write,
    fail,
    lockOf,
    isClosed,
  });

  const cache: Cache = {
    name,
    store,
    async get<T>(key: string) {
      const sk = keyOf(key);
      const entry = await safeGet(sk);
      if (entry && entry.freshUntil > Date.now()) {
        const decoded = codec.decode(sk, entry);
        if (decoded.ok) {
          counts.hits++;
          return decoded.value as T;
        }
      }
      counts.misses++;
      return undefined;
    },
    async set(key, value, opts) {
      assertOpen('set');
      const sk = keyOf(key);
      const w = resolveWrite(opts, 'set');
      await write(sk, codec.encode(value, w));
    },
    async delete(key) {
      const sk = keyOf(key);
      counts.deletes++;
      try {
        return (await store.delete([sk])) > 0;
      } catch (error) {
        fail('delete', error);
        return false;
      }
    },
    async has(key) {
      const entry = await safeGet(keyOf(key));
      return entry !== undefined && entry.freshUntil > Date.now();
    },
    async clear() {
      try {
        await store.clear(namespace);
      } catch (error) {
        fail('clear', error);
      }
    },
    async getOrSet<T>(key: string, loader: () => T | Promise<T>, opts?: CacheGetOrSetOptions) {
      assertOpen('getOrSet');
      if (typeof loader !== 'function')
        throw invalidOption('getOrSet', 'loader', loader, 'a function');
      const sk = keyOf(key);
      const w = resolveWrite(opts, 'getOrSet');
      const running = loading.running(sk);
      if (running) {
        counts.misses++;
        return running as Promise<T>;
      }
      const entry = await safeGet(sk);
      const now = Date.now();
      if (entry && entry.expiresAt > now) {
        const decoded = codec.decode(sk, entry);
        if (decoded.ok) {
          counts.hits++;
          if (entry.freshUntil <= now) {
            counts.staleHits++;
            loading.refreshInBackground(sk, loader, w);
          }
          return decoded.value as T;
        }
      }
      counts.misses++;
      return loading.singleFlight(sk, loader, w);
    },
    async invalidateTag(tag) {
      const tk = tagOf(tag);
      try {
        const removed = await store.deleteTag(tk);
        counts.deletes += removed;
        return removed;
      } catch (error) {
        fail('invalidateTag', error);
        return 0;
      }
    },
    wrap(fn, keyFn, opts) {
      if (typeof fn !== 'function') throw invalidOption('wrap', 'fn', fn, 'a function');
      if (typeof keyFn !== 'function')
        throw invalidOption('wrap', 'keyFn', keyFn, 'a function returning the cache key');
      if (opts !== undefined) resolveWrite(opts, 'wrap');
      return function cachedCall(...args) {
        return cache.getOrSet(keyFn(...args), () => fn(...args), opts);
      };
    },
    stats() {
      return cacheStats(name, store, counts, failures.down);
    },
    metrics(registry: Registry) {
      return registerCacheMetrics(registry, cache);
    },
    healthCheck(checkOptions = {}) {
      return cacheHealthCheck(name, store, isClosed, checkOptions, warnUnknownOnce);
    },
    ready() {
      return ready;
    },
    async close() {
      if (closed) return;
      closed = true;
      await loading.settle();
      await store.close?.();
    },
    dispose() {
      return cache.close();
    },
  };
  return cache;
}
