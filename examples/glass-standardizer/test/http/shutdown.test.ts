import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSqliteStorage } from '../../src/storage/sqlite.js';
import { type ChildGlass, EXAMPLE_ROOT, spawnGlass, waitDone } from './child.js';
import { type DatasetSummary, upload } from './support.js';

const run = promisify(execFile);
const ROWS = 20_000;

describe('SIGTERM while a dataset is processing (child processes, SQLite)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'glass-shutdown-'));
  const file = join(dir, `generated-${ROWS}.csv`);
  const env = {
    DATA_DIR: join(dir, 'data'),
    LOG_DIR: join(dir, 'logs'),
    READINESS_DELAY_MS: '0',
  };
  const children: ChildGlass[] = [];

  beforeAll(async () => {
    await run(process.execPath, [
      join(EXAMPLE_ROOT, 'scripts/generate.mjs'),
      '--rows',
      String(ROWS),
      '--seed',
      '11',
      '--out',
      file,
    ]);
  });
  afterAll(async () => {
    for (const child of children) await child.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('interrupts at the drain deadline, exits, and the next start re-processes it to the same result', async () => {
    const first = await spawnGlass({ ...env, DRAIN_TIMEOUT_MS: '200' });
    children.push(first);
    const res = await upload(
      first.url,
      { path: file },
      { country: 'KEN', year: '2024', batchId: 'BIG' },
    );
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };

    // Wait until processing has started, then send SIGTERM.
    let seen: DatasetSummary | undefined;
    const deadline = Date.now() + 60_000;
    for (;;) {
      seen = (await (await fetch(`${first.url}/api/datasets/${id}`)).json()) as DatasetSummary;
      if (seen.status === 'processing') break;
      if (seen.status !== 'queued')
        throw new Error(`finished before SIGTERM (${seen.status}): make the generated file bigger`);
      if (Date.now() > deadline) throw new Error('processing never started');
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(seen.progress).toBeLessThan(100);
    first.child.kill('SIGTERM');
    const exit = await first.exited;
    // Tracked work was cut at the drain deadline: the lifecycle reports it with exit code 1.
    expect(exit, first.output()).toEqual({ code: 1, signal: null });

    // What the stopped process left on disk: the dataset is interrupted, not shown as done.
    const storage = createSqliteStorage({ filename: join(env.DATA_DIR, 'glass.sqlite') });
    await storage.init();
    const left = await storage.getDataset(id);
    await storage.close();
    expect(left?.status).toBe('interrupted');
    expect(left?.error).toBe('processing was interrupted');

    // A new process on the same DATA_DIR resumes it from the stored upload.
    const second = await spawnGlass({ ...env, DRAIN_TIMEOUT_MS: '30000' });
    children.push(second);
    const resumed = (await waitDone(second.url, id)) as DatasetSummary;
    expect(resumed.status).toBe('done');
    expect(resumed.progress).toBe(100);
    expect(resumed.counts?.rowsRead).toBe(ROWS);

    // The same file processed without interruption gives the same counts, quality and RIS.
    const again = await upload(
      second.url,
      { path: file },
      { country: 'KEN', year: '2024', batchId: 'BIG' },
    );
    expect(again.status).toBe(202);
    const control = (await waitDone(
      second.url,
      ((await again.json()) as { id: string }).id,
    )) as DatasetSummary;
    expect(control.status).toBe('done');
    expect(resumed.counts).toEqual(control.counts);
    expect(resumed.quality).toEqual(control.quality);
    const ris = await Promise.all(
      [id, control.id].map(async (dataset) => {
        const r = await fetch(`${second.url}/api/datasets/${dataset}/glass/ris.csv`);
        expect(r.status).toBe(200);
        return r.text();
      }),
    );
    expect(ris[0]?.length).toBeGreaterThan(100);
    expect(ris[0]).toBe(ris[1]);
    // No rows of the interrupted attempt were left behind: one isolate row per counted isolate.
    const isolates = await (await fetch(`${second.url}/api/datasets/${id}/isolates.csv`)).text();
    expect(isolates.trim().split(/\r?\n/).length - 1).toBe(resumed.counts?.isolates);

    const stopped = await second.stop();
    expect(stopped, second.output()).toEqual({ code: 0, signal: null });
  }, 180_000);
});
