import { randomUUID } from 'node:crypto';
import { isEventSource, listen } from './connection.js';
import { CacheError, checkPositiveNumber, invalidOption, warnUnknownOptions } from './errors.js';
import type { MemoryStore } from './memory-store.js';
import type { RedisStore } from './redis-store.js';
import type { CacheStore, RedisSubscriber, StoredEntry, StoreHooks } from './types.js';

export interface TieredStoreOptions {
  /**
   * The connection that receives invalidations, or a function that returns one (called by
   * `init()`; called again after a failure). With node-redis pass `client.duplicate()`, or
   * `() => client.duplicate()`, *not yet connected*: the store adds its `'error'` listener first
   * and then connects it, so an outage (even one at startup) is never an uncaught exception. The
   * store closes a subscriber it created or connected; one that was given already connected is
   * only unsubscribed.
   */
  readonly subscriber: RedisSubscriber | (() => RedisSubscriber | Promise<RedisSubscriber>);
  /**
   * Pub/sub channel shared by every instance of this cache.
   * @default `${redis.prefix}invalidate`
   */
  readonly channel?: string;
  /**
   * Longest time an entry stays in L1, whatever its TTL, bounding staleness if an
   * invalidation is lost.
   * @default 60000
   */
  readonly l1MaxTtl?: number;
}

const KNOWN: { [K in keyof Required<TieredStoreOptions>]: true } = {
  subscriber: true,
  channel: true,
  l1MaxTtl: true,
};

interface Invalidation {
  /** Sender instance. */
  readonly i: string;
  readonly op: 'del' | 'tag' | 'clear';
  readonly keys?: readonly string[];
  readonly tag?: string;
  readonly prefix?: string;
}

export interface TieredStore extends CacheStore {
  readonly kind: 'tiered';
  /** Whether L1 is in use (the subscription is live). */
  readonly subscribed: boolean;
}

/**
 * L1 in process, L2 in Redis. Every write, delete, tag invalidation and clear is published so
 * other instances drop their L1 copies. L1 serves only while the subscription is live; when
 * Redis comes back after an outage, L1 is emptied because invalidations may have been missed.
 */
