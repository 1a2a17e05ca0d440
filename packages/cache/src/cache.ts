import type { Registry } from 'prom-client';
import {
  CacheError,
  checkNonNegativeNumber,
  checkPositiveInteger,
  checkPositiveNumber,
  invalidOption,
  show,
  warnUnknownOptions,
} from './errors.js';
import { storageKey } from './keys.js';
import { memoryStore } from './memory-store.js';
import { registerCacheMetrics } from './metrics.js';
import { jsonSerializer } from './serializer.js';
import type {
  Cache,
  CacheCheckFunction,
  CacheGetOrSetOptions,
  CacheHealthCheckOptions,
  CacheLogger,
  CacheOptions,
  CacheSetOptions,
  CacheStats,
  CacheStore,
  StoredEntry,
} from './types.js';

const KNOWN: { [K in keyof Required<CacheOptions>]: true } = {
  name: true,
  store: true,
  ttl: true,
  staleWhileRevalidate: true,
  serializer: true,
  logger: true,
  lock: true,
  errorLogIntervalMs: true,
  maxKeyLength: true,
};

const SET_KNOWN: { [K in keyof Required<CacheSetOptions>]: true } = {
  ttl: true,
  tags: true,
  staleWhileRevalidate: true,
};

const HEALTH_KNOWN: { [K in keyof Required<CacheHealthCheckOptions>]: true } = {
  timeoutMs: true,
};

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Warning codes; see docs/errors.md. */
export const CACHE_WARNINGS = {
  degraded: 'SHIPSHAPE_CACHE_DEGRADED',
  refreshFailed: 'SHIPSHAPE_CACHE_REFRESH_FAILED',
  corruptEntry: 'SHIPSHAPE_CACHE_CORRUPT_ENTRY',
} as const;

interface ResolvedWrite {
  readonly ttl: number;
  readonly swr: number;
  readonly tags: readonly string[];
}

const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms).unref();
  });

