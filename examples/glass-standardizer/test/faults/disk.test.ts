import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SAMPLES } from '../helpers.js';
import { type ChildGlass, spawnGlass, waitDone } from '../http/child.js';
import { upload } from '../http/support.js';
import { generated, timed } from './support.js';

const base = mkdtempSync(join(tmpdir(), 'glass-fault-disk-'));
const mnt = join(base, 'mnt');
mkdirSync(mnt);

/** A 30 MiB tmpfs for DATA_DIR, or why it cannot be had here (not root, no mount permission). */
function mountSmallDisk(): string | undefined {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=30m', 'tmpfs', mnt], { stdio: 'pipe' });
    return undefined;
  } catch (err) {
    return String((err as { stderr?: Buffer }).stderr ?? err).trim();
  }
}
const refused = mountSmallDisk();
if (refused) console.warn(`[skip] disk-full tests need a small tmpfs; mount failed: ${refused}`);

describe.skipIf(refused !== undefined)('DATA_DIR on a disk that fills up (30 MiB tmpfs)', () => {
  const dataDir = join(mnt, 'data');
  let glass: ChildGlass;
  let file: string;

  beforeAll(async () => {
    // ~7.8 MB of CSV that needs ~16 MB of SQLite: the two do not fit under the 8 MiB floor.
    file = await generated(base, 60_000, 9);
    glass = await spawnGlass({
      DATA_DIR: dataDir,
      LOG_DIR: join(base, 'logs'),
      // The floor must cover a WAL checkpoint (up to ~4 MiB written at once).
      DATA_DIR_MIN_FREE: '8mb',
      READINESS_DELAY_MS: '0',
    });
  });
  afterAll(async () => {
    await glass?.stop();
    try {
      execFileSync('umount', [mnt]);
    } catch {
      // Not mounted.
    }
    rmSync(base, { recursive: true, force: true });
  });

  it('fails the dataset with a reason, fails readiness, refuses uploads with 507, and recovers when space is freed', async () => {
    const res = await upload(
      glass.url,
      { path: file },
      { country: 'KEN', year: '2024', batchId: 'FULL' },
    );
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const failed = await waitDone(glass.url, id, { timeoutMs: 60_000, intervalMs: 500 });
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/disk under DATA_DIR filled up/);

    // Below the floor: readiness fails, an upload is refused before it is written.
    await vi.waitFor(
      async () => expect((await timed(`${glass.url}/health/ready`)).status).toBe(503),
      { timeout: 5000, interval: 200 },
    );
    const more = await upload(glass.url, { path: join(SAMPLES, 'lab_a_2024.csv') });
    expect(more.status).toBe(507);
    expect(await more.json()).toMatchObject({ code: 'STORAGE_FULL', status: 507 });
    expect(readdirSync(join(dataDir, 'uploads'))).toHaveLength(1);

    // Nothing corrupt: the database checks clean while the service runs.
    const db = new Database(join(dataDir, 'glass.sqlite'), { readonly: true });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();

    // Deleting the failed dataset gives its room back; the service is ready and works again.
    const del = await timed(`${glass.url}/api/datasets/${id}`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    expect(readdirSync(join(dataDir, 'uploads'))).toHaveLength(0);
    await vi.waitFor(
      async () => expect((await timed(`${glass.url}/health/ready`)).status).toBe(200),
      { timeout: 5000, interval: 200 },
    );
    const small = await upload(glass.url, { path: join(SAMPLES, 'lab_a_2024.csv') });
    expect(small.status).toBe(202);
    const done = await waitDone(glass.url, ((await small.json()) as { id: string }).id);
    expect(done.status).toBe('done');
    expect(glass.output()).not.toMatch(/uncaughtException|unhandledRejection/);
  });
});
