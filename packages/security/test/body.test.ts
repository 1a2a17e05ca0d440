import type { Express, Request, Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachExpress, type Listening, listen } from '../../../test/helpers/index.js';
import { errorHandler, jsonBody, urlencodedBody } from '../src/index.js';
import { jsonCases } from './fixtures/bad-input/index.js';
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

describeEachExpress('jsonBody / urlencodedBody', (express) => {
  let server: Listening;
  let fdBaseline: number;
  const logger = recordingLogger();

  beforeAll(async () => {
    const app: Express = express();
    app.post('/json', jsonBody({ logger }), (req: Request, res: Response) => {
      res.json({ body: req.body, polluted: ({} as Record<string, unknown>).polluted ?? null });
    });
    app.post(
      '/json-strip',
      jsonBody({ protoKeys: 'strip', logger }),
      (req: Request, res: Response) => {
        const merged = Object.assign({}, req.body as object);
        res.json({
          body: req.body,
          keys: Object.keys(req.body as object),
          polluted: ({} as Record<string, unknown>).polluted ?? null,
          mergedPolluted: (merged as Record<string, unknown>).polluted ?? null,
        });
      },
    );
    app.post(
      '/json-loose',
      jsonBody({ strict: false, limit: 10 }),
      (req: Request, res: Response) => {
        res.json({ body: req.body });
      },
    );
    app.post(
      '/form',
      urlencodedBody({ parameterLimit: 10, maxDepth: 3 }),
      (req: Request, res: Response) => {
        res.json({ body: req.body });
      },
    );
    app.use(errorHandler({ production: true }));
    server = await listen(app);
    await rawRequest(
      server.port,
      requestHead('POST', '/json', { 'Content-Type': 'application/json' }, 2),
      { chunks: [Buffer.from('{}')] },
    );
    fdBaseline = await settle(fdCount, () => false, 200);
  });
  afterAll(() => server.close());

  const post = (path: string, body: Buffer | string, contentType: string, chunked = false) => {
    const buf = typeof body === 'string' ? Buffer.from(body) : body;
    const chunks = chunked
      ? [
          ...pieces(buf, 8192).map((p) =>
            Buffer.concat([Buffer.from(`${p.length.toString(16)}\r\n`), p, Buffer.from('\r\n')]),
          ),
          Buffer.from('0\r\n\r\n'),
        ]
      : pieces(buf, 16 * 1024);
    return rawRequest(
      server.port,
      requestHead('POST', path, { 'Content-Type': contentType }, chunked ? undefined : buf.length),
      { chunks },
    );
  };

  it('parses a valid JSON body', async () => {
    const res = await post('/json', '{"name":"Ada","tags":["x"],"n":{"m":1}}', 'application/json');
    expect(res?.status).toBe(200);
    expect(res?.json().body).toEqual({ name: 'Ada', tags: ['x'], n: { m: 1 } });
  });

  it('accepts application/*+json and a UTF-8 charset', async () => {
    const res = await post('/json', '{"a":1}', 'application/merge-patch+json; charset=UTF-8');
    expect(res?.status).toBe(200);
  });

  it("passes multipart (and the other parser's type) through untouched for a later parser", async () => {
    const res = await post('/json', '--x\r\n', 'multipart/form-data; boundary=x');
    expect(res?.status).toBe(200);
    expect(res?.json().body ?? null).toBeNull();
    const form = await post('/form', '{"a":1}', 'application/json');
    expect(form?.status).toBe(200);
    expect(form?.json().body ?? null).toBeNull();
  });

  it('leaves requests without a body alone', async () => {
    const res = await rawRequest(
      server.port,
      'POST /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(res?.status).toBe(200);
  });

  describe('bad-input corpus (JSON)', () => {
    for (const c of jsonCases) {
      it(`${c.name} → ${c.status} ${c.code}`, async () => {
        const res = await post('/json', c.body(), c.contentType);
        const body = expectProblem(res, c.status, c.code);
        expect(String(body.detail).length).toBeGreaterThan(10);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        const ok = await post('/json', '{"alive":true}', 'application/json');
        expect(ok?.json().polluted).toBeNull();
        await expectBaseline(fdBaseline);
      });
    }
  });

  it('413s a chunked body as soon as it passes the limit (no Content-Length)', async () => {
    const size = 20 * 1024 * 1024;
    const res = await post('/json', `{"a":"${'x'.repeat(size)}"}`, 'application/json', true);
    expectProblem(res, 413, 'BODY_TOO_LARGE');
    expect(res?.bytesSentBeforeAnswer).toBeLessThan(size);
    await expectBaseline(fdBaseline);
  });

  it('rejects gzip bodies with 415 (no decompression bombs)', async () => {
    const res = await rawRequest(
      server.port,
      requestHead(
        'POST',
        '/json',
        { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
        2,
      ),
      { chunks: [Buffer.from('{}')] },
    );
    expectProblem(res, 415, 'UNSUPPORTED_ENCODING');
  });

  it('logs body_rejected with the key paths only', async () => {
    await post('/json', '{"user":{"__proto__":{"isAdmin":true}}}', 'application/json');
    const event = logger.events('body_rejected').at(-1);
    expect(event?.meta).toMatchObject({
      reason: 'prototype_keys',
      action: 'rejected',
      keys: ['user.__proto__'],
    });
    expect(JSON.stringify(event?.meta)).not.toContain('isAdmin');
  });

  it('strip mode removes prototype keys at any depth and nothing is polluted', async () => {
    const res = await post(
      '/json-strip',
      '{"a":1,"__proto__":{"polluted":1},"deep":[{"constructor":{"prototype":{"polluted":1}},"ok":2}]}',
      'application/json',
    );
    expect(res?.status).toBe(200);
    const json = res?.json() as Record<string, unknown>;
    expect(json.body).toEqual({ a: 1, deep: [{ ok: 2 }] });
    expect(json.polluted).toBeNull();
    expect(json.mergedPolluted).toBeNull();
    expect(logger.events('body_rejected').at(-1)?.meta?.action).toBe('stripped');
  });

  it('non-strict mode accepts scalars; its own limit applies', async () => {
    expect((await post('/json-loose', '42', 'application/json'))?.json().body).toBe(42);
    expectProblem(await post('/json-loose', '"0123456789"', 'application/json'), 413);
  });

  it('parses urlencoded forms with brackets and repeated names', async () => {
    const res = await post(
      '/form',
      'name=Ada+L&tags[]=a&tags[]=b&user[address][city]=Paris&x=1&x=2',
      'application/x-www-form-urlencoded',
    );
    expect(res?.status).toBe(200);
    expect(res?.json().body).toEqual({
      name: 'Ada L',
      tags: ['a', 'b'],
      user: { address: { city: 'Paris' } },
      x: ['1', '2'],
    });
  });

  it('urlencoded: too many parameters → 413, too deep → 400, __proto__ → 400, wrong type → 415', async () => {
    const many = Array.from({ length: 11 }, (_, i) => `p${i}=1`).join('&');
    expectProblem(
      await post('/form', many, 'application/x-www-form-urlencoded'),
      413,
      'TOO_MANY_PARAMETERS',
    );
    expectProblem(
      await post('/form', 'a[b][c][d]=1', 'application/x-www-form-urlencoded'),
      400,
      'BODY_TOO_DEEP',
    );
    expectProblem(
      await post('/form', '__proto__[polluted]=1', 'application/x-www-form-urlencoded'),
      400,
      'FORBIDDEN_KEY',
    );
    expectProblem(
      await post('/form', 'a[constructor][x]=1', 'application/x-www-form-urlencoded'),
      400,
      'FORBIDDEN_KEY',
    );
    expectProblem(
      await post('/form', 'a=1&a[b]=2', 'application/x-www-form-urlencoded'),
      400,
      'INVALID_BODY',
    );
    expectProblem(await post('/form', 'a=1', 'text/plain'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await expectBaseline(fdBaseline);
  });
});

describe('body parser options', () => {
  it('throws at factory time with the option, the value and what is accepted', () => {
    expect(() => jsonBody({ limit: 'huge' })).toThrow(
      `@shipshape/security: jsonBody "limit" must be a positive number of bytes or a size like '100kb', got "huge"`,
    );
    expect(() => jsonBody({ maxDepth: 0 })).toThrow(
      /jsonBody "maxDepth" must be a positive integer, got 0/,
    );
    expect(() => jsonBody({ protoKeys: 'allow' as 'strip' })).toThrow(/'reject', 'strip'/);
    expect(() => urlencodedBody({ parameterLimit: -1 })).toThrow(/parameterLimit/);
  });
});
