import type { Registry } from 'prom-client';

/** Structural logger; a winston logger (and `@shipshape/logger`) satisfies it. */
export interface CacheLogger {
  info(message: string, meta?: Record<string, unknown>): unknown;
  warn(message: string, meta?: Record<string, unknown>): unknown;
  error(message: string, meta?: Record<string, unknown>): unknown;
  debug?(message: string, meta?: Record<string, unknown>): unknown;
}

/**
 * The only thing `redisStore` needs from a Redis client: one function that sends a command as an
 * array of strings and resolves with the reply. node-redis v4+ (`createClient()`) satisfies it.
 * For ioredis, pass `{ sendCommand: (args) => redis.call(args[0], ...args.slice(1)) }`.
 */
export interface RedisCommandClient {
  sendCommand(args: string[]): Promise<unknown>;
}

/**
 * A dedicated subscriber connection (a connection in subscribe mode cannot send other
 * commands). node-redis v4+ satisfies it: pass `client.duplicate()` without connecting it; the
 * tiered store adds its `'error'` listener and then connects it.
 */
export interface RedisSubscriber {
  subscribe(
    channel: string,
    listener: (message: string, channel: string) => unknown,
  ): Promise<unknown>;
  unsubscribe(
    channel: string,
    listener?: (message: string, channel: string) => unknown,
  ): Promise<unknown>;
  /**
   * Connection events, when the client emits them (node-redis does): `'error'` is always listened
   * to (never rethrown); on `ready` after a reconnection the tiered store empties L1, since
   * invalidations were missed, and makes sure the subscription is in place again.
   */
  on?(
    event: 'ready' | 'reconnecting' | 'end' | 'error' | 'terminated',
    listener: (...args: unknown[]) => void,
  ): unknown;
  off?(
    event: 'ready' | 'reconnecting' | 'end' | 'error' | 'terminated',
    listener: (...args: unknown[]) => void,
  ): unknown;
  /** node-redis: `false` until `connect()` is called (then the store connects it itself). */
  readonly isOpen?: boolean;
  connect?(): Promise<unknown>;
}

/** Turns values into strings and back. The default is strict JSON. */
export interface CacheSerializer {
  serialize(value: unknown): string;
  deserialize(raw: string): unknown;
}

/** One stored entry. Times are epoch milliseconds. */
export interface StoredEntry {
  /** The serialised value. */
  readonly raw: string;
  /** The live value, present only when a memory store keeps shared references (`clone: false`). */
  readonly value?: unknown;
  /** Until this time the entry is fresh. */
  readonly freshUntil: number;
  /** After this time the entry is gone (`freshUntil + staleWhileRevalidate`). */
  readonly expiresAt: number;
  /** Storage keys of the entry's tags. */
  readonly tags: readonly string[];
}

/** Counters and sizes of one tier (`memory`, `redis`, or `l1`/`l2` inside a tiered store). */
export interface TierStats {
  readonly tier: string;
  readonly hits: number;
  readonly misses: number;
  readonly sets: number;
  readonly deletes: number;
  readonly evictions: number;
  /** Entries held; `null` where the tier cannot count cheaply (Redis). */
  readonly entries: number | null;
  /** Bytes held (serialised size); `null` where unknown (Redis). */
  readonly bytes: number | null;
  /** hits / (hits + misses), 0 before any read. */
  readonly hitRate: number;
}

/** Availability of a store's backend, for health checks and degradation. */
export interface StoreHealth {
  readonly status: 'up' | 'degraded';
  readonly output?: string;
}

/** Callbacks a cache installs on its store. */
export interface StoreHooks {
  /** The backend became unavailable (`down`) or came back (`up`). */
  onStateChange?(state: 'up' | 'down', detail: { tier: string; error?: unknown }): void;
}

/**
 * A storage backend. Keys are already namespaced and safe (the cache hashes odd keys).
 * Memory stores never reject; Redis-backed stores reject when Redis fails, and the cache
 * turns that into a miss or a skipped write.
 */
export interface CacheStore {
  readonly kind: string;
  get(key: string): Promise<StoredEntry | undefined>;
  set(key: string, entry: StoredEntry): Promise<void>;
  /** Resolves with how many of the keys existed. */
  delete(keys: readonly string[]): Promise<number>;
  /** Deletes every entry carrying the tag (a storage key); resolves with how many. */
  deleteTag(tag: string): Promise<number>;
  /** Deletes every key starting with `prefix` (the cache's namespace) and nothing else. */
  clear(prefix: string): Promise<void>;
  /** Acquires a short lock: a token when acquired, `null` when someone else holds it. */
  lock?(key: string, ttlMs: number): Promise<string | null>;
  /** Releases a lock only if `token` still owns it. */
  unlock?(key: string, token: string): Promise<void>;
  /** Starts background work (subscriptions). Called by the cache; idempotent. */
  init?(): Promise<void>;
  /** Round trip to the backend, for health checks. */
  ping?(): Promise<void>;
  health?(): StoreHealth;
  /** Adds a listener; a store shared by several caches informs each of them. */
  attach?(hooks: StoreHooks): void;
  stats(): readonly TierStats[];
  close?(): Promise<void>;
}

