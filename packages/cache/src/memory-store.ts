import { LRUCache } from 'lru-cache';
import { checkPositiveInteger, invalidOption, warnUnknownOptions } from './errors.js';
import type { CacheStore, StoredEntry, TierStats } from './types.js';

export interface MemoryStoreOptions {
  /**
   * Most entries held; the least recently used is evicted beyond it (never an error).
   * @default 10000
   */
  readonly maxEntries?: number;
  /**
   * Most bytes held, counted as the UTF-8 size of each serialised value plus its key. An entry
   * larger than this is not stored at all.
   * @default 67108864 (64 MiB)
   */
  readonly maxBytes?: number;
  /**
   * `false`: `get` returns the very object that was `set` (fast; callers must not mutate it).
   * `true`: every `get` returns a fresh copy decoded from the serialised form, exactly as a
   * Redis store would.
   * @default false
   */
  readonly clone?: boolean;
}

const KNOWN: { [K in keyof Required<MemoryStoreOptions>]: true } = {
  maxEntries: true,
  maxBytes: true,
  clone: true,
};

interface Held {
  readonly entry: StoredEntry;
  readonly size: number;
}

/** The stats counters a store keeps; internal. */
export class TierCounters {
  hits = 0;
  misses = 0;
  sets = 0;
  deletes = 0;
  evictions = 0;
  constructor(public tier: string) {}
  snapshot(entries: number | null, bytes: number | null): TierStats {
    const reads = this.hits + this.misses;
    return {
      tier: this.tier,
      hits: this.hits,
      misses: this.misses,
      sets: this.sets,
      deletes: this.deletes,
      evictions: this.evictions,
      entries,
      bytes,
      hitRate: reads === 0 ? 0 : this.hits / reads,
    };
  }
}

export interface MemoryStore extends CacheStore {
  readonly kind: 'memory';
  /** Renames the tier in stats (`l1` inside a tiered store). */
  setTierName(name: string): void;
}

/** An in-process LRU store on lru-cache, bounded by entries and bytes. */
export function memoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  const where = 'memoryStore';
  if (typeof options !== 'object' || options === null)
    throw invalidOption(where, 'options', options, 'an object');
  warnUnknownOptions(where, options, KNOWN, undefined);
  const maxEntries = checkPositiveInteger(where, 'maxEntries', options.maxEntries ?? 10_000);
  const maxBytes = checkPositiveInteger(where, 'maxBytes', options.maxBytes ?? 64 * 1024 * 1024);
  const clone = options.clone ?? false;
  if (typeof clone !== 'boolean') throw invalidOption(where, 'clone', clone, 'a boolean');

  const counters = new TierCounters('memory');
  const tagIndex = new Map<string, Set<string>>();

  const untag = (key: string, entry: StoredEntry) => {
    for (const tag of entry.tags) {
      const keys = tagIndex.get(tag);
      if (!keys) continue;
      keys.delete(key);
      if (keys.size === 0) tagIndex.delete(tag);
    }
  };

  const lru = new LRUCache<string, Held>({
    max: maxEntries,
    maxSize: maxBytes,
    sizeCalculation: (held) => held.size,
    dispose: (held, key, reason) => {
      untag(key, held.entry);
      if (reason === 'evict') counters.evictions++;
    },
  });

  const now = () => Date.now();

  const getLive = (key: string): StoredEntry | undefined => {
    const held = lru.get(key);
    if (!held) return undefined;
    if (held.entry.expiresAt <= now()) {
      lru.delete(key);
      return undefined;
    }
    return held.entry;
  };

  return {
    kind: 'memory',
    setTierName(name: string) {
      counters.tier = name;
    },
    async get(key) {
      const entry = getLive(key);
      if (entry) counters.hits++;
      else counters.misses++;
      return entry;
    },
    async set(key, entry) {
      const ttl = entry.expiresAt - now();
      if (ttl <= 0) {
        lru.delete(key);
        return;
      }
      const held: Held = {
        entry: clone
          ? {
              raw: entry.raw,
              freshUntil: entry.freshUntil,
              expiresAt: entry.expiresAt,
              tags: entry.tags,
            }
          : entry,
        size: Buffer.byteLength(entry.raw) + key.length,
      };
      counters.sets++;
      lru.set(key, held, { ttl: Math.ceil(ttl) });
      // lru-cache refuses entries larger than maxBytes; only index what it kept.
      if (lru.peek(key) !== held) return;
      for (const tag of entry.tags) {
        let keys = tagIndex.get(tag);
        if (!keys) {
          keys = new Set();
          tagIndex.set(tag, keys);
        }
        keys.add(key);
      }
    },
    async delete(keys) {
      let removed = 0;
      for (const key of keys) {
        const live = getLive(key) !== undefined;
        if (lru.delete(key) && live) removed++;
      }
      counters.deletes += removed;
      return removed;
    },
    async deleteTag(tag) {
      const keys = tagIndex.get(tag);
      if (!keys) return 0;
      let removed = 0;
      for (const key of [...keys]) if (lru.delete(key)) removed++;
      tagIndex.delete(tag);
      counters.deletes += removed;
      return removed;
    },
    async clear(prefix) {
      for (const key of [...lru.keys()]) if (key.startsWith(prefix)) lru.delete(key);
    },
    stats() {
      return [counters.snapshot(lru.size, lru.calculatedSize)];
    },
  };
}
