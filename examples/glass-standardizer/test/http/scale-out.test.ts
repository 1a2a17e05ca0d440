import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { POSTGRES_URL, REDIS_URL, serviceAvailable } from '../../../../test/helpers/index.js';
import { SAMPLES } from '../helpers.js';
import { type ChildGlass, spawnGlass, waitDone } from './child.js';
import { upload } from './support.js';

const redisUp = await serviceAvailable('redis');
const postgresUp = await serviceAvailable('postgres');

const TINY_CSV =
  'PATIENT_ID,SEX,AGE,SPEC_DATE,SPEC_TYPE,ORGANISM,CIP_ND10\nP1,f,40,03/02/2024,blood,escherichia coli,R\n';

async function deleteKeys(prefix: string): Promise<number> {
  const client = createClient({ url: REDIS_URL });
  await client.connect();
  let deleted = 0;
  try {
    for await (const batch of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) {
      const keys = (Array.isArray(batch) ? batch : [batch]) as string[];
      if (keys.length > 0) deleted += await client.del(keys);
    }
  } finally {
    await client.quit();
  }
  return deleted;
}

/** Waits (≤ 5 s) until Redis holds a key matching `pattern`. */
async function waitForKey(pattern: string): Promise<void> {
  const client = createClient({ url: REDIS_URL });
  await client.connect();
  try {
    await vi.waitFor(async () => expect(await client.keys(pattern)).not.toHaveLength(0), {
      timeout: 5_000,
      interval: 20,
    });
  } finally {
    await client.quit();
  }
}

describe.skipIf(!redisUp || !postgresUp)(
  'two instances sharing the real Redis and PostgreSQL (child processes)',
  () => {
    const run = randomBytes(4).toString('hex');
    const schema = `glass_scale_${run}`;
    const prefix = `glass-scale-${run}:`;
    const dir = mkdtempSync(join(tmpdir(), 'glass-scale-'));
    let a: ChildGlass;
    let b: ChildGlass;
    let datasetId = '';

    beforeAll(async () => {
      const shared = {
        REDIS_URL,
        DATABASE_URL: POSTGRES_URL,
        DATABASE_SCHEMA: schema,
        REDIS_PREFIX: prefix,
        LOG_LEVEL: 'warn',
      };
      // Both start at once, as replicas of a deployment do: the schema is created concurrently.
      [a, b] = await Promise.all([
        spawnGlass({ ...shared, DATA_DIR: join(dir, 'a/data'), LOG_DIR: join(dir, 'a/logs') }),
        spawnGlass({ ...shared, DATA_DIR: join(dir, 'b/data'), LOG_DIR: join(dir, 'b/logs') }),
      ]);
    }, 90_000);

    afterAll(async () => {
      const exits = await Promise.all([a?.stop(), b?.stop()]);
      const db = new pg.Client({ connectionString: POSTGRES_URL });
      await db.connect();
      try {
        await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await db.end();
      }
      await deleteKeys(prefix);
      rmSync(dir, { recursive: true, force: true });
      for (const [i, exit] of exits.entries())
        if (exit) expect(exit, [a, b][i]?.output()).toEqual({ code: 0, signal: null });
    }, 60_000);

    it('a dataset uploaded to A is listed and served by B with the identical RIS file', async () => {
      const res = await upload(
        a.url,
        { path: join(SAMPLES, 'lab_a_2024.csv') },
        { country: 'KEN', year: '2024', batchId: 'A-2024' },
      );
      expect(res.status).toBe(202);
      datasetId = ((await res.json()) as { id: string }).id;
      const done = await waitDone(b.url, datasetId);
      expect(done.status).toBe('done');

      const list = (await (await fetch(`${b.url}/api/datasets`)).json()) as {
        items: { id: string }[];
      };
      expect(list.items.map((item) => item.id)).toContain(datasetId);

      const [risA, risB] = await Promise.all(
        [a, b].map(async (instance) => {
          const ris = await fetch(`${instance.url}/api/datasets/${datasetId}/glass/ris.csv`);
          expect(ris.status).toBe(200);
          return ris.text();
        }),
      );
      expect(risA?.split('\n').length).toBeGreaterThan(10);
      expect(risB).toBe(risA);
    });

    it('an analytics response cached through A is served by B, and dropped on B when A deletes the dataset', async () => {
      const path = `/api/datasets/${datasetId}/antibiogram?minimum=5`;
      const first = await fetch(`${a.url}${path}`);
      expect(first.status).toBe(200);
      expect(first.headers.get('x-cache')).toBe('MISS');
      const body = await first.text();
      // A stores the response in Redis as it answers (not before): wait until it is there. The
      // entry's key is a hash (the URL holds a glob character), but one script writes it with its
      // tag set, and nothing else of this dataset's is cached yet.
      await waitForKey(`${prefix}cache:*t:dataset:${datasetId}`);
      // B never computed it: the copy comes from Redis (L2), then from its own memory (L1).
      const fromRedis = await fetch(`${b.url}${path}`);
      expect(fromRedis.headers.get('x-cache')).toBe('HIT');
      expect(await fromRedis.text()).toBe(body);
      const fromMemory = await fetch(`${b.url}${path}`);
      expect(fromMemory.headers.get('x-cache')).toBe('HIT');
      await fromMemory.arrayBuffer();

      const deleted = await fetch(`${a.url}/api/datasets/${datasetId}`, { method: 'DELETE' });
      expect(deleted.status).toBe(204);
      // The tag invalidation reaches B through Redis pub/sub: a stale HIT would answer 200.
      let status = 0;
      let xcache: string | null = null;
      const deadline = Date.now() + 5000;
      for (;;) {
        const after = await fetch(`${b.url}${path}`);
        status = after.status;
        xcache = after.headers.get('x-cache');
        await after.arrayBuffer();
        if (status !== 200 || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect({ status, xcache }).toEqual({ status: 404, xcache: 'MISS' });
      expect((await fetch(`${b.url}/api/datasets/${datasetId}`)).status).toBe(404);
    }, 60_000);

    it('shares the strict upload limit: 6 uploads to A + 5 to B → exactly 10 accepted, the 11th is 429', async () => {
      // Earlier tests of this run uploaded too: start from a fresh window for this client.
      await deleteKeys(`${prefix}rl:upload:`);
      const statuses: number[] = [];
      let last: Response | undefined;
      for (const instance of [a, a, a, a, a, a, b, b, b, b, b]) {
        last = await upload(instance.url, { name: 'tiny.csv', bytes: TINY_CSV });
        statuses.push(last.status);
        if (last.status !== 429) await last.arrayBuffer();
      }
      expect(statuses.slice(0, 10)).toEqual(Array(10).fill(202));
      expect(statuses[10]).toBe(429);
      expect(last?.headers.get('content-type')).toContain('application/problem+json');
      expect(Number(last?.headers.get('retry-after'))).toBeGreaterThan(0);
      const problem = (await last?.json()) as { code: string; status: number };
      expect(problem).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
      // A is over the limit as well: the count lives in Redis, not in either process.
      const fromA = await upload(a.url, { name: 'tiny.csv', bytes: TINY_CSV });
      expect(fromA.status).toBe(429);
      await fromA.arrayBuffer();
      const list = (await (await fetch(`${b.url}/api/datasets?limit=100`)).json()) as {
        total: number;
      };
      expect(list.total).toBe(10);
    });
  },
);
