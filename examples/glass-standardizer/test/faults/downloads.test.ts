import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type ChildGlass, spawnGlass, waitDone } from '../http/child.js';
import { upload } from '../http/support.js';
import { generated, timed } from './support.js';

describe('a client that walks away from a large download', () => {
  const dir = mkdtempSync(join(tmpdir(), 'glass-fault-downloads-'));
  let glass: ChildGlass;
  let id = '';

  beforeAll(async () => {
    glass = await spawnGlass({
      DATA_DIR: join(dir, 'data'),
      LOG_DIR: join(dir, 'logs'),
      LOG_LEVEL: 'debug',
    });
    const file = await generated(dir, 50_000, 4);
    const res = await upload(
      glass.url,
      { path: file },
      { country: 'KEN', year: '2024', batchId: 'DL' },
    );
    id = ((await res.json()) as { id: string }).id;
    expect((await waitDone(glass.url, id, { intervalMs: 500 })).status).toBe('done');
  });
  afterAll(async () => {
    await glass?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is a debug line, not an error with a stack, and the service carries on', async () => {
    const before = glass.output().length;
    await new Promise<void>((resolve, reject) => {
      const req = request(`${glass.url}/api/datasets/${id}/isolates.csv`, (res) => {
        expect(res.statusCode).toBe(200);
        let received = 0;
        res.on('data', (chunk: Buffer) => {
          received += chunk.length;
          // A few chunks in, the client goes away mid-body.
          if (received > 200_000) {
            req.destroy();
            resolve();
          }
        });
        res.on('error', () => undefined);
      });
      req.on('error', (err) => {
        if (!req.destroyed) reject(err);
      });
      req.end();
    });
    await vi.waitFor(
      () => expect(glass.output().slice(before)).toMatch(/download aborted by the client/),
      {
        timeout: 5000,
        interval: 50,
      },
    );
    const after = glass.output().slice(before);
    expect(after).not.toMatch(/ERR_STREAM_PREMATURE_CLOSE\n\s+at |ERROR/);
    // The whole file still downloads for the next client.
    const full = await timed(`${glass.url}/api/datasets/${id}/isolates.csv`);
    expect(full.status).toBe(200);
    expect(full.body.trimEnd().split('\r\n').length).toBeGreaterThan(40_000);
  });
});
