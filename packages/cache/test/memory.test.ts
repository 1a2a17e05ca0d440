import { describe, expect, it, vi } from 'vitest';
import { CacheError, createCache, memoryStore } from '../src/index.js';
import { recordingLogger, sleep } from './helpers.js';

describe('createCache over memoryStore', () => {
  it('gets, sets, has, deletes and reports stats', async () => {
    const cache = createCache({ name: 'basic' });
    expect(await cache.get('a')).toBeUndefined();
    await cache.set('a', { n: 1 });
    expect(await cache.get('a')).toEqual({ n: 1 });
    expect(await cache.has('a')).toBe(true);
    expect(await cache.delete('a')).toBe(true);
    expect(await cache.delete('a')).toBe(false);
    expect(await cache.has('a')).toBe(false);
    const stats = cache.stats();
    expect(stats).toMatchObject({
      name: 'basic',
      store: 'memory',
      hits: 1,
      misses: 1,
      sets: 1,
      entries: 0,
    });
    expect(stats.hitRate).toBe(0.5);
    expect(stats.tiers[0]).toMatchObject({ tier: 'memory', sets: 1, deletes: 1 });
    await cache.close();
  });

  it('caches null, false, 0 and empty strings (only undefined means absent)', async () => {
    const cache = createCache();
    for (const [key, value] of [
      ['null', null],
      ['false', false],
      ['zero', 0],
      ['empty', ''],
    ] as const) {
      await cache.set(key, value);
      expect(await cache.get(key)).toBe(value);
      expect(await cache.has(key)).toBe(true);
    }
  });

  it('expires entries after their ttl', async () => {
    const cache = createCache({ ttl: 30 });
    await cache.set('short', 1);
    await cache.set('long', 2, { ttl: 5000 });
    await sleep(60);
    expect(await cache.get('short')).toBeUndefined();
    expect(await cache.get('long')).toBe(2);
  });

  it('evicts the least recently used entry when maxEntries is reached, never throwing', async () => {
    const store = memoryStore({ maxEntries: 3 });
    const cache = createCache({ store });
    for (const key of ['a', 'b', 'c']) await cache.set(key, key);
    await cache.get('a'); // a is now most recently used
    await cache.set('d', 'd');
    expect(await cache.get('b')).toBeUndefined();
    expect(await cache.get('a')).toBe('a');
    expect(await cache.get('d')).toBe('d');
    for (let i = 0; i < 100; i++) await cache.set(`k${i}`, i);
    expect(cache.stats().entries).toBe(3);
    expect(cache.stats().evictions).toBe(101);
  });

  it('bounds the bytes held and skips an entry larger than maxBytes', async () => {
    const cache = createCache({ store: memoryStore({ maxBytes: 1000 }) });
    for (let i = 0; i < 20; i++) await cache.set(`k${i}`, 'x'.repeat(100));
    const stats = cache.stats();
    expect(stats.bytes).toBeLessThanOrEqual(1000);
    expect(stats.entries).toBeLessThan(20);
    expect(stats.evictions).toBeGreaterThan(0);
    await expect(cache.set('huge', 'y'.repeat(5000))).resolves.toBeUndefined();
    expect(await cache.get('huge')).toBeUndefined();
    expect(await cache.get('k19')).toBe('x'.repeat(100));
  });

  it('shares references by default and returns copies with clone: true', async () => {
    const shared = createCache({ store: memoryStore() });
    const value = { list: [1] };
    await shared.set('v', value);
    expect(await shared.get('v')).toBe(value);

    const cloned = createCache({ store: memoryStore({ clone: true }) });
    await cloned.set('v', value);
    const first = await cloned.get<{ list: number[] }>('v');
    expect(first).toEqual(value);
    expect(first).not.toBe(value);
    first?.list.push(2);
    expect(await cloned.get('v')).toEqual({ list: [1] });
  });

  it('rejects ttl 0, negative, NaN and Infinity with a clear message', async () => {
    const cache = createCache();
    for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      const attempt = cache.set('k', 1, { ttl });
      await expect(attempt).rejects.toThrow(CacheError);
      await expect(attempt).rejects.toThrow(
        /^@shipshape\/cache: set "ttl" must be a positive finite number of milliseconds, got/,
      );
      await expect(cache.getOrSet('k', () => 1, { ttl })).rejects.toMatchObject({
        code: 'INVALID_TTL',
      });
    }
    await expect(cache.set('k', 1, { ttl: '10' as unknown as number })).rejects.toThrow(/got "10"/);
    expect(await cache.has('k')).toBe(false);
    expect(() => createCache({ ttl: 0 })).toThrow(
      /createCache "ttl" must be a positive finite number of milliseconds, got 0/,
    );
  });

  it('rejects values JSON cannot represent at set, naming where', async () => {
    const cache = createCache();
    const circular: Record<string, unknown> = { a: 1 };
    circular.self = circular;
    const cases: [unknown, RegExp][] = [
      [undefined, /the value is undefined/],
      [() => 1, /the value is a function/],
      [{ nested: { fn: () => 1 } }, /the value at nested\.fn is a function/],
      [{ big: 10n }, /the value at big is a bigint/],
      [{ s: Symbol('x') }, /the value at s is a symbol/],
      [[1, Number.NaN], /the value at 1 is NaN/],
      [new Map([[1, 2]]), /is a Map \(JSON would turn it into \{\}\)/],
      [{ set: new Set([1]) }, /the value at set is a Set/],
      [circular, /the value at self is a circular reference/],
    ];
    for (const [value, message] of cases) {
      const attempt = cache.set('bad', value);
      await expect(attempt).rejects.toMatchObject({ code: 'UNSERIALISABLE_VALUE' });
      await expect(attempt).rejects.toThrow(message);
    }
    expect(await cache.has('bad')).toBe(false);
    // Shared (non-cyclic) references and Dates are fine.
    const shared = { x: 1 };
    await cache.set('ok', { a: shared, b: shared, when: new Date(0) });
    expect(await cache.has('ok')).toBe(true);
  });

  it('hashes long and odd keys inside its namespace, and keeps them distinct', async () => {
    const store = memoryStore();
    const cache = createCache({ name: 'odd', store });
    const long = 'k'.repeat(10_000);
    const odd = [
      'with space',
      'ünïcödé',
      'glob*?[x]',
      'line\nbreak',
      '\u0000nul',
      long,
      `${long}!`,
    ];
    for (const [i, key] of odd.entries()) await cache.set(key, i);
    for (const [i, key] of odd.entries()) expect(await cache.get(key)).toBe(i);
    expect(cache.stats().entries).toBe(odd.length);
    expect(cache.stats().bytes).toBeLessThan(2000); // 10 kB keys are stored as 43-character hashes
    await expect(cache.get('' as string)).rejects.toThrow(
      /a cache key must be a non-empty string, got ""/,
    );
    await expect(cache.get(42 as unknown as string)).rejects.toMatchObject({ code: 'INVALID_KEY' });
  });

  it('clear() removes only its own namespace when two caches share a store', async () => {
    const store = memoryStore();
    const a = createCache({ name: 'a', store });
    const b = createCache({ name: 'b', store });
    await a.set('k', 'a');
    await b.set('k', 'b');
    await a.clear();
    expect(await a.get('k')).toBeUndefined();
    expect(await b.get('k')).toBe('b');
  });

  it('invalidates by tag', async () => {
    const cache = createCache();
    await cache.set('u1', 1, { tags: ['users'] });
    await cache.set('u2', 2, { tags: ['users', 'admins'] });
    await cache.set('p1', 3, { tags: ['posts'] });
    expect(await cache.invalidateTag('users')).toBe(2);
    expect(await cache.get('u1')).toBeUndefined();
    expect(await cache.get('u2')).toBeUndefined();
    expect(await cache.get('p1')).toBe(3);
    expect(await cache.invalidateTag('users')).toBe(0);
    // A key re-set without the tag is not hit by the old tag.
    await cache.set('p2', 4, { tags: ['admins'] });
    await cache.set('p2', 5);
    expect(await cache.invalidateTag('admins')).toBe(0);
    expect(await cache.get('p2')).toBe(5);
    await expect(cache.set('x', 1, { tags: [''] })).rejects.toThrow(
      /a cache tag must be a non-empty string/,
    );
  });

  it('validates options at factory time with messages naming the option', () => {
    expect(() => createCache({ name: 'has space' })).toThrow(
      /createCache "name" must be letters, digits/,
    );
    expect(() => memoryStore({ maxEntries: 0 })).toThrow(
      /memoryStore "maxEntries" must be a positive integer, got 0/,
    );
    expect(() => memoryStore({ maxBytes: 1.5 })).toThrow(/"maxBytes" must be a positive integer/);
    expect(() => memoryStore({ clone: 'yes' as never })).toThrow(/"clone" must be a boolean/);
    expect(() => createCache({ lock: { ttl: -1 } })).toThrow(
      /"lock.ttl" must be a positive finite number/,
    );
    expect(() => createCache({ staleWhileRevalidate: -5 })).toThrow(
      /"staleWhileRevalidate" must be a finite number of milliseconds >= 0, got -5/,
    );
  });
});

