import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_URL, serviceAvailable } from '../../../test/helpers/index.js';
import {
  createPostgresStorage,
  isolatesCsv,
  type QualityMessage,
  type QualityReport,
} from '../src/index.js';
import { collect, type Harness, harness, SAMPLES } from './helpers.js';

// Digests of every output (counts, quality report, RIS, SAMPLE, antibiotics and isolates.csv with
// both first-isolate flags); any change to what the engine produces changes them.
const EXPECTED: Record<string, string> = {
  'lab_a_2024.csv': '4bc7640b6a947435',
  'lab_b_2024.csv': '89f46d2e4ab8d6b2',
  'generated-a-3000': '72e6307f0abdc011',
  'generated-b-3000': '76477dcdc454d04c',
};

// The same outputs in the quality report's shape before entries had `messages` (the only text of
// an entry was its message), computed with the engine as it was before the performance work (at
// commit 4471423, which added this test): the report gained `messages`, nothing else changed.
const EXPECTED_BEFORE_MESSAGES: Record<string, string> = {
  'lab_a_2024.csv': 'c2130c56abf5d77f',
  'lab_b_2024.csv': '5d82c5e1c172d6ac',
  'generated-a-3000': '0503c0767b7973b2',
  'generated-b-3000': 'f1257a3deb5fd473',
};

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');

/** A report as it read before `messages`: an entry found with one text read as that text. */
function beforeMessages(quality: QualityReport | null): unknown {
  if (!quality) return quality;
  return {
    ...quality,
    entries: quality.entries.map(({ messages, ...entry }) => ({
      ...entry,
      message: messages.length === 1 ? (messages[0] as QualityMessage).message : entry.message,
    })),
  };
}

async function digests(h: Harness, file: string, batchSize?: number): Promise<[string, string]> {
  const done = await h.run(file, batchSize === undefined ? {} : { options: { batchSize } });
  expect(done.status).toBe('done');
  const { counts, quality, ris, sample, antibiotics } = done;
  const csv = await collect(isolatesCsv(h.storage, done));
  const digest = (report: unknown) =>
    createHash('sha256')
      .update(JSON.stringify({ counts, quality: report, ris, sample, antibiotics }))
      .update(csv)
      .digest('hex')
      .slice(0, 16);
  return [digest(quality), digest(beforeMessages(quality))];
}

function goldenSuite(name: string, make: () => Promise<{ h: Harness; end(): Promise<void> }>) {
  describe(`outputs unchanged: ${name}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'glass-golden-'));
    const inputs: Record<string, string> = {
      'lab_a_2024.csv': join(SAMPLES, 'lab_a_2024.csv'),
      'lab_b_2024.csv': join(SAMPLES, 'lab_b_2024.csv'),
      'generated-a-3000': join(dir, 'a.csv'),
      'generated-b-3000': join(dir, 'b.csv'),
    };
    let h: Harness;
    let end: () => Promise<void>;
    beforeAll(async () => {
      const generate = (style: string, seed: string, out: string) =>
        run(process.execPath, [
          join(ROOT, 'scripts/generate.mjs'),
          ...['--rows', '3000', '--seed', seed, '--style', style, '--out', out],
        ]);
      await generate('a', '21', inputs['generated-a-3000'] as string);
      await generate('b', '22', inputs['generated-b-3000'] as string);
      ({ h, end } = await make());
    });
    afterAll(async () => {
      await end();
      rmSync(dir, { recursive: true, force: true });
    });

    for (const [label, expected] of Object.entries(EXPECTED)) {
      it(`${label}: same digest as before, with batches of 1000 and of 37`, async () => {
        const file = inputs[label] as string;
        const before = EXPECTED_BEFORE_MESSAGES[label];
        expect(await digests(h, file)).toEqual([expected, before]);
        expect(await digests(h, file, 37)).toEqual([expected, before]);
      });
    }
  });
}

goldenSuite('sqlite', async () => {
  const h = await harness();
  return { h, end: () => h.close() };
});

const postgres = await serviceAvailable('postgres');
describe.skipIf(!postgres)('postgres backend', () => {
  goldenSuite('postgres', async () => {
    const schema = `glass_golden_${process.pid}_${randomBytes(4).toString('hex')}`;
    const h = await harness(createPostgresStorage({ connectionString: POSTGRES_URL, schema }));
    return {
      h,
      end: async () => {
        await h.close();
        const client = new pg.Client({ connectionString: POSTGRES_URL });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await client.end();
      },
    };
  });
});
