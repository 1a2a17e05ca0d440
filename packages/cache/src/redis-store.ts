import { randomUUID } from 'node:crypto';
import { guardErrors } from './connection.js';
import {
  CacheError,
  checkPositiveInteger,
  checkPositiveNumber,
  invalidOption,
  warnUnknownOptions,
  withinTime,
} from './errors.js';
import { TierCounters } from './memory-store.js';
import type {
  CacheStore,
  RedisCommandClient,
  StoredEntry,
  StoreHealth,
  StoreHooks,
} from './types.js';

export interface RedisStoreOptions {
  /** Any client with `sendCommand(args: string[])` (node-redis v4+, or a small adapter). */
  readonly client: RedisCommandClient;
  /**
   * Prefix of every key this store writes; the cache adds its own namespace after it.
   * @default 'shipshape:cache:'
   */
  readonly prefix?: string;
  /**
   * Milliseconds before a command counts as failed (the cache then answers without Redis). A
   * healthy Redis on a LAN answers in well under a millisecond; this bounds what one request
   * pays while Redis stops answering, before the circuit opens. node-redis itself never times out
   * a command it has written, so a silent network failure would otherwise hang the call.
   * @default 100
   */
  readonly commandTimeoutMs?: number;
  /**
   * Consecutive failures that open the circuit (Redis is then skipped until `cooldownMs`).
   * @default 3
   */
  readonly failureThreshold?: number;
  /**
   * Milliseconds the circuit stays open before one probe command is let through.
   * @default 2000
   */
  readonly cooldownMs?: number;
}

const KNOWN: { [K in keyof Required<RedisStoreOptions>]: true } = {
  client: true,
  prefix: true,
  commandTimeoutMs: true,
  failureThreshold: true,
  cooldownMs: true,
};

// One round trip: the value, then each tag set gets the key and a TTL at least as long.
const SET_WITH_TAGS = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local ttl = tonumber(ARGV[2])
for i = 2, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[3])
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return 1`;

const DELETE_TAG = `
local members = redis.call('SMEMBERS', KEYS[1])
local removed = 0
for i = 1, #members do
  removed = removed + redis.call('DEL', ARGV[1] .. members[i])
