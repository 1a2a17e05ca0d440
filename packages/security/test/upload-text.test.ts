import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express, { type Request, type Response } from 'express';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Listening, listen } from '../../../test/helpers/index.js';
import { errorHandler, uploadedFiles, uploadGuard } from '../src/index.js';
import { TextValidator } from '../src/sniff.js';
import { multipart } from './fixtures/bad-input/index.js';
import { expectProblem, pieces, rawRequest, requestHead } from './helpers/raw.js';

/** Feeds `chunks` to a fresh UTF-8 validator; the first problem reported, or undefined. */
function verdict(chunks: readonly Buffer[]): string | undefined {
  const text = new TextValidator('utf-8');
  for (const chunk of chunks) {
    const problem = text.push(chunk);
    if (problem) return problem;
  }
  return text.end();
}

/** Every way to cut `data` in two, then fixed-size pieces of 1 to 5 bytes. */
function splits(data: Buffer): Buffer[][] {
  const out: Buffer[][] = [];
  for (let cut = 0; cut <= data.length; cut++)
    out.push([data.subarray(0, cut), data.subarray(cut)]);
  for (let size = 1; size <= 5; size++) out.push(pieces(data, size));
  return out;
}

const valid = Buffer.from('id,city\n1,Zürich ✓\n2,€ 5,😀\n3,ÿ\n');
const invalid: Record<string, Buffer> = {
  'a sequence cut short by ASCII': Buffer.from([0x61, 0xe2, 0x82, 0x41, 0x62]),
  'an overlong encoding': Buffer.from([0x61, 0xc0, 0xaf, 0x62]),
  'a UTF-16 surrogate': Buffer.from([0x61, 0xed, 0xa0, 0x80, 0x62]),
  'a code point above U+10FFFF': Buffer.from([0x61, 0xf4, 0x90, 0x80, 0x80]),
  'a stray continuation byte': Buffer.from([0x61, 0x80, 0x62]),
  'a 0xFF byte': Buffer.from([0x61, 0xff, 0x62]),
  'extra continuation bytes after a complete sequence': Buffer.from([0xe2, 0x82, 0xac, 0x80, 0x80]),
  'a sequence truncated at the end': Buffer.from([0x61, 0x62, 0xe2, 0x82]),
};

describe('TextValidator (UTF-8 across chunk boundaries)', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('accepts valid UTF-8 however it is cut, including inside 2-, 3- and 4-byte sequences', () => {
    for (const chunks of splits(valid))
      expect(verdict(chunks), JSON.stringify(chunks)).toBe(undefined);
  });

  it.each(Object.entries(invalid))('rejects %s however it is cut', (_name, data) => {
    expect(isUtf8(data)).toBe(false);
    for (const chunks of splits(data))
      expect(verdict(chunks), JSON.stringify(chunks)).toMatch(/is not valid UTF-8/);
  });

  it('checks a sequence split across chunks without copying the large chunk', () => {
    const big = Buffer.alloc(256 * 1024, 0x61);
    const first = Buffer.concat([big, Buffer.from([0xf0, 0x9f])]);
    const second = Buffer.concat([Buffer.from([0x98, 0x80]), big, Buffer.from([0xe2])]);
    const third = Buffer.concat([Buffer.from([0x82, 0xac]), big]);
    const concat = vi.spyOn(Buffer, 'concat');
    expect(verdict([first, second, third])).toBe(undefined);
    const copied = concat.mock.calls.map(([list]) => list.reduce((n, b) => n + b.length, 0));
    expect(copied.length).toBeGreaterThan(0);
    expect(Math.max(...copied)).toBeLessThanOrEqual(4);
  });
});

describe('uploadGuard text check over HTTP, sequences split between TCP segments', () => {
  const BOUNDARY = '----shipshapeTextSplit';
  let dir: string;
  let server: Listening;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shipshape-upload-text-'));
    const app = express();
    app.post(
      '/upload',
      uploadGuard({ dir: join(dir, 'store'), types: ['csv'] }),
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

  const send = (body: Buffer) =>
    rawRequest(
      server.port,
      requestHead(
        'POST',
        '/upload',
        { 'Content-Type': `multipart/form-data; boundary=${BOUNDARY}` },
        body.length,
      ),
      // 7-byte pieces with a pause: each arrives as its own chunk, cutting sequences at every
      // offset in turn.
      { chunks: pieces(body, 7), pauseMs: 1, timeoutMs: 20_000 },
    );
  const csvPart = (data: Buffer) =>
    multipart(BOUNDARY, [{ name: 'file', filename: 'a.csv', type: 'text/csv', data }]);

  it('stores a CSV whose multi-byte characters straddle the chunks, intact', async () => {
    const data = Buffer.from('1,€,😀,Zürich ✓\n'.repeat(40));
    const res = await send(csvPart(data));
    expect(res?.status, res?.body).toBe(200);
    expect(res?.json()).toEqual({
      size: data.length,
      sha256: createHash('sha256').update(data).digest('hex'),
    });
  });

  it('answers 415 when an invalid sequence straddles two chunks, and leaves no file', async () => {
    const head = csvPart(Buffer.alloc(0)).indexOf('\r\n\r\n') + 4;
    // Put the lead byte of a broken 3-byte sequence (E2 82 then ASCII) last in a 7-byte piece.
    const before = 7 - ((head + 1) % 7);
    const data = Buffer.concat([
      Buffer.alloc(before + 7 * 10, 0x61),
      Buffer.from([0xe2, 0x82, 0x41]),
      Buffer.from('\n'),
    ]);
    const body = csvPart(data);
    expect(body[head + before + 7 * 10]).toBe(0xe2);
    expect((head + before + 7 * 10 + 1) % 7).toBe(0);
    const res = await send(body);
    expectProblem(res, 415, 'UNSUPPORTED_FILE_TYPE');
    expect(res?.json().detail).toMatch(/is not valid UTF-8/);
    expect(await readdir(join(dir, 'store'))).toEqual([]);
  });
});
