import { CACHE_WARNINGS } from './cache-warnings.js';
import { CacheError, show } from './errors.js';
import type { CacheLogger, CacheSerializer, CacheStore, StoredEntry } from './types.js';
import type { ResolvedWrite } from './write-options.js';

export type Decoded = { ok: true; value: unknown } | { ok: false };

/** Values to stored entries and back; an entry that cannot be read is dropped, not thrown. */
export interface Codec {
  encode(value: unknown, write: ResolvedWrite): StoredEntry;
  decode(sk: string, entry: StoredEntry): Decoded;
}

export function createCodec(
  name: string,
  serializer: CacheSerializer,
  store: CacheStore,
  logger: CacheLogger | undefined,
): Codec {
  return {
    encode(value, write) {
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
    },
    decode(sk, entry) {
      if ('value' in entry) return { ok: true, value: entry.value };
      try {
        return { ok: true, value: serializer.deserialize(entry.raw) };
      } catch (error) {
        logger?.warn(
          `@shipshape/cache: cache "${name}" dropped an entry it could not deserialise`,
          {
            code: CACHE_WARNINGS.corruptEntry,
            cache: name,
            error: error instanceof Error ? error.message : String(error),
          },
        );
        void store.delete([sk]).catch(() => undefined);
        return { ok: false };
      }
    },
  };
}
