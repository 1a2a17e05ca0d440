import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SpareRedis, serviceAvailable, startSpareRedis } from '../../../test/helpers/index.js';
import { type Cache, createCache, memoryStore, redisStore, tieredStore } from '../src/index.js';
import { type Client, connect, sleep, waitFor } from './helpers.js';

const redisUp = await serviceAvailable('redis');

describe.skipIf(!redisUp)('tiered invalidation after Redis restarts (private redis-server)', () => {
  let spare: SpareRedis;
  const clients: Client[] = [];
  const caches: Cache[] = [];

  const instance = async () => {
    const own = await connect(spare.url);
    clients.push(own);
    const cache = createCache({
      name: 'resub',
      store: tieredStore(
        memoryStore(),
        redisStore({
          client: own,
          prefix: 'resub:',
          commandTimeoutMs: 200,
          failureThreshold: 1,
          cooldownMs: 200,
        }),
        {
          subscriber: async () => {
            const sub = own.duplicate();
            sub.on('error', () => undefined);
            await sub.connect();
            clients.push(sub);
            return sub;
          },
        },
      ),
    });
    caches.push(cache);
    await cache.ready();
    return cache;
  };

  beforeAll(async () => {
    spare = await startSpareRedis();
  });
  afterAll(async () => {
    await Promise.all(caches.map((cache) => cache.close()));
    for (const client of clients) client.destroy();
    await spare.stop();
  });

  it('other instances still drop their L1 copies after the subscriber reconnected', async () => {
    const a = await instance();
    const b = await instance();
    await a.set('k', 'v1');
    expect(await b.get('k')).toBe('v1');

    await spare.stop();
    await spare.start();
    await waitFor(() => clients.every((client) => client.isReady), 5000);
    await sleep(250);
    await waitFor(
      async () =>
        (await a.healthCheck()()).status === 'pass' && (await b.healthCheck()()).status === 'pass',
      5000,
    );

    await a.set('k', 'v2');
    await sleep(100); // let a's invalidation arrive first, or b rightly declines to keep its read in L1
    expect(await b.get('k')).toBe('v2'); // L1 was emptied on recovery; now in b's L1 again
    const l1Hits = b.stats().tiers[0]?.hits ?? 0;
    expect(await b.get('k')).toBe('v2');
    expect(b.stats().tiers[0]?.hits).toBe(l1Hits + 1);
    await a.set('k', 'v3');
    await waitFor(async () => (await b.get('k')) === 'v3', 5000);
  });
});