/** A cache over a store: namespaced keys, serialisation, single-flight loads, stats. */
export function createCache(options: CacheOptions = {}): Cache {
  const where = 'createCache';
  if (typeof options !== 'object' || options === null)
    throw invalidOption(where, 'options', options, 'an object');
  const name = options.name ?? 'default';
  if (typeof name !== 'string' || !NAME.test(name))
    throw invalidOption(
      where,
      'name',
      name,
      'letters, digits, "_", "." or "-" (1 to 64 characters)',
    );
  const store: CacheStore = options.store ?? memoryStore();
  if (
    typeof store !== 'object' ||
    store === null ||
    typeof store.get !== 'function' ||
    typeof store.set !== 'function'
  )
    throw invalidOption(
      where,
      'store',
      store,
      'a store (memoryStore(), redisStore() or tieredStore())',
    );
  const defaultTtl = checkPositiveNumber(where, 'ttl', options.ttl ?? 300_000);
  const defaultSwr = checkNonNegativeNumber(
    where,
    'staleWhileRevalidate',
    options.staleWhileRevalidate ?? 0,
  );
  const serializer = options.serializer ?? jsonSerializer();
  if (typeof serializer?.serialize !== 'function' || typeof serializer.deserialize !== 'function')
    throw invalidOption(
      where,
      'serializer',
      serializer,
      'an object with serialize(value) and deserialize(raw)',
    );
  const logger: CacheLogger | undefined = options.logger;
  if (logger !== undefined && (typeof logger !== 'object' || typeof logger.warn !== 'function'))
    throw invalidOption(where, 'logger', logger, 'an object with info, warn and error methods');
  warnUnknownOptions(where, options, KNOWN, logger);
  const errorLogIntervalMs = checkPositiveNumber(
    where,
    'errorLogIntervalMs',
    options.errorLogIntervalMs ?? 60_000,
  );
  const maxKeyLength = checkPositiveInteger(where, 'maxKeyLength', options.maxKeyLength ?? 200);
  const lockOption = options.lock ?? {};
  let lock: { ttl: number; wait: number; retryInterval: number } | undefined;
  if (lockOption !== false) {
    if (typeof lockOption !== 'object' || lockOption === null)
      throw invalidOption(where, 'lock', lockOption, 'false or { ttl, wait, retryInterval }');
    lock = {
      ttl: checkPositiveNumber(where, 'lock.ttl', lockOption.ttl ?? 5000),
      wait: checkNonNegativeNumber(where, 'lock.wait', lockOption.wait ?? 5000),
      retryInterval: checkPositiveNumber(
        where,
        'lock.retryInterval',
        lockOption.retryInterval ?? 25,
      ),
    };
  }
  const namespace = `${name}:`;

  const counts = {
    hits: 0,
    misses: 0,
    sets: 0,
    deletes: 0,
    staleHits: 0,
    loads: 0,
    loadErrors: 0,
    errors: 0,
  };
  const inflight = new Map<string, Promise<unknown>>();
  const background = new Set<Promise<unknown>>();
  let closed = false;
  let lastErrorLog = Number.NEGATIVE_INFINITY;
  let suppressed = 0;
  let down = false;

  const keyOf = (key: string) => storageKey(namespace, 'k', key, maxKeyLength);
  const tagOf = (tag: string) => storageKey(namespace, 't', tag, maxKeyLength);
  const lockOf = (sk: string) => `${namespace}l:${sk.slice(namespace.length)}`;

  const logFailure = (op: string, error: unknown) => {
    counts.errors++;
    const now = Date.now();
    if (now - lastErrorLog < errorLogIntervalMs) {
      suppressed++;
      return;
    }
    lastErrorLog = now;
    logger?.warn(`@shipshape/cache: cache "${name}" is degraded; ${op} went on without its store`, {
      code: CACHE_WARNINGS.degraded,
      cache: name,
      op,
      error: error instanceof Error ? error.message : String(error),
      suppressed,
    });
    suppressed = 0;
  };

  store.attach?.({
    onStateChange(state, detail) {
      if (state === 'down') {
        down = true;
        logFailure(`${detail.tier} circuit opened`, detail.error);
      } else {
        down = false;
        logger?.info(`@shipshape/cache: cache "${name}" store ${detail.tier} is back`, {
          cache: name,
          tier: detail.tier,
          suppressed,
        });
        // The next outage is news again: log it at once.
        lastErrorLog = Number.NEGATIVE_INFINITY;
        suppressed = 0;
      }
    },
  });
  const ready = store.init ? store.init() : Promise.resolve();
  // A failed subscription only means no L1; ready() still reports it to whoever waits.
  ready.catch((error: unknown) => logFailure('subscribe', error));

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

  const resolveWrite = (opts: CacheSetOptions | undefined, op: string): ResolvedWrite => {
    if (opts === undefined) return { ttl: defaultTtl, swr: defaultSwr, tags: [] };
    if (typeof opts !== 'object' || opts === null)
      throw invalidOption(op, 'options', opts, 'an object');
    warnUnknownOnce(op, opts, SET_KNOWN);
    let ttl = defaultTtl;
    if (opts.ttl !== undefined) {
      if (typeof opts.ttl !== 'number' || !Number.isFinite(opts.ttl) || opts.ttl <= 0) {
        throw new CacheError(
          'INVALID_TTL',
          `${op} "ttl" must be a positive finite number of milliseconds, got ${show(opts.ttl)} (use delete() to remove an entry; omit ttl for the default ${defaultTtl} ms)`,
        );
      }
      ttl = opts.ttl;
    }
    const swr =
      opts.staleWhileRevalidate === undefined
        ? defaultSwr
        : checkNonNegativeNumber(op, 'staleWhileRevalidate', opts.staleWhileRevalidate);
    let tags: readonly string[] = [];
    if (opts.tags !== undefined) {
      if (!Array.isArray(opts.tags))
        throw invalidOption(op, 'tags', opts.tags, 'an array of non-empty strings');
      tags = [...new Set(opts.tags.map((tag: unknown) => tagOf(tag as string)))];
    }
    return { ttl, swr, tags };
  };

  const encode = (value: unknown, write: ResolvedWrite): StoredEntry => {
    const raw = serializer.serialize(value);
    if (typeof raw !== 'string')
      throw new CacheError(
        'UNSERIALISABLE_VALUE',
        `the serializer returned ${show(raw)} instead of a string for this value`,
      );
    const now = Date.now();
    return {
      raw,
      value,
      freshUntil: now + write.ttl,
      expiresAt: now + write.ttl + write.swr,
      tags: write.tags,
    };
  };

  const decode = (sk: string, entry: StoredEntry): { ok: true; value: unknown } | { ok: false } => {
    if ('value' in entry) return { ok: true, value: entry.value };
    try {
      return { ok: true, value: serializer.deserialize(entry.raw) };
    } catch (error) {
      logger?.warn(`@shipshape/cache: cache "${name}" dropped an entry it could not deserialise`, {
        code: CACHE_WARNINGS.corruptEntry,
        cache: name,
        error: error instanceof Error ? error.message : String(error),
      });
      void store.delete([sk]).catch(() => undefined);
      return { ok: false };
    }
  };

  const safeGet = async (sk: string): Promise<StoredEntry | undefined> => {
    try {
      return await store.get(sk);
    } catch (error) {
      logFailure('get', error);
      return undefined;
    }
  };

  const write = async (sk: string, entry: StoredEntry) => {
    counts.sets++;
    try {
      await store.set(sk, entry);
    } catch (error) {
      logFailure('set', error);
    }
  };

  const assertOpen = (op: string) => {
    if (closed) throw new CacheError('CLOSED', `cache "${name}" is closed; ${op} is not possible`);
  };

  const loadAndStore = async <T>(
    sk: string,
    loader: () => T | Promise<T>,
    w: ResolvedWrite,
  ): Promise<T> => {
    counts.loads++;
    let value: T;
    try {
      value = await loader();
    } catch (error) {
      counts.loadErrors++;
      throw error;
    }
    if (value === undefined) return value;
    await write(sk, encode(value, w));
    return value;
  };

  const loadWithLock = async <T>(
    sk: string,
    loader: () => T | Promise<T>,
    w: ResolvedWrite,
  ): Promise<T> => {
    if (!lock || !store.lock || !store.unlock) return loadAndStore(sk, loader, w);
    const lockKey = lockOf(sk);
    const deadline = Date.now() + lock.wait;
    let waited = false;
    for (;;) {
      let token: string | null;
      try {
        token = await store.lock(lockKey, lock.ttl);
      } catch (error) {
        logFailure('lock', error);
        return loadAndStore(sk, loader, w);
      }
      if (token !== null) {
        try {
          if (waited) {
            // The holder we waited for may have stored the value just before releasing.
            const entry = await safeGet(sk);
            const decoded = entry && entry.freshUntil > Date.now() ? decode(sk, entry) : undefined;
            if (decoded?.ok) return decoded.value as T;
          }
          return await loadAndStore(sk, loader, w);
        } finally {
          await store.unlock(lockKey, token).catch((error: unknown) => logFailure('unlock', error));
        }
      }
      // Another instance is loading: wait for its value rather than hitting the origin too.
      if (Date.now() >= deadline) return loadAndStore(sk, loader, w);
      await sleep(lock.retryInterval);
      waited = true;
      const entry = await safeGet(sk);
      if (entry && entry.freshUntil > Date.now()) {
        const decoded = decode(sk, entry);
        if (decoded.ok) return decoded.value as T;
      }
    }
  };

  const singleFlight = <T>(
    sk: string,
    loader: () => T | Promise<T>,
    w: ResolvedWrite,
  ): Promise<T> => {
    const running = inflight.get(sk);
    if (running) return running as Promise<T>;
    const promise = (async () => {
      try {
        return await loadWithLock(sk, loader, w);
      } finally {
        inflight.delete(sk);
      }
    })();
    inflight.set(sk, promise);
    return promise;
  };

  const refreshInBackground = <T>(sk: string, loader: () => T | Promise<T>, w: ResolvedWrite) => {
    if (inflight.has(sk) || closed) return;
    const task = singleFlight(sk, loader, w).catch((error: unknown) => {
      logger?.warn(
        `@shipshape/cache: cache "${name}" could not refresh a stale entry; it keeps serving the stale value until it expires`,
        {
          code: CACHE_WARNINGS.refreshFailed,
          cache: name,
          error: error instanceof Error ? error.message : String(error),
        },
      );
    });
    background.add(task);
    void task.finally(() => background.delete(task));
  };

  const cache: Cache = {
    name,
    store,
    async get<T>(key: string) {
      const sk = keyOf(key);
      const entry = await safeGet(sk);
      if (entry && entry.freshUntil > Date.now()) {
        const decoded = decode(sk, entry);
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
      await write(sk, encode(value, w));
    },
    async delete(key) {
      const sk = keyOf(key);
      counts.deletes++;
      try {
        return (await store.delete([sk])) > 0;
      } catch (error) {
        logFailure('delete', error);
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
        logFailure('clear', error);
      }
    },
    async getOrSet<T>(key: string, loader: () => T | Promise<T>, opts?: CacheGetOrSetOptions) {
      assertOpen('getOrSet');
      if (typeof loader !== 'function')
        throw invalidOption('getOrSet', 'loader', loader, 'a function');
      const sk = keyOf(key);
      const w = resolveWrite(opts, 'getOrSet');
      const running = inflight.get(sk);
      if (running) {
        counts.misses++;
        return running as Promise<T>;
      }
      const entry = await safeGet(sk);
      const now = Date.now();
      if (entry && entry.expiresAt > now) {
        const decoded = decode(sk, entry);
        if (decoded.ok) {
          counts.hits++;
          if (entry.freshUntil <= now) {
            counts.staleHits++;
            refreshInBackground(sk, loader, w);
          }
          return decoded.value as T;
        }
      }
      counts.misses++;
      return singleFlight(sk, loader, w);
    },
    async invalidateTag(tag) {
      const tk = tagOf(tag);
      try {
        const removed = await store.deleteTag(tk);
        counts.deletes += removed;
        return removed;
      } catch (error) {
        logFailure('invalidateTag', error);
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
    stats(): CacheStats {
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
    },
    metrics(registry: Registry) {
      return registerCacheMetrics(registry, cache);
    },
    healthCheck(checkOptions = {}): CacheCheckFunction {
      if (typeof checkOptions !== 'object' || checkOptions === null)
        throw invalidOption('healthCheck', 'options', checkOptions, 'an object');
      warnUnknownOnce('healthCheck', checkOptions, HEALTH_KNOWN);
      const timeoutMs = checkPositiveNumber(
        'healthCheck',
        'timeoutMs',
        checkOptions.timeoutMs ?? 50,
      );
      const ping = store.ping?.bind(store);
      return async function cacheHealthCheck() {
        if (closed) return { status: 'fail', output: `cache "${name}" is closed` };
        if (ping) {
          let timer: NodeJS.Timeout | undefined;
          try {
            // The store's own timeout is for requests; a probe must answer sooner still.
            await Promise.race([
              ping(),
              new Promise<never>((_, reject) => {
                timer = setTimeout(
                  () =>
                    reject(
                      new CacheError(
                        'REDIS_TIMEOUT',
                        `the store did not answer PING within ${timeoutMs} ms`,
                      ),
                    ),
                  timeoutMs,
                );
                timer.unref();
              }),
            ]);
          } catch (error) {
            const health = store.health?.();
            return {
              status: 'warn',
              output: `cache "${name}" degraded: ${health?.output ?? (error instanceof Error ? error.message : String(error))}; requests are served by loaders${store.kind === 'tiered' ? ' and L1' : ''}`,
            };
          } finally {
            clearTimeout(timer);
          }
        }
        const health = store.health?.();
        if (health?.status === 'degraded')
          return {
            status: 'warn',
            output: `cache "${name}" degraded: ${health.output ?? 'store unavailable'}`,
          };
        return { status: 'pass' };
      };
    },
    ready() {
      return ready;
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.allSettled([...background]);
      await store.close?.();
    },
    dispose() {
      return cache.close();
    },
  };
  return cache;
}
