import { CacheError, checkNonNegativeNumber, invalidOption, show } from './errors.js';
import type { CacheSetOptions } from './types.js';

const SET_KNOWN: { [K in keyof Required<CacheSetOptions>]: true } = {
  ttl: true,
  tags: true,
  staleWhileRevalidate: true,
};

/** The options of one write, resolved against the cache's defaults. */
export interface ResolvedWrite {
  readonly ttl: number;
  readonly swr: number;
  /** Storage keys of the tags. */
  readonly tags: readonly string[];
}

/** Checks the per-call options of `set`, `getOrSet` and `wrap` against the cache's defaults. */
export function writeOptions(
  defaultTtl: number,
  defaultSwr: number,
  tagOf: (tag: string) => string,
  warnUnknown: (op: string, opts: object, known: Readonly<Record<string, true>>) => void,
): (opts: CacheSetOptions | undefined, op: string) => ResolvedWrite {
  return (opts, op) => {
    if (opts === undefined) return { ttl: defaultTtl, swr: defaultSwr, tags: [] };
    if (typeof opts !== 'object' || opts === null)
      throw invalidOption(op, 'options', opts, 'an object');
    warnUnknown(op, opts, SET_KNOWN);
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
}
