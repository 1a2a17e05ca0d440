import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CubeBuilder, parseCube } from '../src/domain/cube.js';
import {
  type AnalyticsQuery,
  antibiogram,
  type DatasetRecord,
  GROUP_BY_VALUES,
  resistance,
} from '../src/index.js';
import { type Harness, harness, SAMPLES } from './helpers.js';

const run = promisify(execFile);

// Every query shape the API accepts, over the filters a dataset's values make meaningful.
function queries(d: DatasetRecord): AnalyticsQuery[] {
  const out: AnalyticsQuery[] = [];
  const groups = [undefined, ...GROUP_BY_VALUES];
  for (const firstIsolate of ['episode', 'glass', 'all'] as const)
    for (const groupBy of groups)
      for (const pathogen of [undefined, 'ESCCOL', 'KLEPNE', 'NOPE'])
        out.push({
          firstIsolate,
          minimum: 1,
          ...(groupBy ? { groupBy } : {}),
          ...(pathogen ? { pathogen } : {}),
        });
  for (const antibiotic of [d.antibiotics[0] as string, 'XYZ'])
    out.push({ antibiotic, specimen: 'URINE', minimum: 2, ci: 'clopper-pearson' });
  return out;
}

describe('the analytics cube answers exactly what a scan of the isolates answers', () => {
  let h: Harness;
  const datasets: DatasetRecord[] = [];

  beforeAll(async () => {
    h = await harness();
    for (const name of ['lab_a_2024.csv', 'lab_b_2024.csv'])
      datasets.push(await h.run(join(SAMPLES, name)));
    // A generated file with ward and laboratory columns added (free text, many values).
    const base = join(h.dir, 'generated.csv');
    await run(process.execPath, [
      join(import.meta.dirname, '../scripts/generate.mjs'),
      '--rows',
      '4000',
      '--seed',
      '5',
      '--out',
      base,
    ]);
    const lines = readFileSync(base, 'utf8').trimEnd().split('\n');
    const withWards = lines.map((line, i) =>
      i === 0 ? `${line},WARD,LABORATORY` : `${line},W${(i * 7) % 23},LAB-${i % 3}`,
    );
    writeFileSync(join(h.dir, 'wards.csv'), `${withWards.join('\n')}\n`);
    datasets.push(await h.run(join(h.dir, 'wards.csv')));
    for (const d of datasets) expect(d.status).toBe('done');
  });
  afterAll(() => h.close());

  it('is stored when a dataset is processed, and dropped when its isolates are', async () => {
    const d = datasets[2] as DatasetRecord;
    const text = await h.storage.getAnalytics(d.id);
    const cube = parseCube(text as string);
    expect(cube?.antibiotics).toEqual(d.antibiotics);
    expect(cube?.ward?.length).toBeGreaterThan(23);
    expect(cube?.laboratory?.length).toBeGreaterThan(3);
    const copy = await h.run(join(SAMPLES, 'lab_a_2024.csv'));
    expect(await h.storage.getAnalytics(copy.id)).toBeDefined();
    await h.storage.deleteIsolates(copy.id);
    expect(await h.storage.getAnalytics(copy.id)).toBeUndefined();
  });

  it('resistance and antibiogram, for every query shape, on three files', async () => {
    let compared = 0;
    for (const d of datasets) {
      for (const query of queries(d)) {
        const fromCube = await resistance(h.storage, d.id, d.antibiotics, query);
        const scanned = await resistance(h.storage, d.id, d.antibiotics, query, null);
        expect(fromCube, JSON.stringify(query)).toEqual(scanned);
        compared += scanned.length;
      }
      for (const firstIsolate of ['episode', 'glass', 'all'] as const)
        for (const specimen of [undefined, 'BLOOD', 'URINE']) {
          const query = { firstIsolate, minimum: 2, ...(specimen ? { specimen } : {}) };
          expect(await antibiogram(h.storage, d.id, d.antibiotics, query)).toEqual(
            await antibiogram(h.storage, d.id, d.antibiotics, query, null),
          );
        }
    }
    // The comparison compared something: thousands of rows, non-zero counts among them.
    expect(compared).toBeGreaterThan(1000);
  });

  it('falls back to a scan for a group whose values overflowed the cap', async () => {
    const d = datasets[2] as DatasetRecord;
    const builder = new CubeBuilder(d.antibiotics, { maxSideCells: 10 });
    for await (const row of h.storage.iterateAggregateRows(d.id)) builder.add(row);
    const small = builder.build();
    expect(small.ward).toBeNull();
    expect(small.cells).not.toBeNull();
    const query = { groupBy: 'ward', minimum: 1 } as const;
    expect(await resistance(h.storage, d.id, d.antibiotics, query, small)).toEqual(
      await resistance(h.storage, d.id, d.antibiotics, query, null),
    );
  });

  it('reads results JSON it did not write itself (fallback parse) the same way', () => {
    const a = new CubeBuilder(['AMP', 'CIP']);
    const b = new CubeBuilder(['AMP', 'CIP']);
    const row = {
      glass: true,
      episode: false,
      pathogen: 'ESCCOL',
      specimen: 'BLOOD',
      sex: 'F',
      ageGroup: '25<34',
      origin: 'CO',
      year: 2024,
      ward: null,
      laboratory: null,
    };
    a.add({ ...row, resultsJson: '{"AMP":"R","CIP":"UNREADABLE"}' });
    b.add({ ...row, resultsJson: '{ "CIP": "UNREADABLE", "AMP": "R" }' });
    expect(a.build()).toEqual(b.build());
    expect(a.build().cells).toEqual([[2, 'ESCCOL', 'BLOOD', 'F', '25<34', 'CO', 2024, 1, 3, 1]]);
  });
});
