import { guardErrors } from './connection.js';
import { describeValue } from './edge.js';
import { optionError } from './options.js';
import type { RedisCommandClient } from './types.js';
import { createWarner, warnUnknownOptions } from './warnings.js';

/** An active block of one client key (an IPv4 address or an IPv6 prefix like `2001:db8::/56`). */
export interface IpBlock {
  readonly key: string;
  /** Epoch milliseconds when the block ends. */
  readonly until: number;
  readonly reason: string;
}

/**
 * Where `ipFilter` keeps blocks and rate-limit hit counts. Memory serves one process; Redis makes
 * every instance agree. All methods may be sync or async.
 */
export interface IpBlockStore {
  block(key: string, durationMs: number, reason: string): Promise<void> | void;
  /** Returns whether a block existed. */
  unblock(key: string): Promise<boolean> | boolean;
  blocked(key: string): Promise<IpBlock | undefined> | IpBlock | undefined;
  /** Counts one rate-limit hit for `key` in a window starting at its first hit; returns the count. */
  hit(key: string, windowMs: number): Promise<number> | number;
  close?(): Promise<void> | void;
}

const SWEEP_AT = 10_000;

/** Per-process store (no timers: expired entries are dropped on access and by size sweeps). */
export function memoryIpStore(): IpBlockStore {
  const blocks = new Map<string, IpBlock>();
  const hits = new Map<string, { count: number; resetAt: number }>();
  const sweep = (now: number) => {
    for (const [k, v] of blocks) if (v.until <= now) blocks.delete(k);
    for (const [k, v] of hits) if (v.resetAt <= now) hits.delete(k);
  };
  return {
    block(key, durationMs, reason) {
      const now = Date.now();
      if (blocks.size >= SWEEP_AT) sweep(now);
      blocks.set(key, { key, until: now + durationMs, reason });
    },
    unblock(key) {
      hits.delete(key);
      return blocks.delete(key);
    },
    blocked(key) {
      const block = blocks.get(key);
      if (block && block.until <= Date.now()) {
        blocks.delete(key);
        return undefined;
      }
      return block;
    },
    hit(key, windowMs) {
      const now = Date.now();
      if (hits.size >= SWEEP_AT) sweep(now);
      const entry = hits.get(key);
      if (!entry || entry.resetAt <= now) {
        hits.set(key, { count: 1, resetAt: now + windowMs });
        return 1;
      }
      entry.count += 1;
      return entry.count;
    },
    close() {
      blocks.clear();
      hits.clear();
    },
  };
}

export interface RedisIpStoreOptions {
  /** Key prefix in Redis. @default 'shipshape:ip:' */
  readonly prefix?: string;
}

const HIT_SCRIPT =
  "local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return n";

/**
 * Blocks and hit counts in Redis, so all instances agree. `client` is anything with
 * `sendCommand(args: string[])` (node-redis v4+ as is). Keys expire on their own (PX). Timeouts
 * and the circuit breaker are `ipFilter`'s (`storeTimeoutMs`, `storeFailureThreshold`,
 * `storeCooldownMs`); `close()` only removes the `'error'` listener this store may have added.
 */
export function redisIpStore(
  client: RedisCommandClient,
  options: RedisIpStoreOptions = {},
): IpBlockStore {
  warnUnknownOptions(createWarner(undefined, undefined), 'redisIpStore', options, {
    prefix: true,
  } satisfies { readonly [K in keyof Required<RedisIpStoreOptions>]: true });
  if (!client || typeof client.sendCommand !== 'function')
    throw optionError(
      `@shipshape/security: redisIpStore needs a client with sendCommand(args: string[]) (node-redis v4+), got ${describeValue(client)}`,
    );
  const prefix = options.prefix ?? 'shipshape:ip:';
  if (typeof prefix !== 'string')
    throw optionError(
      `@shipshape/security: redisIpStore "prefix" must be a string, got ${describeValue(prefix)}`,
    );
  const blockKey = (key: string) => `${prefix}block:${key}`;
  const hitKey = (key: string) => `${prefix}hits:${key}`;
  // A node-redis client without an 'error' listener would crash the process when its connection
  // drops; ipFilter reports outages itself. close() removes the listener (never the client).
  let release = guardErrors(client);
  return {
    close() {
      release?.();
      release = undefined;
    },
    async block(key, durationMs, reason) {
      const until = Date.now() + durationMs;
      await client.sendCommand([
        'SET',
        blockKey(key),
        JSON.stringify({ until, reason }),
        'PX',
        String(Math.max(1, Math.ceil(durationMs))),
      ]);
    },
    async unblock(key) {
      const removed = await client.sendCommand(['DEL', blockKey(key), hitKey(key)]);
      return Number(removed) > 0;
    },
    async blocked(key) {
      const raw = await client.sendCommand(['GET', blockKey(key)]);
      if (raw === null || raw === undefined) return undefined;
      try {
        const parsed = JSON.parse(String(raw)) as { until?: unknown; reason?: unknown };
        const until = typeof parsed.until === 'number' ? parsed.until : Date.now();
        return {
          key,
          until,
          reason: typeof parsed.reason === 'string' ? parsed.reason : 'blocked',
        };
      } catch {
        // A value written by something else still means "blocked".
        return { key, until: Date.now(), reason: 'blocked' };
      }
    },
    async hit(key, windowMs) {
      const count = await client.sendCommand([
        'EVAL',
        HIT_SCRIPT,
        '1',
        hitKey(key),
        String(Math.max(1, Math.ceil(windowMs))),
      ]);
      return Number(count);
    },
  };
}
