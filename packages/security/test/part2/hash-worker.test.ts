import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Request, Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachExpress, type Listening, listen } from '../../../../test/helpers/index.js';
import { startHash, terminateHashWorker } from '../../src/hash-worker.js';
import { errorHandler, uploadedFiles, uploadGuard } from '../../src/index.js';
import { multipart } from '../fixtures/bad-input/index.js';
import { pieces, rawRequest, requestHead } from './helpers.js';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

// The stored file is written with other bytes than the ones fed to the job, so the digest tells
// which way it was computed: from the fed bytes (the worker) or from the file (the fallback).
describe('startHash', () => {
  let dir: string;
  let stored: string;
  const storedBytes = Buffer.alloc(1000, 0x61);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shipshape-hash-'));
    stored = join(dir, 'stored.csv');
    await writeFile(stored, storedBytes);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('hashes the fed bytes on the worker, across batches and a partial last batch', async () => {
    const data = randomBytes(3.5 * 1024 * 1024);
    const job = startHash(stored);
    for (const chunk of pieces(data, 64 * 1024 + 7)) {
      job.update(chunk);
      // Let the worker hand batches back, as it does between socket reads.
      await new Promise((r) => setImmediate(r));
    }
    expect(await job.end()).toBe(sha256(data));
  });

  it('keeps concurrent jobs apart', async () => {
    const a = randomBytes(2.5 * 1024 * 1024);
    const b = randomBytes(1.2 * 1024 * 1024);
    const jobA = startHash(stored);
    const jobB = startHash(stored);
    const piecesA = pieces(a, 300_000);
    const piecesB = pieces(b, 300_000);
    for (let i = 0; i < Math.max(piecesA.length, piecesB.length); i++) {
      if (piecesA[i]) jobA.update(piecesA[i] as Buffer);
      if (piecesB[i]) jobB.update(piecesB[i] as Buffer);
      await new Promise((r) => setImmediate(r));
    }
    expect(await Promise.all([jobA.end(), jobB.end()])).toEqual([sha256(a), sha256(b)]);
  });

  it('hashes the stored file instead when the worker falls 16 MB behind', async () => {
    // One synchronous update: the worker cannot hand a batch back before the bound is reached.
    const job = startHash(stored);
    job.update(randomBytes(20 * 1024 * 1024));
    expect(await job.end()).toBe(sha256(storedBytes));
    // The batches came back: the next job runs on the worker again.
    const data = randomBytes(1024 * 1024 + 1);
    const next = startHash(stored);
    next.update(data);
    expect(await next.end()).toBe(sha256(data));
  });

  it('hashes the stored file when the worker dies, and starts a new worker for the next job', async () => {
    const job = startHash(stored);
    job.update(randomBytes(2 * 1024 * 1024));
    await terminateHashWorker();
    expect(await job.end()).toBe(sha256(storedBytes));
    const data = randomBytes(1.5 * 1024 * 1024);
    const next = startHash(stored);
    next.update(data);
    expect(await next.end()).toBe(sha256(data));
  });

  it('a cancelled job gives its batches back', async () => {
    for (let i = 0; i < 40; i++) {
      const job = startHash(stored);
      job.update(randomBytes(1024 * 1024 + 5));
      job.cancel();
      await new Promise((r) => setTimeout(r, 1));
    }
    const data = randomBytes(3 * 1024 * 1024);
    const job = startHash(stored);
    job.update(data);
    expect(await job.end()).toBe(sha256(data));
  });
});

describeEachExpress('uploadGuard hashing', (express) => {
  const BOUNDARY = '----shipshapeHash';
  let dir: string;
  let server: Listening;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shipshape-upload-hash-'));
    const app = express();
    app.post(
      '/upload',
      uploadGuard({ dir: join(dir, 'store'), types: ['csv'], maxFileSize: '20mb' }),
      (req: Request, res: Response) => {
        const [file] = uploadedFiles(req);
        res.json({ size: file?.size, sha256: file?.sha256 });
      },
    );
    app.use(errorHandler({ production: true }));
    server = await listen(app);
  });
  afterAll(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('reports the SHA-256 of a 6 MB file', async () => {
    const data = Buffer.from('id,organism,result\n'.concat('1,E. coli,R\n'.repeat(550_000)));
    const body = multipart(BOUNDARY, [
      { name: 'file', filename: 'big.csv', type: 'text/csv', data },
    ]);
    const res = await rawRequest(
      server.port,
      requestHead(
        'POST',
        '/upload',
        { 'Content-Type': `multipart/form-data; boundary=${BOUNDARY}` },
        body.length,
      ),
      { chunks: pieces(body, 256 * 1024), timeoutMs: 20_000 },
    );
    expect(res?.status, res?.body).toBe(200);
    expect(res?.json()).toEqual({ size: data.length, sha256: sha256(data) });
  });
});
