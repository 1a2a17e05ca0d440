import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildGlass, spawnGlass, waitDone } from '../http/child.js';
import { upload } from '../http/support.js';
import { type BombName, writeBombs } from '../io/bombs.js';

const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

/** Peak resident set of a process (VmHWM), MB. */
function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

describe('XLSX decompression bombs uploaded to the running service', () => {
  const dir = mkdtempSync(join(tmpdir(), 'glass-fault-xlsx-'));
  const dataDir = join(dir, 'data');
  let glass: ChildGlass;
  let bombs: Record<BombName, string>;

  beforeAll(async () => {
    bombs = writeBombs(mkdtempSync(join(dir, 'bombs-')));
    mkdirSync(join(dir, 'tmp'));
    glass = await spawnGlass({
      DATA_DIR: dataDir,
      LOG_DIR: join(dir, 'logs'),
      TMPDIR: join(dir, 'tmp'),
    });
  });
  afterAll(async () => {
    await glass?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses every bomb its central directory gives away with 413/422 problem+json, keeping no file', async () => {
    const refusedFromDirectory: BombName[] = [
      'threeSheets',
      'oneCell',
      'sharedStrings',
      'lyingLocalHeader',
      'hugeAttribute',
      'manyEntries',
      'declaredHuge',
    ];
    for (const name of refusedFromDirectory) {
      const bytes = readFileSync(bombs[name]);
      const res = await upload(
        glass.url,
        { name: `${basename(bombs[name])}`, bytes, type: XLSX },
        { country: 'KEN', year: '2024', batchId: `BOMB-${name}` },
      );
      const body = (await res.json()) as { code: string; status: number };
      expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
      if (name === 'manyEntries') {
        // uploadGuard lists the entries first and refuses a zip of over 10,000 as no workbook.
        expect(body).toMatchObject({ status: 415, code: 'UNSUPPORTED_FILE_TYPE' });
        continue;
      }
      expect([413, 422], `${name}: ${JSON.stringify(body)}`).toContain(res.status);
      expect(body.code, name).toMatch(/^XLSX_/);
    }
    // The rejected files are gone (uploadGuard deletes what the route did not keep).
    await expect.poll(() => readdirSync(join(dataDir, 'uploads')), { timeout: 2000 }).toEqual([]);
    expect(peakRssMb(glass.child.pid as number)).toBeLessThan(250);
  });

  it('bombs only reading their parts reveals are stopped while they inflate: quality ERROR, bounded memory, no temp file', async () => {
    // A fresh instance: the first test used most of this client's 10 uploads a minute.
    await glass.stop();
    glass = await spawnGlass({
      DATA_DIR: dataDir,
      LOG_DIR: join(dir, 'logs'),
      TMPDIR: join(dir, 'tmp'),
    });
    const expected: Partial<Record<BombName, string>> = {
      lyingSizes: 'XLSX_SIZE_MISMATCH',
      sharedStringsDeclared: 'XLSX_SHARED_STRINGS',
      manyAttributes: 'XLSX_XML_LIMIT',
      deepNesting: 'XLSX_XML_LIMIT',
    };
    for (const [name, code] of Object.entries(expected) as [BombName, string][]) {
      const res = await upload(
        glass.url,
        { name: `${name}.xlsx`, bytes: readFileSync(bombs[name]), type: XLSX },
        { country: 'KEN', year: '2024', batchId: `LATE-${name}` },
      );
      expect(res.status, name).toBe(202);
      const { id } = (await res.json()) as { id: string };
      const done = await waitDone(glass.url, id, { intervalMs: 500 });
      expect(done.status, name).toBe('done');
      expect(done.quality?.blocking, name).toBe(true);
      const quality = (await (await fetch(`${glass.url}/api/datasets/${id}/quality`)).json()) as {
        entries: { code: string }[];
      };
      expect(
        quality.entries.map((e) => e.code),
        name,
      ).toContain(code);
    }
    expect(peakRssMb(glass.child.pid as number)).toBeLessThan(300);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });
});
