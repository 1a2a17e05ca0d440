import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_URL, serviceAvailable } from '../../../test/helpers/index.js';
import { type Cache, createCache, memoryStore, redisStore, tieredStore } from '../src/index.js';
import { type Client, connect, deleteByPrefix, sleep, uniquePrefix, waitFor } from './helpers.js';

const redisUp = await serviceAvailable('redis');

describe.skipIf(!redisUp)('tieredStore (L1 memory + L2 Redis, pub/sub invalidation)', () => {
  let client: Client;
  const prefix = uniquePrefix('tiered');
  const caches: Cache[] = [];
  const subscribers: Client[] = [];

  /** One "instance": its own connections, its own L1, the shared Redis. */
  const instance = async (name = 'shared') => {
    const own = await connect(REDIS_URL);
    subscribers.push(own);
    const cache = createCache({
      name,
      store: tieredStore(memoryStore(), redisStore({ client: own, prefix }), {
        subscriber: async () => {
          const sub = own.duplicate();
          sub.on('error', () => undefined);
          await sub.connect();
          return sub;
        },
      }),
    });
    caches.push(cache);
    await cache.ready();
    return cache;
  };

  beforeAll(async () => {
    client = await connect(REDIS_URL);
  });
  afterAll(async () => {
    await Promise.all(caches.map((cache) => cache.close()));
    await Promise.all(subscribers.map((sub) => sub.close()));
    await deleteByPrefix(client, prefix);
    await client.close();
  });

  it('serves repeat reads from L1 and counts hits per tier', async () => {
    const cache = await instance('l1hits');
    await cache.set('k', { v: 1 });
    expect(await cache.get('k')).toEqual({ v: 1 });
    expect(await cache.get('k')).toEqual({ v: 1 });
    const [l1, l2] = cache.stats().tiers;
    expect(l1).toMatchObject({ tier: 'l1', hits: 2, sets: 1, entries: 1 });
    expect(l2).toMatchObject({ tier: 'l2', hits: 0, sets: 1, entries: null });
    expect(cache.stats().store).toBe('tiered');
  });

  it('drops L1 copies in other instances when a key is set or deleted', async () => {
    const a = await instance();
    const b = await instance();
    await a.set('user:1', 'v1');
    expect(await b.get('user:1')).toBe('v1'); // now in b's L1
    await a.set('user:1', 'v2');
    await waitFor(async () => (await b.get('user:1')) === 'v2');
    await a.delete('user:1');
    await waitFor(async () => (await b.get('user:1')) === undefined);
  });

  it('invalidates a tag in every instance, including their L1 copies', async () => {
    const a = await instance('tagged');
    const b = await instance('tagged');
    await a.set('p1', 1, { tags: ['products'] });
    await a.set('p2', 2, { tags: ['products'] });
    await a.set('o1', 3, { tags: ['orders'] });
    expect(await b.get('p1')).toBe(1);
    expect(await b.get('p2')).toBe(2);
    // Really served by b's L1 (a read overlapping a's own invalidation is rightly not kept, so
    // the copy may take one more read to settle).
    await waitFor(async () => {
      const l1HitsBefore = b.stats().tiers[0]?.hits ?? 0;
      expect(await b.get('p1')).toBe(1);
      return b.stats().tiers[0]?.hits === l1HitsBefore + 1;
    });
    expect(await a.invalidateTag('products')).toBe(2);
    await waitFor(
      async () => (await b.get('p1')) === undefined && (await b.get('p2')) === undefined,
    );
    expect(await b.get('o1')).toBe(3);
  });

  it('clear() in one instance empties the others (own namespace only)', async () => {
    const a = await instance('clr');
    const b = await instance('clr');
    const neighbour = await instance('neighbour');
    await a.set('k', 1);
    await neighbour.set('k', 'n');
    expect(await b.get('k')).toBe(1);
    await a.clear();
    await waitFor(async () => (await b.get('k')) === undefined);
    expect(await neighbour.get('k')).toBe('n');
  });

  it('does not keep in L1 a value read from Redis while an invalidation for it arrived', async () => {
    const a = await instance('race');
    // b's Redis replies to GET arrive 300 ms late, as over a slow link: the value is read before
    // a's write, the invalidation overtakes the reply.
    const own = await connect(REDIS_URL);
    subscribers.push(own);
    const slow = {
      async sendCommand(args: string[]) {
        const reply = await own.sendCommand(args);
        if (args[0] === 'GET') await sleep(300);
        return reply;
      },
    };
    const b = createCache({
      name: 'race',
      store: tieredStore(
        memoryStore(),
        redisStore({ client: slow, prefix, commandTimeoutMs: 5000 }),
        {
          subscriber: async () => {
            const sub = own.duplicate();
            sub.on('error', () => undefined);
            await sub.connect();
            return sub;
          },
        },
      ),
    });
    caches.push(b);
    await b.ready();
    await a.set('k', 'old');
    const inFlight = b.get('k');
    await sleep(50);
    await a.set('k', 'new');
    expect(await inFlight).toBe('old'); // concurrent with the write: either answer is fair
    await sleep(100); // the 'del' message has long arrived
    expect(b.stats().tiers[0]?.entries).toBe(0); // but 'old' was not kept in L1
    expect(await b.get('k')).toBe('new');
  });

  it('single-flights across instances through the Redis lock', async () => {
    const a = await instance('flight');
    const b = await instance('flight');
    let calls = 0;
    const loader = async () => {
      calls++;
      await sleep(100);
      return 'once';
    };
    const all = await Promise.all([
      ...Array.from({ length: 10 }, () => a.getOrSet('hot', loader)),
      ...Array.from({ length: 10 }, () => b.getOrSet('hot', loader)),
    ]);
    expect(new Set(all)).toEqual(new Set(['once']));
    expect(calls).toBe(1);
  });

  it('close() unsubscribes and closes the subscriber connection it created', async () => {
    const own = await connect(REDIS_URL);
    subscribers.push(own);
    let created: Client | undefined;
    const cache = createCache({
      name: 'closing',
      store: tieredStore(memoryStore(), redisStore({ client: own, prefix }), {
        subscriber: async () => {
          created = own.duplicate();
          created.on('error', () => undefined);
          await created.connect();
          return created;
        },
      }),
    });
    await cache.ready();
    expect(created?.isOpen).toBe(true);
    const channel = `${prefix}invalidate`;
    const listeners = async () =>
      Number(((await client.sendCommand(['PUBSUB', 'NUMSUB', channel])) as [string, number])[1]);
    const before = await listeners();
    await cache.close();
    expect(created?.isOpen).toBe(false);
    expect(await listeners()).toBe(before - 1);
    await cache.dispose(); // idempotent
  });

  it('validates its arguments', () => {
    const l2 = redisStore({ client, prefix });
    expect(() => tieredStore(l2 as never, l2, { subscriber: client })).toThrow(
      /tieredStore "l1" must be a memoryStore\(\)/,
    );
    expect(() => tieredStore(memoryStore(), l2, {} as never)).toThrow(
      /"subscriber" must be a Redis subscriber connection or a function/,
    );
  });
});