end
redis.call('DEL', KEYS[1])
return removed`;

const RELEASE_LOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export interface RedisStore extends CacheStore {
  readonly kind: 'redis';
  readonly prefix: string;
  /** Publishes on a channel through the same breaker as every other command. */
  publish(channel: string, message: string): Promise<void>;
  setTierName(name: string): void;
}

/** Escapes Redis glob characters so a prefix matches only itself in SCAN MATCH. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

// Envelope: "<freshUntil> <expiresAt> <tags JSON>\n<raw>" — the raw value is not escaped again.
function encode(entry: StoredEntry): string {
  return `${entry.freshUntil} ${entry.expiresAt} ${JSON.stringify(entry.tags)}\n${entry.raw}`;
}

function decode(text: string): StoredEntry | undefined {
  const newline = text.indexOf('\n');
  if (newline < 0) return undefined;
  const header = text.slice(0, newline);
  const first = header.indexOf(' ');
  const second = header.indexOf(' ', first + 1);
  if (first < 0 || second < 0) return undefined;
  const freshUntil = Number(header.slice(0, first));
  const expiresAt = Number(header.slice(first + 1, second));
  let tags: unknown;
  try {
    tags = JSON.parse(header.slice(second + 1));
  } catch {
    return undefined;
  }
  if (!Number.isFinite(freshUntil) || !Number.isFinite(expiresAt) || !Array.isArray(tags))
    return undefined;
  return { raw: text.slice(newline + 1), freshUntil, expiresAt, tags: tags as string[] };
}

/**
 * A Redis store through a minimal client shape, with a circuit breaker: after
 * `failureThreshold` consecutive failures or timeouts, commands fail fast for `cooldownMs`, then
 * one probe decides whether to close the circuit again.
 */
export function redisStore(options: RedisStoreOptions): RedisStore {
  const where = 'redisStore';
  if (typeof options !== 'object' || options === null)
    throw invalidOption(where, 'options', options, 'an object with a "client"');
  warnUnknownOptions(where, options, KNOWN, undefined);
  const { client } = options;
  if (typeof client !== 'object' || client === null || typeof client.sendCommand !== 'function') {
    throw invalidOption(
      where,
      'client',
      client,
      'a Redis client with sendCommand(args: string[]) (node-redis v4+ or an adapter)',
    );
  }
  const prefix = options.prefix ?? 'shipshape:cache:';
  if (typeof prefix !== 'string') throw invalidOption(where, 'prefix', prefix, 'a string');
  const commandTimeoutMs = checkPositiveNumber(
    where,
    'commandTimeoutMs',
    options.commandTimeoutMs ?? 100,
  );
  const failureThreshold = checkPositiveInteger(
    where,
    'failureThreshold',
    options.failureThreshold ?? 3,
  );
  const cooldownMs = checkPositiveNumber(where, 'cooldownMs', options.cooldownMs ?? 2000);
  // A node-redis client with no 'error' listener would crash the process on the first lost
  // connection; this store answers outages through its circuit instead. Removed by close().
  let releaseErrors: (() => void) | undefined = guardErrors(client);

  const counters = new TierCounters('redis');
  const hooks: StoreHooks[] = [];
  let failures = 0;
  let openUntil = 0;
  let open = false;
  let probing = false;
  let lastError: unknown;
  let openedAt = 0;

  const send = async (args: string[]): Promise<unknown> => {
    let probe = false;
    if (open) {
      if (Date.now() < openUntil || probing) {
        throw new CacheError(
          'REDIS_UNAVAILABLE',
          `Redis is unavailable (circuit open since ${new Date(openedAt).toISOString()}); skipping ${args[0]}`,
          { cause: lastError },
        );
      }
      probing = true;
      probe = true;
    }
    try {
      const reply = await withinTime(
        client.sendCommand(args),
        commandTimeoutMs,
        () => `Redis ${args[0]} did not answer within ${commandTimeoutMs} ms`,
      );
      failures = 0;
      if (open) {
        open = false;
        for (const hook of hooks) hook.onStateChange?.('up', { tier: counters.tier });
      }
      return reply;
    } catch (error) {
      lastError = error;
      failures++;
      if (open || failures >= failureThreshold) {
        if (!open) {
          open = true;
          openedAt = Date.now();
          for (const hook of hooks) hook.onStateChange?.('down', { tier: counters.tier, error });
        }
        openUntil = Date.now() + cooldownMs;
      }
      throw error;
    } finally {
      if (probe) probing = false;
    }
  };

  const asString = (reply: unknown): string | undefined => {
    if (typeof reply === 'string') return reply;
    if (Buffer.isBuffer(reply)) return reply.toString('utf8');
    return undefined;
  };

  return {
    kind: 'redis',
    prefix,
    setTierName(name: string) {
      counters.tier = name;
    },
    attach(next) {
      hooks.push(next);
    },
    async get(key) {
      const text = asString(await send(['GET', prefix + key]));
      const entry = text === undefined ? undefined : decode(text);
      if (entry && entry.expiresAt > Date.now()) {
        counters.hits++;
        return entry;
      }
      counters.misses++;
      return undefined;
    },
    async set(key, entry) {
      const ttl = Math.ceil(entry.expiresAt - Date.now());
      if (ttl <= 0) {
        await send(['DEL', prefix + key]);
        return;
      }
      if (entry.tags.length === 0) {
        await send(['SET', prefix + key, encode(entry), 'PX', String(ttl)]);
      } else {
        const tagKeys = entry.tags.map((tag) => prefix + tag);
        await send([
          'EVAL',
          SET_WITH_TAGS,
          String(1 + tagKeys.length),
          prefix + key,
          ...tagKeys,
          encode(entry),
          String(ttl),
          key,
        ]);
      }
      counters.sets++;
    },
    async delete(keys) {
      if (keys.length === 0) return 0;
      const removed = Number(await send(['DEL', ...keys.map((key) => prefix + key)]));
      counters.deletes += removed;
      return removed;
    },
    async deleteTag(tag) {
      const removed = Number(await send(['EVAL', DELETE_TAG, '1', prefix + tag, prefix]));
      counters.deletes += removed;
      return removed;
    },
    async clear(namespace) {
      const match = `${escapeGlob(prefix + namespace)}*`;
      let cursor = '0';
      do {
        const reply = (await send(['SCAN', cursor, 'MATCH', match, 'COUNT', '1000'])) as [
          unknown,
          unknown[],
        ];
        cursor = asString(reply[0]) ?? '0';
        const keys = reply[1]
          .map((key) => asString(key))
          .filter((key): key is string => key !== undefined);
        if (keys.length > 0) await send(['UNLINK', ...keys]);
      } while (cursor !== '0');
    },
    async lock(key, ttlMs) {
      const token = randomUUID();
      const reply = await send(['SET', prefix + key, token, 'NX', 'PX', String(Math.ceil(ttlMs))]);
      return reply === null || reply === undefined ? null : token;
    },
    async unlock(key, token) {
      await send(['EVAL', RELEASE_LOCK, '1', prefix + key, token]);
    },
    async publish(channel, message) {
      await send(['PUBLISH', channel, message]);
    },
    async ping() {
      await send(['PING']);
    },
    health(): StoreHealth {
      if (!open) return { status: 'up' };
      const reason = lastError instanceof Error ? lastError.message : String(lastError);
      return {
        status: 'degraded',
        output: `Redis unavailable since ${new Date(openedAt).toISOString()}: ${reason}`,
      };
    },
    stats() {
      return [counters.snapshot(null, null)];
    },
    async close() {
      // The client belongs to the caller: only this store's listener goes.
      releaseErrors?.();
      releaseErrors = undefined;
    },
  };
}