export function tieredStore(
  l1: MemoryStore,
  l2: RedisStore,
  options: TieredStoreOptions,
): TieredStore {
  const where = 'tieredStore';
  if (l1?.kind !== 'memory') throw invalidOption(where, 'l1', l1, 'a memoryStore()');
  if (l2?.kind !== 'redis') throw invalidOption(where, 'l2', l2, 'a redisStore()');
  if (typeof options !== 'object' || options === null)
    throw invalidOption(where, 'options', options, 'an object with a "subscriber"');
  warnUnknownOptions(where, options, KNOWN, undefined);
  const subscriberOption = options.subscriber;
  if (
    typeof subscriberOption !== 'function' &&
    (typeof subscriberOption !== 'object' ||
      subscriberOption === null ||
      typeof subscriberOption.subscribe !== 'function')
  ) {
    throw invalidOption(
      where,
      'subscriber',
      subscriberOption,
      'a Redis subscriber connection or a function that returns one',
    );
  }
  const channel = options.channel ?? `${l2.prefix}invalidate`;
  if (typeof channel !== 'string' || channel === '')
    throw invalidOption(where, 'channel', channel, 'a non-empty string');
  const l1MaxTtl = checkPositiveNumber(where, 'l1MaxTtl', options.l1MaxTtl ?? 60_000);

  l1.setTierName('l1');
  l2.setTierName('l2');
  const instance = randomUUID();
  let subscriber: RedisSubscriber | undefined;
  let ownsSubscriber = false;
  let releaseSubscriber: (() => void) | undefined;
  let subscribed = false;
  let subscriberError: unknown;
  // Tag and clear invalidations (and reconnects) bump the generation; key deletions mark the
  // reads of that key in flight.
  let generation = 0;
  const reads = new Map<string, { stale: boolean }[]>();
  let closed = false;
  let starting: Promise<void> | undefined;
  let attempt = 0;
  const sleepers = new Set<() => void>();
  const hooks: StoreHooks[] = [];

  const onMessage = (message: string) => {
    let parsed: Invalidation;
    try {
      parsed = JSON.parse(message) as Invalidation;
    } catch {
      return;
    }
    if (parsed.i === instance) return;
    if (parsed.op === 'del' && Array.isArray(parsed.keys)) {
      for (const key of parsed.keys) for (const read of reads.get(key) ?? []) read.stale = true;
    } else {
      generation++;
    }
    if (parsed.op === 'del' && Array.isArray(parsed.keys)) void l1.delete(parsed.keys);
    else if (parsed.op === 'tag' && typeof parsed.tag === 'string') void l1.deleteTag(parsed.tag);
    else if (parsed.op === 'clear' && typeof parsed.prefix === 'string')
      void l1.clear(parsed.prefix);
  };

  /** Waits `ms` (unref'd), or less when the subscriber becomes ready or the store closes. */
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      sleepers.add(done);
    });
  const wake = () => {
    for (const done of [...sleepers]) done();
  };
  const backoff = () => Math.min(100 * 2 ** attempt++, 5000);

  // While the subscriber is away L1 keeps serving (the outage policy: reads go to L1 and loaders),
  // bounded by l1MaxTtl. Invalidations sent meanwhile are lost, so L1 is emptied once it is back.
  const onConnectionLost = () => {
    generation++;
  };
  const onSubscriberError = (error: unknown) => {
    // Never rethrown: an 'error' event without a listener would crash the process.
    subscriberError = error;
  };
  const onConnectionBack = () => {
    if (closed) return;
    generation++;
    subscriberError = undefined;
    void l1.clear('');
    const sub = subscriber;
    // node-redis resubscribes by itself; asking again is a no-op then, and repairs a subscription
    // that was dropped while disconnected. A subscribe still failing is retried by start().
    if (subscribed && sub) void Promise.resolve(sub.subscribe(channel, onMessage)).catch(() => {});
    wake();
  };
  // The client gave up reconnecting (node-redis: reconnectStrategy returned false or an Error).
  const onTerminated = () => {
    const sub = subscriber;
    if (closed || !sub || !ownsSubscriber || sub.isOpen !== false) return;
    generation++;
    void (async () => {
      while (!closed && subscriber === sub && sub.isOpen === false) {
        await pause(backoff());
        if (closed || subscriber !== sub || sub.isOpen !== false) return;
        await Promise.resolve(sub.connect?.()).catch(() => {});
      }
    })();
  };

  const closeOwned = async (sub: RedisSubscriber) => {
    const closable = sub as {
      destroy?: () => unknown;
      disconnect?: () => unknown;
      close?: () => Promise<unknown>;
      quit?: () => Promise<unknown>;
    };
    try {
      if (typeof closable.destroy === 'function') closable.destroy();
      else if (typeof closable.disconnect === 'function') await closable.disconnect();
      else await bounded(closable.close?.() ?? closable.quit?.());
    } catch {
      // Already closed, or closing failed: either way it is no longer ours.
    }
  };

  const start = async () => {
    while (!closed && subscriber === undefined) {
      if (typeof subscriberOption !== 'function') {
        subscriber = subscriberOption;
        break;
      }
      try {
        const created = await subscriberOption();
        if (closed) {
          await closeOwned(created);
          return;
        }
        subscriber = created;
        ownsSubscriber = true;
      } catch (error) {
        subscriberError = error;
        await pause(backoff());
      }
    }
    const sub = subscriber;
    if (closed || !sub) return;
    if (isEventSource(sub)) {
      releaseSubscriber = listen(sub, {
        error: onSubscriberError,
        reconnecting: onConnectionLost,
        end: onConnectionLost,
        terminated: onTerminated,
        ready: onConnectionBack,
      });
    }
    if (sub.isOpen === false && typeof sub.connect === 'function') {
      // Connected here, after the 'error' listener is in place; reconnects are the client's.
      ownsSubscriber = true;
      Promise.resolve(sub.connect()).catch(onSubscriberError);
    }
    // A SUBSCRIBE queued while the connection is down is dropped by node-redis, so try until one
    // succeeds; the 'ready' event cuts the wait short.
    while (!closed) {
      try {
        await sub.subscribe(channel, onMessage);
        attempt = 0;
        subscribed = !closed;
        return;
      } catch (error) {
        subscriberError = error;
        await pause(backoff());
      }
    }
  };

  const publish = (message: Omit<Invalidation, 'i'>) =>
    l2.publish(channel, JSON.stringify({ i: instance, ...message }));

  l2.attach?.({
    onStateChange(state, detail) {
      // Invalidations sent while Redis was away never reached us.
      if (state === 'up') void l1.clear('');
      for (const hook of hooks) hook.onStateChange?.(state, detail);
    },
  });

  const toL1 = (entry: StoredEntry): StoredEntry => {
    const cap = Date.now() + l1MaxTtl;
    if (entry.expiresAt <= cap) return entry;
    return { ...entry, expiresAt: cap, freshUntil: Math.min(entry.freshUntil, cap) };
  };

  return {
    kind: 'tiered',
    get subscribed() {
      return subscribed;
    },
    attach(next) {
      hooks.push(next);
    },
    init() {
      if (closed) return Promise.reject(new CacheError('CLOSED', 'tieredStore is closed'));
      starting ??= start();
      return starting;
    },
    async get(key) {
      if (subscribed) {
        const local = await l1.get(key);
        if (local) return local;
      }
      // An invalidation that arrives during the read may concern this value: then do not keep it.
      const before = generation;
      const read = { stale: false };
      const sameKey = reads.get(key) ?? [];
      sameKey.push(read);
      reads.set(key, sameKey);
      let remote: StoredEntry | undefined;
      try {
        remote = await l2.get(key);
      } finally {
        sameKey.splice(sameKey.indexOf(read), 1);
        if (sameKey.length === 0) reads.delete(key);
      }
      if (remote && subscribed && !read.stale && generation === before)
        await l1.set(key, toL1(remote));
      return remote;
    },
    async set(key, entry) {
      if (subscribed) await l1.set(key, toL1(entry));
      await l2.set(key, entry);
      await publish({ op: 'del', keys: [key] });
    },
    async delete(keys) {
      const local = await l1.delete(keys);
      try {
        const removed = await l2.delete(keys);
        await publish({ op: 'del', keys });
        return removed;
      } catch (error) {
        if (local > 0) return local;
        throw error;
      }
    },
    async deleteTag(tag) {
      const local = await l1.deleteTag(tag);
      try {
        const removed = await l2.deleteTag(tag);
        await publish({ op: 'tag', tag });
        return removed;
      } catch (error) {
        if (local > 0) return local;
        throw error;
      }
    },
    async clear(prefix) {
      await l1.clear(prefix);
      await l2.clear(prefix);
      await publish({ op: 'clear', prefix });
    },
    lock: (key, ttlMs) => (l2.lock as NonNullable<RedisStore['lock']>)(key, ttlMs),
    unlock: (key, token) => (l2.unlock as NonNullable<RedisStore['unlock']>)(key, token),
    ping: () => l2.ping?.() ?? Promise.resolve(),
    health() {
      const remote = l2.health?.() ?? { status: 'up' };
      if (remote.status === 'up' && !subscribed && starting) {
        const reason =
          subscriberError === undefined
            ? ''
            : ` (${subscriberError instanceof Error ? subscriberError.message : String(subscriberError)})`;
        return {
          status: 'degraded',
          output: `not subscribed to invalidations${reason}; L1 is bypassed until the subscription is back`,
        };
      }
      return remote.status === 'up'
        ? remote
        : {
            ...remote,
            output: `${remote.output ?? 'Redis unavailable'}; serving from L1 and loaders`,
          };
    },
    stats() {
      return [...l1.stats(), ...l2.stats()];
    },
    async close() {
      if (closed) return;
      closed = true;
      subscribed = false;
      wake();
      // A subscriber still being created is closed by start() when it arrives; a pending
      // subscribe (Redis unreachable) is not waited for.
      const sub = subscriber;
      subscriber = undefined;
      if (sub) {
        if (ownsSubscriber) {
          await closeOwned(sub);
        } else {
          await bounded(Promise.resolve(sub.unsubscribe(channel, onMessage)));
        }
        // After closing: a client closing without our 'error' listener could still emit one.
        releaseSubscriber?.();
        releaseSubscriber = undefined;
      }
      await l2.close?.();
    },
  };
}

/** Settles when `promise` does or after `ms` (unref'd), whichever is first; never rejects. */
function bounded(promise: Promise<unknown> | undefined, ms = 1000): Promise<void> {
  if (promise === undefined) return Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.then(
      () => undefined,
      () => undefined,
    ),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}
