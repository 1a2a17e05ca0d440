import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_URL, serviceAvailable } from '../../../test/helpers/index.js';
import {
  createPostgresStorage,
  createSqliteStorage,
  type GlassStorage,
  type IsolateRecord,
  markFirstIsolates,
  processDataset,
} from '../src/index.js';
import { NOW, SAMPLES } from './helpers.js';

function isolate(id: number, over: Partial<IsolateRecord> = {}): IsolateRecord {
  return {
    isolateId: id,
    sourceRow: id + 1,
    patientId: `P${id % 3}`,
    specimenDate: '2024-01-01',
    dateDays: 19_723 + id,
    year: 2024,
    sex: 'F',
    ageYears: 30,
    ageGroup: '25<34',
    specimen: 'BLOOD',
    organismRaw: 'eco',
    pathogen: 'ESCCOL',
    origin: 'CO',
    ward: null,
    laboratory: 'L1',
    firstIsolateGlass: false,
    firstIsolateEpisode: false,
    results: { AMP: 'R', CIP: 'S', FEP: 'NO_BREAKPOINT' },
    ...over,
  };
}

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

function storageSuite(
  name: string,
  make: () => Promise<{ storage: GlassStorage; cleanup(): Promise<void> }>,
) {
  describe(`storage: ${name}`, () => {
    let storage: GlassStorage;
    let cleanup: () => Promise<void>;
    beforeAll(async () => {
      ({ storage, cleanup } = await make());
      await storage.init();
      await storage.init(); // idempotent
    });
    afterAll(async () => {
      await storage.close();
      await cleanup();
    });

    const base = { country: 'KEN', year: 2024, batchId: 'B', format: 'csv' as const };

    it('creates, reads, updates, lists and deletes datasets', async () => {
      const a = await storage.createDataset({ ...base, filename: 'a.csv', uploadPath: '/u/a.csv' });
      expect(a.status).toBe('queued');
      expect(a.owner).toBeNull();
      expect(await storage.getDataset(a.id)).toEqual(a);
      const owned = await storage.createDataset({ ...base, owner: 'key:glass_3fa9c1d2' });
      expect((await storage.getDataset(owned.id))?.owner).toBe('key:glass_3fa9c1d2');
      expect(await storage.deleteDataset(owned.id)).toBe(true);
      const updated = await storage.updateDataset(a.id, {
        status: 'processing',
        progress: 42.5,
        counts: {
          rowsRead: 1,
          isolates: 1,
          noGrowthRows: 0,
          duplicateRows: 0,
          skippedRows: 0,
          firstIsolatesGlass: 0,
          firstIsolatesEpisode: 0,
          risRows: 0,
          sampleRows: 0,
          bytesRead: 10,
        },
        quality: {
          entries: [],
          completeness: { date: 50 },
          summary: { errors: 0, warnings: 0, infos: 0 },
          blocking: false,
        },
        antibiotics: ['AMP', 'CIP'],
      });
      expect(updated).toMatchObject({
        status: 'processing',
        progress: 42.5,
        antibiotics: ['AMP', 'CIP'],
      });
      expect(updated?.quality?.completeness).toEqual({ date: 50 });
      expect(updated?.counts?.bytesRead).toBe(10);
      const b = await storage.createDataset({ ...base, id: `fixed-${name}` });
      expect(b.id).toBe(`fixed-${name}`);
      const page = await storage.listDatasets({ limit: 1, offset: 0 });
      expect(page.total).toBeGreaterThanOrEqual(2);
      expect(page.items).toHaveLength(1);
      const processing = await storage.listDatasetsByStatus(['processing']);
      expect(processing.map((d) => d.id)).toContain(a.id);
      expect(processing.map((d) => d.id)).not.toContain(b.id);
      expect(await storage.deleteDataset(a.id)).toBe(true);
      expect(await storage.deleteDataset(a.id)).toBe(false);
      expect(await storage.getDataset(a.id)).toBeUndefined();
      expect(await storage.updateDataset('missing', { status: 'done' })).toBeUndefined();
    });

    it('processing leases: one owner at a time, renewal, takeover after expiry, release', async () => {
      const d = await storage.createDataset({ ...base, uploadPath: '/u/lease.csv' });
      const t0 = 1_000_000;
      expect(await storage.claimDataset(d.id, 'A', 1000, t0)).toBe(true);
      expect(await storage.claimDataset(d.id, 'B', 1000, t0 + 10)).toBe(false);
      expect(await storage.claimDataset(d.id, 'A', 1000, t0 + 900)).toBe(true); // renewed to 1900
      expect(await storage.claimDataset(d.id, 'B', 1000, t0 + 1500)).toBe(false);
      expect(await storage.claimDataset(d.id, 'B', 1000, t0 + 2000)).toBe(true); // A stopped renewing
      expect(await storage.claimDataset(d.id, 'A', 1000, t0 + 2001)).toBe(false);
      await storage.releaseDataset(d.id, 'A'); // not A's any more: no effect
      expect(await storage.claimDataset(d.id, 'A', 1000, t0 + 2002)).toBe(false);
      await storage.releaseDataset(d.id, 'B');
      expect(await storage.claimDataset(d.id, 'A', 1000, t0 + 2003)).toBe(true);
      await storage.updateDataset(d.id, { status: 'done' });
      expect(await storage.claimDataset(d.id, 'A', 1000, t0 + 2004)).toBe(false);
      expect(await storage.claimDataset('missing', 'A', 1000)).toBe(false);
      await storage.deleteDataset(d.id);
    });

    it('stores isolates in batches and pages through them with filters', async () => {
      const d = await storage.createDataset(base);
      const items = Array.from({ length: 25 }, (_, i) =>
        isolate(i + 1, i % 5 === 0 ? { pathogen: 'KLEPNE', specimen: 'URINE' } : {}),
      );
      await storage.insertIsolates(d.id, items.slice(0, 10));
      await storage.insertIsolates(d.id, items.slice(10));
      expect(await storage.countIsolates(d.id)).toBe(25);
      const paged = await all(storage.iterateIsolates(d.id, { pageSize: 4 }));
      expect(paged.map((i) => i.isolateId)).toEqual(items.map((i) => i.isolateId));
      expect(paged[3]).toEqual(items[3]);
      const kp = await all(storage.iterateIsolates(d.id, { pathogen: 'KLEPNE', pageSize: 2 }));
      expect(kp.map((i) => i.isolateId)).toEqual([1, 6, 11, 16, 21]);
      const urineKp = await all(
        storage.iterateIsolates(d.id, { pathogen: 'KLEPNE', specimen: 'URINE' }),
      );
      expect(urineKp).toHaveLength(5);
      expect(await all(storage.iterateIsolates(d.id, { firstIsolate: 'glass' }))).toEqual([]);
    });

    it('rolls back a failing batch as a whole', async () => {
      const d = await storage.createDataset(base);
      await storage.insertIsolates(d.id, [isolate(1)]);
      await expect(
        storage.insertIsolates(d.id, [isolate(2), isolate(3), isolate(1)]),
      ).rejects.toThrow();
      expect(await storage.countIsolates(d.id)).toBe(1);
    });

    it('orders first-isolate keys by patient, pathogen, date, row across pages and sets flags', async () => {
      const d = await storage.createDataset(base);
      const items = [
        isolate(1, { patientId: 'B', dateDays: 100, sourceRow: 9 }),
        isolate(2, { patientId: 'A', dateDays: 200, sourceRow: 3 }),
        isolate(3, { patientId: 'A', dateDays: 100, sourceRow: 7 }),
        isolate(4, { patientId: 'A', dateDays: 100, sourceRow: 5 }),
        isolate(5, { patientId: 'A', dateDays: null, specimenDate: null, year: null }),
        isolate(6, { patientId: 'A', pathogen: 'KLEPNE', dateDays: 50 }),
        isolate(7, { patientId: 'B', dateDays: 100, sourceRow: 8 }),
      ];
      await storage.insertIsolates(d.id, items);
      const keys = await all(storage.iterateFirstIsolateKeys(d.id, 2));
      expect(keys.map((k) => k.isolateId)).toEqual([4, 3, 2, 6, 7, 1]);
      await storage.setFirstIsolateFlags(d.id, [
        { isolateId: 4, glass: true, episode: true },
        { isolateId: 2, glass: false, episode: true },
      ]);
      const glass = await all(storage.iterateIsolates(d.id, { firstIsolate: 'glass' }));
      const episode = await all(storage.iterateIsolates(d.id, { firstIsolate: 'episode' }));
      expect(glass.map((i) => i.isolateId)).toEqual([4]);
      expect(episode.map((i) => i.isolateId)).toEqual([2, 4]);
      expect(await storage.deleteDataset(d.id)).toBe(true);
      expect(await storage.countIsolates(d.id)).toBe(0);
    });

    it('marks first isolates writing only the flags that differ from the stored ones', async () => {
      const d = await storage.createDataset(base);
      const presumed = { firstIsolateGlass: true, firstIsolateEpisode: true };
      await storage.insertIsolates(d.id, [
        // P1/ESCCOL: day 0 first by both rules, day 100 neither, day 500 episode only.
        isolate(1, { patientId: 'P1', dateDays: 500, sourceRow: 2, ...presumed }),
        isolate(2, { patientId: 'P1', dateDays: 0, sourceRow: 3, ...presumed }),
        isolate(3, { patientId: 'P1', dateDays: 100, sourceRow: 4, ...presumed }),
        // Stored as first although it has no usable patient: the pass clears it.
        isolate(4, { patientId: 'unknown', ...presumed }),
        // A lone isolate already stored as first: nothing to write.
        isolate(5, { patientId: 'P2', ...presumed }),
        // Stored as not first although it is: the pass sets it.
        isolate(6, { patientId: 'P3' }),
      ]);
      const written: number[] = [];
      const watched: GlassStorage = {
        ...storage,
        iterateFirstIsolateKeys: (id, pageSize) => storage.iterateFirstIsolateKeys(id, pageSize),
        async setFirstIsolateFlags(id, flags) {
          written.push(...flags.map((f) => f.isolateId));
          await storage.setFirstIsolateFlags(id, flags);
        },
      };
      const counted: number[] = [];
      const result = await markFirstIsolates(
        watched,
        d.id,
        365,
        new Set(['unknown']),
        undefined,
        (key) => counted.push(key.isolateId),
      );
      expect(result).toEqual({ glass: 3, episode: 4, noPatient: 1 });
      expect(counted.sort()).toEqual([2, 5, 6]);
      expect(written).toEqual([1, 3, 4, 6]); // in isolate id order
      const flags = async () =>
        (await all(storage.iterateIsolates(d.id))).map((i) => [
          i.isolateId,
          i.firstIsolateGlass,
          i.firstIsolateEpisode,
        ]);
      expect(await flags()).toEqual([
        [1, false, true],
        [2, true, true],
        [3, false, false],
        [4, false, false],
        [5, true, true],
        [6, true, true],
      ]);
      // A second pass finds every flag right and writes nothing.
      written.length = 0;
      await markFirstIsolates(watched, d.id, 365, new Set(['unknown']));
      expect(written).toEqual([]);
      expect(await flags()).toHaveLength(6);
    });

    it('first-isolate keys: a pass left early does not disturb the next, nor do two at once', async () => {
      const d = await storage.createDataset(base);
      await storage.insertIsolates(
        d.id,
        Array.from({ length: 25 }, (_, i) => isolate(i + 1, { patientId: `P${(i * 7) % 5}` })),
      );
      const expected = (await all(storage.iterateFirstIsolateKeys(d.id, 4))).map(
        (k) => k.isolateId,
      );
      expect(expected).toHaveLength(25);
      for await (const _key of storage.iterateFirstIsolateKeys(d.id, 4)) break;
      const a = storage.iterateFirstIsolateKeys(d.id, 3)[Symbol.asyncIterator]();
      const b = storage.iterateFirstIsolateKeys(d.id, 5)[Symbol.asyncIterator]();
      const fromA: number[] = [];
      const fromB: number[] = [];
      for (;;) {
        const [x, y] = await Promise.all([a.next(), b.next()]);
        if (!x.done) fromA.push(x.value.isolateId);
        if (!y.done) fromB.push(y.value.isolateId);
        if (x.done && y.done) break;
      }
      expect(fromA).toEqual(expected);
      expect(fromB).toEqual(expected);
    });

    it('processes a sample to the same result as every other backend', async () => {
      const d = await storage.createDataset(base);
      const done = await processDataset(
        { datasetId: d.id, input: join(SAMPLES, 'lab_a_2024.csv') },
        storage,
        {
          now: NOW,
          batchSize: 37,
        },
      );
      expect(done.status).toBe('done');
      expect(done.counts).toMatchObject({
        isolates: 205,
        firstIsolatesGlass: 199,
        firstIsolatesEpisode: 197,
        risRows: 1344,
      });
      expect(await storage.countIsolates(d.id)).toBe(205);
    });
  });
}

