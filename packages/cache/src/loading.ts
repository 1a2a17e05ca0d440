import type { LockConfig } from './cache-options.js';
import type { CacheCounters } from './cache-stats.js';
import { CACHE_WARNINGS } from './cache-warnings.js';
import type { Codec } from './codec.js';
import type { CacheLogger, CacheStore, StoredEntry } from './types.js';
import type { ResolvedWrite } from './write-options.js';

const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms).unref();
  });

type Loader<T> = () => T | Promise<T>;

export interface LoaderDeps {
  readonly name: string;
  readonly store: CacheStore;
  readonly lock: LockConfig | undefined;
  readonly logger: CacheLogger | undefined;
  readonly counts: CacheCounters;
  readonly codec: Codec;
  /** The store's entry, or undefined when it failed (the failure is counted and logged). */
  readonly safeGet: (sk: string) => Promise<StoredEntry | undefined>;
  /** Stores an entry; a failure is counted and logged, not thrown. */
  readonly write: (sk: string, entry: StoredEntry) => Promise<void>;
  readonly fail: (op: string, error: unknown) => void;
  /** The lock key of a storage key. */
  readonly lockOf: (sk: string) => string;
  readonly isClosed: () => boolean;
}

/** Single-flight loading: one loader per key in this process, one across instances (store lock). */
export interface Loading {
  /** The load already running for a storage key. */
  running(sk: string): Promise<unknown> | undefined;
  singleFlight<T>(sk: string, loader: Loader<T>, w: ResolvedWrite): Promise<T>;
  /** Refreshes a stale entry without making the caller wait; failures are logged. */
  refreshInBackground<T>(sk: string, loader: Loader<T>, w: ResolvedWrite): void;
  /** Resolves once every background refresh has settled. */
  settle(): Promise<unknown>;
}

export function createLoading(deps: LoaderDeps): Loading {
  const { name, store, lock, logger, counts, codec, safeGet, write, fail, lockOf } = deps;
  const inflight = new Map<string, Promise<unknown>>();
  const background = new Set<Promise<unknown>>();

  const loadAndStore = async <T>(sk: string, loader: Loader<T>, w: ResolvedWrite): Promise<T> => {
    counts.loads++;
    let value: T;
    try {
      value = await loader();
    } catch (error) {
      counts.loadErrors++;
      throw error;
    }
    if (value === undefined) return value;
    await write(sk, codec.encode(value, w));
    return value;
  };

  const loadWithLock = async <T>(sk: string, loader: Loader<T>, w: ResolvedWrite): Promise<T> => {
    if (!lock || !store.lock || !store.unlock) return loadAndStore(sk, loader, w);
    const lockKey = lockOf(sk);
    const deadline = Date.now() + lock.wait;
    let waited = false;
    for (;;) {
      let token: string | null;
      try {
        token = await store.lock(lockKey, lock.ttl);
      } catch (error) {
        fail('lock', error);
        return loadAndStore(sk, loader, w);
      }
      if (token !== null) {
        try {
          if (waited) {
            // The holder we waited for may have stored the value just before releasing.
            const entry = await safeGet(sk);
            const decoded =
              entry && entry.freshUntil > Date.now() ? codec.decode(sk, entry) : undefined;
            if (decoded?.ok) return decoded.value as T;
          }
          return await loadAndStore(sk, loader, w);
        } finally {
          await store.unlock(lockKey, token).catch((error: unknown) => fail('unlock', error));
        }
      }
      // Another instance is loading: wait for its value rather than hitting the origin too.
      if (Date.now() >= deadline) return loadAndStore(sk, loader, w);
      await sleep(lock.retryInterval);
      waited = true;
      const entry = await safeGet(sk);
      if (entry && entry.freshUntil > Date.now()) {
        const decoded = codec.decode(sk, entry);
        if (decoded.ok) return decoded.value as T;
      }
    }
  };

  const singleFlight = <T>(sk: string, loader: Loader<T>, w: ResolvedWrite): Promise<T> => {
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

  return {
    running: (sk) => inflight.get(sk),
    singleFlight,
    refreshInBackground(sk, loader, w) {
      if (inflight.has(sk) || deps.isClosed()) return;
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
    },
    settle: () => Promise.allSettled([...background]),
  };
}