export interface CacheSetOptions {
  /**
   * Milliseconds the entry stays fresh. Must be a positive finite number; 0 and negative values
   * are rejected (use `delete` to remove an entry).
   * @default CacheOptions.ttl
   */
  readonly ttl?: number;
  /** Tags for `invalidateTag`. */
  readonly tags?: readonly string[];
  /**
   * Milliseconds after `ttl` during which `getOrSet` still returns the stale value at once and
   * refreshes it in the background. 0 turns it off.
   * @default CacheOptions.staleWhileRevalidate
   */
  readonly staleWhileRevalidate?: number;
}

export type CacheGetOrSetOptions = CacheSetOptions;

export interface CacheLockOptions {
  /**
   * Milliseconds a distributed load lock lives (it is released as soon as the loader settles).
   * @default 5000
   */
  readonly ttl?: number;
  /**
   * Milliseconds another instance waits for the lock holder's value before loading itself.
   * @default 5000
   */
  readonly wait?: number;
  /**
   * Milliseconds between polls while waiting.
   * @default 25
   */
  readonly retryInterval?: number;
}

export interface CacheOptions {
  /**
   * Name in stats, metrics and the admin router; also the key namespace, so two caches on one
   * Redis never see each other's keys. Letters, digits, `_`, `.`, `-`; at most 64 characters.
   * @default 'default'
   */
  readonly name?: string;
  /** @default memoryStore() */
  readonly store?: CacheStore;
  /**
   * Default milliseconds an entry stays fresh.
   * @default 300000
   */
  readonly ttl?: number;
  /** @default 0 */
  readonly staleWhileRevalidate?: number;
  /** @default strict JSON (rejects functions, symbols, bigints, Maps, Sets, cycles) */
  readonly serializer?: CacheSerializer;
  /** Where degradation and recovery are logged. @default no logging */
  readonly logger?: CacheLogger;
  /**
   * Distributed single-flight on stores that support locks (Redis, tiered); `false` turns it off.
   * @default { ttl: 5000, wait: 5000, retryInterval: 25 }
   */
  readonly lock?: CacheLockOptions | false;
  /**
   * Milliseconds between two log lines about the same backend failure.
   * @default 60000
   */
  readonly errorLogIntervalMs?: number;
  /**
   * Keys longer than this, or with characters outside printable ASCII (or glob characters),
   * are stored under their SHA-256.
   * @default 200
   */
  readonly maxKeyLength?: number;
}

export interface CacheStats extends Omit<TierStats, 'tier'> {
  readonly name: string;
  readonly store: string;
  /** Stale values served by `getOrSet` while refreshing. */
  readonly staleHits: number;
  /** Loader runs in this process. */
  readonly loads: number;
  readonly loadErrors: number;
  /** Backend failures swallowed by the cache. */
  readonly errors: number;
  readonly degraded: boolean;
  readonly tiers: readonly TierStats[];
}

/** What `healthCheck()` returns: compatible with `@shipshape/health`'s `check(name, fn)`. */
export interface CacheCheckOutcome {
  readonly status: 'pass' | 'warn' | 'fail';
  readonly output?: string;
}

export type CacheCheckFunction = (signal?: AbortSignal) => Promise<CacheCheckOutcome>;

export interface CacheHealthCheckOptions {
  /**
   * Milliseconds the store's ping may take before the check reports `warn`.
   * @default 50
   */
  readonly timeoutMs?: number;
}

export interface Cache {
  readonly name: string;
  readonly store: CacheStore;
  get<T = unknown>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown, options?: CacheSetOptions): Promise<void>;
  delete(key: string): Promise<boolean>;
  has(key: string): Promise<boolean>;
  /** Removes this cache's entries only (its namespace), never the whole database. */
  clear(): Promise<void>;
  getOrSet<T>(
    key: string,
    loader: () => T | Promise<T>,
    options?: CacheGetOrSetOptions,
  ): Promise<T>;
  /** Removes every entry with the tag, in every instance sharing the store. */
  invalidateTag(tag: string): Promise<number>;
  wrap<A extends unknown[], R>(
    fn: (...args: A) => R | Promise<R>,
    keyFn: (...args: A) => string,
    options?: CacheGetOrSetOptions,
  ): (...args: A) => Promise<R>;
  stats(): CacheStats;
  /** Exports stats to a prom-client Registry; returns a function that stops exporting. */
  metrics(registry: Registry): () => void;
  /**
   * A check for `@shipshape/health` (register it with `critical: false`): `warn` while the store
   * is unavailable. It pings the store and answers within `timeoutMs` (default 50) whatever the
   * store's own command timeout, so a probe never waits for an unreachable Redis.
   */
  healthCheck(options?: CacheHealthCheckOptions): CacheCheckFunction;
  /** Resolves once the store's background work (pub/sub subscription) is running. */
  ready(): Promise<void>;
  /** Stops background refreshes and subscriptions; closes the store. */
  close(): Promise<void>;
  dispose(): Promise<void>;
}