storageSuite('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'glass-storage-'));
  return {
    storage: createSqliteStorage({ filename: join(dir, 'g.db') }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

const postgres = await serviceAvailable('postgres');
describe.skipIf(!postgres)('postgres backend', () => {
  storageSuite('postgres', async () => {
    const schema = `glass_test_${process.pid}_${randomBytes(4).toString('hex')}`;
    return {
      storage: createPostgresStorage({ connectionString: POSTGRES_URL, schema, insertChunk: 7 }),
      cleanup: async () => {
        const client = new pg.Client({ connectionString: POSTGRES_URL });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await client.end();
      },
    };
  });
});

describe.skipIf(!postgres)('postgres schema creation', () => {
  it('instances starting together on a new schema all start (no catalog race)', async () => {
    // Two instances sharing a database create the tables at the same moment; PostgreSQL's
    // CREATE … IF NOT EXISTS is not safe against that on its own (duplicate key in pg_type).
    for (let attempt = 0; attempt < 5; attempt++) {
      const schema = `glass_race_${process.pid}_${randomBytes(4).toString('hex')}`;
      const storages = Array.from({ length: 6 }, () =>
        createPostgresStorage({ connectionString: POSTGRES_URL, schema }),
      );
      try {
        const results = await Promise.allSettled(storages.map((s) => s.init()));
        expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
      } finally {
        await Promise.all(storages.map((s) => s.close()));
        const client = new pg.Client({ connectionString: POSTGRES_URL });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await client.end();
      }
    }
  });
});

describe('storage option errors', () => {
  it('rejects bad options with a message naming them', () => {
    expect(() => createSqliteStorage({ filename: '' })).toThrow(
      /glass-standardizer: createSqliteStorage "filename"/,
    );
    expect(() =>
      createPostgresStorage({ connectionString: POSTGRES_URL, schema: 'Bad-Name' }),
    ).toThrow(/"schema" must be a lower-case SQL identifier, got "Bad-Name"/);
    expect(() => createPostgresStorage({})).toThrow(/needs "connectionString"/);
    expect(() => createPostgresStorage({ connectionString: POSTGRES_URL, insertChunk: 0 })).toThrow(
      /insertChunk/,
    );
  });
});
