// Backup of a running service (the CLI, while a dataset is being processed), restore into a fresh
// DATA_DIR, and a service started on it serves the same dataset outputs.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { BackupManifest } from '../../src/backup.js';
import { generated } from '../faults/support.js';
import { type ChildGlass, EXAMPLE_ROOT, spawnGlass, waitDone } from '../http/child.js';
import { ADMIN_TOKEN } from '../http/support.js';

const exec = promisify(execFile);
const CLI = join(EXAMPLE_ROOT, 'dist/backup.js');
const SAMPLES = join(EXAMPLE_ROOT, 'test/fixtures/samples');

async function cli(args: string[], env: Record<string, string>) {
  return exec(process.execPath, [CLI, ...args], {
    cwd: EXAMPLE_ROOT,
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', ...env },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code: number; stdout: string; stderr: string }) => err,
  );
}

async function upload(url: string, file: string, batchId: string): Promise<string> {
  const form = new FormData();
  form.set('file', new Blob([readFileSync(file)], { type: 'text/csv' }), 'upload.csv');
  for (const [k, v] of Object.entries({ country: 'KEN', year: '2024', batchId })) form.set(k, v);
  const res = await fetch(`${url}/api/datasets`, { method: 'POST', body: form });
  if (res.status !== 202) throw new Error(`upload: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

/** Every output of a done dataset the API serves, as text. */
async function outputs(url: string, id: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const path of ['isolates.csv', 'glass/ris.csv', 'quality', 'antibiogram?minimum=5']) {
    const res = await fetch(`${url}/api/datasets/${id}/${path}`);
    out[path] = `${res.status} ${await res.text()}`;
  }
  return out;
}

describe('backup and restore (glass-standardizer-backup)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'glass-backup-'));
  const services: ChildGlass[] = [];
  afterAll(async () => {
    await Promise.all(services.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  });
  const start = async (name: string) => {
    const glass = await spawnGlass({
      NODE_ENV: 'production',
      ADMIN_TOKEN,
      READINESS_DELAY_MS: '0',
      DATA_DIR: join(dir, name),
      LOG_DIR: join(dir, `${name}-logs`),
      // A restored upload is older than the grace: it must stay because the database refers to it.
      ORPHAN_UPLOAD_GRACE_MS: '0',
    });
    services.push(glass);
    return glass;
  };

  it('a backup taken while the service runs and processes restores to identical outputs', {
    timeout: 120_000,
  }, async () => {
    const big = await generated(dir, 10_000);
    const original = await start('data');
    const done = [
      await upload(original.url, join(SAMPLES, 'lab_a_2024.csv'), 'A'),
      await upload(original.url, join(SAMPLES, 'lab_b_2024.csv'), 'B'),
    ];
    for (const id of done) expect((await waitDone(original.url, id)).status).toBe('done');
    // A large dataset is being written while the backup runs.
    const busy = await upload(original.url, big, 'BIG');
    for (;;) {
      const s = (await (await fetch(`${original.url}/api/datasets/${busy}`)).json()) as {
        status: string;
      };
      if (s.status === 'processing') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const backupDir = join(dir, 'backup-1');
    const taken = await cli(['backup', backupDir], { DATA_DIR: join(dir, 'data') });
    expect(taken.stderr).toBe('');
    expect(taken.code).toBe(0);
    expect(taken.stdout).toMatch(/database \(3 datasets\) and 3 uploads written/);
    const manifest = JSON.parse(
      readFileSync(join(backupDir, 'manifest.json'), 'utf8'),
    ) as BackupManifest;
    expect(manifest.storage).toBe('sqlite');
    expect(manifest.uploads).toHaveLength(3);
    expect(manifest.missingUploads).toEqual([]);
    expect(existsSync(join(backupDir, 'glass.sqlite-wal'))).toBe(false);

    // The original finishes its dataset; its outputs are the reference.
    expect((await waitDone(original.url, busy, { intervalMs: 1000 })).status).toBe('done');
    const expected: Record<string, Record<string, string>> = {};
    for (const id of [...done, busy]) expected[id] = await outputs(original.url, id);

    // Restore into a fresh DATA_DIR, start a service on it.
    const restored = await cli(['restore', backupDir], { DATA_DIR: join(dir, 'restored') });
    expect(restored.stderr).toBe('');
    expect(restored.stdout).toContain('restored the database (3 datasets) and 3 uploads');
    const copy = await start('restored');
    // The dataset that was processing in the snapshot is processed again from its restored
    // upload; the others were done in it.
    expect((await waitDone(copy.url, busy, { intervalMs: 1000 })).status).toBe('done');
    for (const id of [...done, busy]) {
      const got = await outputs(copy.url, id);
      for (const [path, body] of Object.entries(expected[id] ?? {})) {
        expect(body.startsWith('200 '), `${id} ${path}`).toBe(true);
        expect(got[path] === body, `${id} ${path} differs after the restore`).toBe(true);
      }
    }
    // Restored upload paths point into the new DATA_DIR, so the service keeps them.
    const list = (await (await fetch(`${copy.url}/api/datasets`)).json()) as { total: number };
    expect(list.total).toBe(3);
    expect(
      existsSync(join(dir, 'restored/uploads', manifest.uploads[0]?.file.split('/')[1] ?? '')),
    ).toBe(true);
  });

  it('refuses to restore over data, and refuses a damaged backup', {
    timeout: 60_000,
  }, async () => {
    const backupDir = join(dir, 'backup-1');
    const again = await cli(['restore', backupDir], { DATA_DIR: join(dir, 'restored') });
    expect(again.code).toBe(65);
    expect(again.stderr).toContain('exists; restore into a fresh DATA_DIR or pass --force');
    const existing = await cli(['backup', backupDir], { DATA_DIR: join(dir, 'data') });
    expect(existing.code).toBe(65);
    expect(existing.stderr).toContain('already exists');
    const manifest = JSON.parse(readFileSync(join(backupDir, 'manifest.json'), 'utf8')) as {
      uploads: { file: string }[];
    };
    writeFileSync(join(backupDir, manifest.uploads[0]?.file ?? ''), 'tampered');
    const damaged = await cli(['restore', backupDir], { DATA_DIR: join(dir, 'fresh') });
    expect(damaged.code).toBe(65);
    expect(damaged.stderr).toMatch(/differs from the manifest \(damaged backup\)/);
    expect(existsSync(join(dir, 'fresh/glass.sqlite'))).toBe(false);
    const usage = await cli([], {});
    expect(usage.code).toBe(64);
    expect(usage.stderr).toContain('usage: glass-standardizer-backup');
  });
});