describe('getOrSet', () => {
  it('runs the loader once for 1,000 concurrent callers of one key', async () => {
    const cache = createCache();
    const loader = vi.fn(async () => {
      await sleep(20);
      return { loaded: true };
    });
    const results = await Promise.all(
      Array.from({ length: 1000 }, () => cache.getOrSet('hot', loader)),
    );
    expect(loader).toHaveBeenCalledTimes(1);
    expect(results.every((r) => r.loaded === true)).toBe(true);
    expect(cache.stats().loads).toBe(1);
    // Next call is a hit.
    await cache.getOrSet('hot', loader);
    expect(loader).toHaveBeenCalledTimes(1);
  });

  it('gives a throwing loader error to every waiter and caches nothing', async () => {
    const cache = createCache();
    let calls = 0;
    const failing = async () => {
      calls++;
      await sleep(10);
      throw new Error('origin down');
    };
    const settled = await Promise.allSettled(
      Array.from({ length: 50 }, () => cache.getOrSet('k', failing)),
    );
    expect(calls).toBe(1);
    expect(
      settled.every(
        (s) => s.status === 'rejected' && (s.reason as Error).message === 'origin down',
      ),
    ).toBe(true);
    expect(await cache.has('k')).toBe(false);
    expect(cache.stats().loadErrors).toBe(1);
    // The next call retries the loader.
    expect(await cache.getOrSet('k', () => 'recovered')).toBe('recovered');
    expect(await cache.get('k')).toBe('recovered');
  });

  it('does not cache a loader result of undefined', async () => {
    const cache = createCache();
    let calls = 0;
    const loader = () => {
      calls++;
      return undefined;
    };
    expect(await cache.getOrSet('none', loader)).toBeUndefined();
    expect(await cache.getOrSet('none', loader)).toBeUndefined();
    expect(calls).toBe(2);
  });

  it('rejects a loader value that cannot be serialised', async () => {
    const cache = createCache();
    await expect(cache.getOrSet('fn', () => ({ f: () => 1 }))).rejects.toMatchObject({
      code: 'UNSERIALISABLE_VALUE',
    });
  });

  it('serves stale values during staleWhileRevalidate and refreshes in the background once', async () => {
    const cache = createCache();
    let version = 0;
    const loader = vi.fn(async () => {
      await sleep(20);
      version++;
      return version;
    });
    expect(await cache.getOrSet('v', loader, { ttl: 40, staleWhileRevalidate: 5000 })).toBe(1);
    await sleep(60);
    // Stale: answered at once with the old value, one refresh for many callers. The refresh
    // writes with these callers' options; a long ttl keeps the refreshed value fresh however
    // late a loaded machine runs the polling below.
    const stale = await Promise.all(
      Array.from({ length: 10 }, () =>
        cache.getOrSet('v', loader, { ttl: 60_000, staleWhileRevalidate: 5000 }),
      ),
    );
    expect(stale).toEqual(Array(10).fill(1));
    expect(cache.stats().staleHits).toBe(10);
    // get() treats stale entries as misses.
    expect(await cache.get('v')).toBeUndefined();
    await vi.waitFor(async () => expect(await cache.get('v')).toBe(2));
    expect(loader).toHaveBeenCalledTimes(2);
  });

  it('keeps serving the stale value and logs when a background refresh fails', async () => {
    const logger = recordingLogger();
    const cache = createCache({ logger });
    await cache.set('v', 'old', { ttl: 20, staleWhileRevalidate: 5000 });
    await sleep(40);
    expect(
      await cache.getOrSet('v', () => Promise.reject(new Error('nope')), {
        ttl: 20,
        staleWhileRevalidate: 5000,
      }),
    ).toBe('old');
    await vi.waitFor(() =>
      expect(logger.lines.some((l) => l.meta?.code === 'SHIPSHAPE_CACHE_REFRESH_FAILED')).toBe(
        true,
      ),
    );
    expect(
      logger.lines.find((l) => l.meta?.code === 'SHIPSHAPE_CACHE_REFRESH_FAILED')?.meta?.error,
    ).toBe('nope');
  });

  it('wrap() caches a function by the key it derives', async () => {
    const cache = createCache();
    const square = vi.fn(async (n: number) => n * n);
    const cached = cache.wrap(square, (n) => `square:${n}`, { ttl: 1000 });
    expect(await cached(3)).toBe(9);
    expect(await cached(3)).toBe(9);
    expect(await cached(4)).toBe(16);
    expect(square).toHaveBeenCalledTimes(2);
    expect(() => cache.wrap(square, 'nope' as never)).toThrow(/wrap "keyFn" must be a function/);
    expect(() => cache.wrap(square, (n) => `${n}`, { ttl: 0 })).toThrow(/"ttl" must be a positive/);
  });

  it('refuses work after close()', async () => {
    const cache = createCache();
    await cache.close();
    await expect(cache.set('k', 1)).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(cache.getOrSet('k', () => 1)).rejects.toThrow(/cache "default" is closed/);
  });

  it('uses a pluggable serializer', async () => {
    const calls: string[] = [];
    const cache = createCache({
      store: memoryStore({ clone: true }),
      serializer: {
        serialize: (value) => {
          calls.push('ser');
          return `v1:${JSON.stringify(value)}`;
        },
        deserialize: (raw) => {
          calls.push('de');
          return JSON.parse(raw.slice(3));
        },
      },
    });
    await cache.set('k', { a: 1 });
    expect(await cache.get('k')).toEqual({ a: 1 });
    expect(calls).toEqual(['ser', 'de']);
  });
});
