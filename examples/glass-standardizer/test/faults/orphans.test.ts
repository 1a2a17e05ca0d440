import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { type ChildGlass, spawnGlass } from '../http/child.js';

describe('no stored upload without its dataset', () => {
  const dir = mkdtempSync(join(tmpdir(), 'glass-fault-orphans-'));
  const env = {
    DATA_DIR: join(dir, 'data'),
    LOG_DIR: join(dir, 'logs'),
    READINESS_DELAY_MS: '0',
  };
  const uploads = join(dir, 'data', 'uploads');
  const children: ChildGlass[] = [];
  afterAll(async () => {
    for (const child of children) await child.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a transfer cut by kill -9 leaves a file that the next start sweeps away', async () => {
    const first = await spawnGlass(env);
    children.push(first);
    // Half a multipart upload: the file part has begun and is being written when the process dies.
    const boundary = 'glass-orphan-boundary';
    const head = [
      `--${boundary}`,
      'Content-Disposition: form-data; name="country"',
      '',
      'KEN',
      `--${boundary}`,
      'Content-Disposition: form-data; name="year"',
      '',
      '2024',
      `--${boundary}`,
      'Content-Disposition: form-data; name="batchId"',
      '',
      'CUT',
      `--${boundary}`,
      'Content-Disposition: form-data; name="file"; filename="cut.csv"',
      'Content-Type: text/csv',
      '',
      'PATIENT_ID,SEX,AGE,SPEC_DATE,SPEC_TYPE,ORGANISM,CIP_ND10',
    ].join('\r\n');
    const req = request(`${first.url}/api/datasets`, {
      method: 'POST',
      headers: {
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': String(10 * 1024 * 1024),
      },
    });
    req.on('error', () => undefined);
    req.write(`${head}\r\n`);
    req.write(`${'P1,f,40,03/02/2024,blood,escherichia coli,R\r\n'.repeat(20_000)}`);
    await vi.waitFor(() => expect(readdirSync(uploads)).toHaveLength(1), {
      timeout: 10_000,
      interval: 50,
    });
    first.child.kill('SIGKILL');
    await first.exited;
    req.destroy();
    expect(readdirSync(uploads)).toHaveLength(1);

    // With one instance per DATA_DIR the start may sweep at once (grace 0).
    const second = await spawnGlass({ ...env, ORPHAN_UPLOAD_GRACE_MS: '0' });
    children.push(second);
    expect(readdirSync(uploads)).toHaveLength(0);
    expect(second.output()).toMatch(/removed uploads no dataset refers to/);
  });

  it('keeps a young unreferenced file under the default grace (another instance may be writing it)', async () => {
    for (const child of children.splice(0)) await child.stop();
    // What a transfer of another instance sharing DATA_DIR looks like: written a moment ago.
    writeFileSync(join(uploads, 'in-flight.csv'), 'PATIENT_ID\n');
    const third = await spawnGlass(env);
    children.push(third);
    expect(readdirSync(uploads)).toEqual(['in-flight.csv']);
  });
});
