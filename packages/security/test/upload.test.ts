import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Express, NextFunction, Request, Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachExpress, type Listening, listen } from '../../../test/helpers/index.js';
import {
  errorHandler,
  jsonBody,
  type UploadedFile,
  uploadedFiles,
  uploadGuard,
  urlencodedBody,
} from '../src/index.js';
import {
  multipart,
  multipartCases,
  PNG_1X1,
  sampleCsv,
  uploadLimits,
  xlsxWorkbook,
} from './fixtures/bad-input/index.js';
import {
  expectBaseline,
  expectProblem,
  fdCount,
  pieces,
  rawRequest,
  recordingLogger,
  requestHead,
  settle,
} from './helpers/raw.js';

const BOUNDARY = '----shipshapeBoundary7MA4YWxkTrZu0gW';
const multipartType = `multipart/form-data; boundary=${BOUNDARY}`;

describeEachExpress('uploadGuard', (express) => {
  let dir: string;
  let server: Listening;
  let fdBaseline: number;
  const logger = recordingLogger();
  const kept: UploadedFile[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shipshape-upload-'));
    const app: Express = express();
    // App-wide body parsers as harden() mounts them: they must leave multipart to uploadGuard.
    app.use(jsonBody(), urlencodedBody());
    const guard = uploadGuard({
      dir: join(dir, 'store'),
      types: ['csv', 'xlsx', 'png'],
      logger,
      ...uploadLimits,
    });
    app.post('/upload', guard, (req: Request, res: Response) => {
      const files = uploadedFiles(req);
      res.json({
        files: files.map((f) => ({
          name: f.name,
          size: f.size,
          sha256: f.sha256,
          detectedType: f.detectedType,
          storedName: f.storedName,
          path: f.path,
        })),
        fields: req.body,
        sameAsReqFiles: (req as Request & { files?: unknown }).files === files,
      });
    });
    app.post('/keep', guard, (req: Request, res: Response) => {
      for (const f of uploadedFiles(req)) {
        f.keep();
        kept.push(f);
      }
      res.json({ paths: uploadedFiles(req).map((f) => f.path) });
    });
    app.post('/fail-after', guard, (_req: Request, _res: Response, next: NextFunction) => {
      next(new Error('route failed after the upload'));
    });
    app.post(
      '/slow',
      uploadGuard({ dir: join(dir, 'store'), logger, idleTimeoutMs: 300 }),
      (_req: Request, res: Response) => {
        res.json({ ok: true });
      },
    );
    app.use(errorHandler({ production: true }));
    server = await listen(app);
    // Warm up (lazy requires, the upload directory) before taking the fd baseline.
    const warm = multipart(BOUNDARY, [
      { name: 'file', filename: 'a.csv', type: 'text/csv', data: sampleCsv },
    ]);
    await rawRequest(
      server.port,
      requestHead('POST', '/upload', { 'Content-Type': multipartType }, warm.length),
      { chunks: [warm] },
    );
    await expectBaseline(Number.POSITIVE_INFINITY, join(dir, 'store'));
    fdBaseline = await settle(fdCount, () => false, 200);
  });

  afterAll(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  const send = (body: Buffer, path = '/upload', contentType = multipartType) =>
    rawRequest(
      server.port,
      requestHead('POST', path, { 'Content-Type': contentType }, body.length),
      {
        chunks: pieces(body, 16 * 1024),
      },
    );

  it('stores a valid CSV under a generated name with size, sha256, type and display name', async () => {
    const body = multipart(BOUNDARY, [
      { name: 'title', data: 'Q3 report' },
      { name: 'file', filename: 'C:\\Users\\me\\My Data.csv', type: 'text/csv', data: sampleCsv },
    ]);
    const res = await send(body);
    expect(res?.status, res?.body).toBe(200);
    const json = res?.json() as {
      files: Record<string, unknown>[];
      fields: Record<string, unknown>;
      sameAsReqFiles: boolean;
    };
    expect(json.sameAsReqFiles).toBe(true);
    expect(json.fields).toEqual({ title: 'Q3 report' });
    const [file] = json.files;
    expect(file?.name).toBe('My Data.csv');
    expect(file?.size).toBe(Buffer.byteLength(sampleCsv));
    expect(file?.sha256).toBe(createHash('sha256').update(sampleCsv).digest('hex'));
    expect(file?.detectedType).toBe('text/csv');
    expect(file?.storedName).toMatch(/^[0-9a-f-]{36}\.csv$/);
    expect(String(file?.path).startsWith(join(dir, 'store'))).toBe(true);
    // autoRemove: the route did not keep it, so it is gone once the response is done.
    await expectBaseline(fdBaseline, join(dir, 'store'));
  });

  it('accepts a real XLSX workbook and a real PNG', async () => {
    const body = multipart(BOUNDARY, [
      {
        name: 'file',
        filename: 'book.xlsx',
        type: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
        data: xlsxWorkbook(),
      },
      { name: 'file', filename: 'pixel.png', type: 'image/png', data: PNG_1X1 },
    ]);
    const res = await send(body);
    expect(res?.status, res?.body).toBe(200);
    const json = res?.json() as { files: { detectedType: string; sha256: string }[] };
    expect(json.files.map((f) => f.detectedType)).toEqual([
      'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
      'image/png',
    ]);
    expect(json.files[0]?.sha256).toBe(createHash('sha256').update(xlsxWorkbook()).digest('hex'));
    await expectBaseline(fdBaseline, join(dir, 'store'));
  });

  it('reads a part header of up to 16 KiB whole (a Content-Type after a 15 kB line counts)', async () => {
    const body = multipart(BOUNDARY, [
      {
        name: 'file',
        filename: 'a.csv',
        extraHeaders: [`X-Pad: ${'p'.repeat(15_000)}`, 'Content-Type: image/png'],
        data: sampleCsv,
      },
    ]);
    // The declared type is read (and refused for a .csv), not lost with a truncated header.
    expectProblem(await send(body), 415, 'UNSUPPORTED_FILE_TYPE');
    const ok = multipart(BOUNDARY, [
      {
        name: 'file',
        filename: 'a.csv',
        extraHeaders: [`X-Pad: ${'p'.repeat(15_000)}`, 'Content-Type: text/csv'],
        data: sampleCsv,
      },
    ]);
    const res = await send(ok);
    expect(res?.status, res?.body).toBe(200);
    await expectBaseline(fdBaseline, join(dir, 'store'));
  });

  it('accepts a file exactly at the size limit', async () => {
    const data = Buffer.alloc(uploadLimits.maxFileSize, 'a');
    const res = await send(
      multipart(BOUNDARY, [{ name: 'file', filename: 'max.csv', type: 'text/csv', data }]),
    );
    expect(res?.status, res?.body).toBe(200);
    await expectBaseline(fdBaseline, join(dir, 'store'));
  });

  it('keeps files the route keeps, and removes them with remove()', async () => {
    const res = await send(
      multipart(BOUNDARY, [{ name: 'file', filename: 'k.csv', type: 'text/csv', data: sampleCsv }]),
      '/keep',
    );
    expect(res?.status).toBe(200);
    const [path] = (res?.json() as { paths: string[] } | undefined)?.paths ?? [];
    expect(await readFile(path as string, 'utf8')).toBe(sampleCsv);
    // Still there after the response has finished (autoRemove skips kept files)...
    await new Promise((r) => setTimeout(r, 100));
    expect(await readdir(join(dir, 'store'))).toHaveLength(1);
    // ...until the owner removes it through the API.
    const keptFile = kept.at(-1);
    expect(keptFile?.path).toBe(path);
    await keptFile?.remove();
    await expectBaseline(fdBaseline, join(dir, 'store'));
  });

  it('removes the stored files when the route fails after the upload', async () => {
    const res = await send(
      multipart(BOUNDARY, [{ name: 'file', filename: 'a.csv', type: 'text/csv', data: sampleCsv }]),
      '/fail-after',
    );
    expectProblem(res, 500, 'INTERNAL');
    expect(res?.body).not.toContain('route failed');
    await expectBaseline(fdBaseline, join(dir, 'store'));
  });

  it('a storage error answers 500 without details and the directory is recreated next time', async () => {
    const store = join(dir, 'store');
    await rm(store, { recursive: true, force: true });
    const body = multipart(BOUNDARY, [
      { name: 'file', filename: 'a.csv', type: 'text/csv', data: sampleCsv },
    ]);
    const failed = await send(body);
    const problem = expectProblem(failed, 500, 'UPLOAD_STORAGE_FAILED');
    expect(problem.detail).toBeUndefined();
    const ok = await send(body);
    expect(ok?.status).toBe(200);
    await expectBaseline(fdBaseline, store);
  });

  it('answers 415 for a non-multipart request and 400 for a missing boundary', async () => {
    expectProblem(await send(Buffer.from('{}'), '/upload', 'application/json'), 415);
    expectProblem(
      await send(Buffer.from('x'), '/upload', 'multipart/form-data'),
      400,
      'MALFORMED_MULTIPART',
    );
    await expectBaseline(fdBaseline, join(dir, 'store'));
  });

  describe('bad-input corpus', () => {
    for (const c of multipartCases) {
      it(`${c.name} → ${c.status} ${c.code}`, async () => {
        const before = logger.events('upload_rejected').length;
        const res = await send(c.body(BOUNDARY));
        const body = expectProblem(res, c.status, c.code);
        expect(body.instance).toBe('/upload');
        expect(logger.events('upload_rejected').length).toBe(before + 1);
        // The process is alive and answers the next request.
        const ok = await send(
          multipart(BOUNDARY, [
            { name: 'file', filename: 'a.csv', type: 'text/csv', data: sampleCsv },
          ]),
        );
        expect(ok?.status).toBe(200);
        await expectBaseline(fdBaseline, join(dir, 'store'));
      });
    }
  });

  it('answers 413 while a 10 MB oversized file is still being sent, and cleans up', async () => {
    const head = multipart(BOUNDARY, [
      { name: 'file', filename: 'huge.csv', type: 'text/csv', data: '' },
    ]).subarray(0, -`\r\n--${BOUNDARY}--\r\n`.length);
    const total = 10 * 1024 * 1024;
    const chunks = [head, ...pieces(Buffer.alloc(total, 'a'), 64 * 1024)];
    const length = chunks.reduce((n, c) => n + c.length, 0);
    const res = await rawRequest(
      server.port,
      requestHead('POST', '/upload', { 'Content-Type': multipartType }, length),
      { chunks },
    );
    expectProblem(res, 413, 'FILE_TOO_LARGE');
    expect(res?.headers.connection).toBe('close');
    expect(res?.bytesSentBeforeAnswer).toBeLessThan(length);
    // The bound: the 4xx arrives within a second (here from the first byte sent).
    expect(res?.elapsedMs).toBeLessThan(1000);
    await expectBaseline(fdBaseline, join(dir, 'store'));
  });

  it('removes the partial file when the client aborts mid-file, within a second', async () => {
    const before = logger.events('upload_rejected').length;
    const head = multipart(BOUNDARY, [
      { name: 'file', filename: 'cut.csv', type: 'text/csv', data: '' },
    ]).subarray(0, -`\r\n--${BOUNDARY}--\r\n`.length);
    const data = pieces(Buffer.alloc(40 * 1024, 'b'), 8 * 1024);
    const res = await rawRequest(
      server.port,
      requestHead('POST', '/upload', { 'Content-Type': multipartType }, 1024 * 1024),
      { chunks: [head, ...data], abortAfterChunks: 4, pauseMs: 30 },
    );
    expect(res).toBeUndefined();
    const events = await settle(
      () => logger.events('upload_rejected').length,
      (n) => n > before,
      1000,
    );
    expect(events).toBe(before + 1);
    expect(logger.events('upload_rejected').at(-1)?.meta?.code).toBe('UPLOAD_ABORTED');
    const files = await settle(
      () => readdir(join(dir, 'store')),
      (f) => f.length === 0,
      1000,
    );
    expect(files).toEqual([]);
    await expectBaseline(fdBaseline, join(dir, 'store'));
  });

  it('20 concurrent uploads mixing valid, oversized, aborted and malformed: right answers, 0 orphans', async () => {
    const valid = multipart(BOUNDARY, [
      { name: 'file', filename: 'ok.csv', type: 'text/csv', data: sampleCsv.repeat(100) },
    ]);
    const big = multipart(BOUNDARY, [
      { name: 'file', filename: 'big.csv', type: 'text/csv', data: Buffer.alloc(512 * 1024, 'a') },
    ]);
    const cut = multipart(
      BOUNDARY,
      [{ name: 'file', filename: 'c.csv', type: 'text/csv', data: sampleCsv }],
      false,
    );
    const head = (length: number) =>
      requestHead('POST', '/upload', { 'Content-Type': multipartType }, length);
    const jobs = Array.from({ length: 20 }, (_, i) => {
      switch (i % 4) {
        case 0:
          return rawRequest(server.port, head(valid.length), { chunks: pieces(valid, 4096) }).then(
            (r) => ['valid', r?.status],
          );
        case 1:
          return rawRequest(server.port, head(big.length), { chunks: pieces(big, 16 * 1024) }).then(
            (r) => ['big', r?.status],
          );
        case 2:
          return rawRequest(server.port, head(valid.length * 2), {
            chunks: pieces(valid, 1024),
            abortAfterChunks: 2,
            pauseMs: 5,
          }).then((r) => ['abort', r?.status]);
        default:
          return rawRequest(server.port, head(cut.length), { chunks: [cut] }).then((r) => [
            'cut',
            r?.status,
          ]);
      }
    });
    const results = await Promise.all(jobs);
    for (const [kind, status] of results) {
      const want = { valid: 200, big: 413, abort: undefined, cut: 400 }[kind as string];
      expect(status, String(kind)).toBe(want);
    }
    await expectBaseline(fdBaseline, join(dir, 'store'));
  });

  it('a client that stalls mid-file gets 408 after idleTimeoutMs and its partial file is removed', async () => {
    const head = multipart(BOUNDARY, [
      { name: 'file', filename: 'slow.csv', type: 'text/csv', data: '' },
    ]).subarray(0, -`\r\n--${BOUNDARY}--\r\n`.length);
    const res = await rawRequest(
      server.port,
      requestHead('POST', '/slow', { 'Content-Type': multipartType }, 1024 * 1024),
      // Head and 8 kB, then a 3 s pause the server must not wait out.
      { chunks: [head, Buffer.alloc(8192, 'a'), Buffer.alloc(8192, 'a')], pauseMs: 3000 },
    );
    expectProblem(res, 408, 'UPLOAD_TIMEOUT');
    expect(res?.elapsedMs).toBeLessThan(2500);
    await expectBaseline(fdBaseline, join(dir, 'store'));
  });

  it('logs upload_rejected with reason and code, without file contents', () => {
    const events = logger.events('upload_rejected');
    expect(events.at(-1)?.meta).toMatchObject({
      method: 'POST',
      path: '/slow',
      code: 'UPLOAD_TIMEOUT',
      reason: 'upload_timeout',
      status: 408,
    });
    for (const event of events) expect(JSON.stringify(event.meta)).not.toContain('alpha,1');
  });
});

describe('uploadGuard options', () => {
  it('throws at factory time for bad options, naming the option and the value', () => {
    expect(() => uploadGuard({ dir: 'relative/dir' })).toThrow(
      /@shipshape\/security: uploadGuard "dir" must be an absolute directory path, got "relative\/dir"/,
    );
    expect(() => uploadGuard({ dir: '/tmp/x', types: ['exe' as 'csv'] })).toThrow(
      /unknown type "exe"/,
    );
    expect(() => uploadGuard({ dir: '/tmp/x', maxFileSize: 'lots' })).toThrow(
      /"maxFileSize" must be a positive number of bytes or a size like '100kb', got "lots"/,
    );
    expect(() => uploadGuard({ dir: '/tmp/x', maxFiles: 2, minFiles: 3 })).toThrow(/"minFiles"/);
  });
});
