import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Busboy from 'busboy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachExpress, type Listening, listen } from '../../../test/helpers/index.js';
import {
  addContextFields,
  getRequestContext,
  getRequestId,
  isAcceptableRequestId,
  requestContext,
} from '../src/index.js';
import { createTestLogger } from '../src/testing.js';
import { removeDir, tempDir } from './helpers.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('isAcceptableRequestId', () => {
  it.each([
    ['abc-123', true],
    ['A.b_c:d-e', true],
    ['x'.repeat(128), true],
    ['x'.repeat(129), false],
    ['', false],
    ['has space', false],
    ['semi;colon', false],
    ['new\nline', false],
    ['ünïcode', false],
    ['<script>', false],
  ])('%j → %s', (value, ok) => {
    expect(isAcceptableRequestId(value)).toBe(ok);
  });
});

describe('requestContext options', () => {
  it('rejects bad options with clear errors', () => {
    expect(() => requestContext({ header: 'bad header' })).toThrow(
      /^@shipshape\/logger: requestContext "header" must be an HTTP header name, got "bad header"/,
    );
    expect(() => requestContext({ generateId: 'x' as never })).toThrow(
      /"generateId" must be a function/,
    );
  });

  it('getRequestId / getRequestContext / addContextFields outside a request', () => {
    expect(getRequestId()).toBeUndefined();
    expect(getRequestContext()).toBeUndefined();
    expect(addContextFields({ a: 1 })).toBe(false);
  });
});

describeEachExpress('requestContext', (express) => {
  let server: Listening;
  let dir: string;
  const { logger, find, clear } = createTestLogger();

  beforeAll(async () => {
    dir = tempDir('ctx');
    writeFileSync(join(dir, 'data.txt'), 'x'.repeat(256 * 1024));
    const app = express();
    app.use(requestContext());
    app.get('/id', (req, res) => {
      res.json({ reqId: (req as unknown as { id: string }).id, ctx: getRequestId() });
    });
    // Each hop crosses a different async boundary; the id must survive all of them.
    app.get('/hops', async (req, res) => {
      const seen: Record<string, string | undefined> = { start: getRequestId() };
      await sleep(Number(req.query.delay ?? 0));
      seen.afterAwait = getRequestId();
      await new Promise<void>((resolve) =>
        setTimeout(
          () => {
            seen.timer = getRequestId();
            resolve();
          },
          Number(req.query.delay ?? 0),
        ),
      );
      await new Promise<void>((resolve) =>
        setImmediate(() => {
          seen.immediate = getRequestId();
          resolve();
        }),
      );
      const stream = createReadStream(join(dir, 'data.txt'), { highWaterMark: 16 * 1024 });
      const ids = new Set<string | undefined>();
      stream.on('data', () => ids.add(getRequestId()));
      await once(stream, 'end');
      seen.stream = ids.size === 1 ? [...ids][0] : `mixed:${[...ids].join(',')}`;
      addContextFields({ tenant: String(req.query.tenant ?? '') });
      logger.info('hops done');
      res.json({ reqId: (req as unknown as { id: string }).id, seen, ctx: getRequestContext() });
    });
    app.post('/upload', (req, res, next) => {
      const seen: Record<string, string | undefined> = {};
      const bb = Busboy({ headers: req.headers });
      bb.on('field', (name) => {
        seen[`field:${name}`] = getRequestId();
      });
      bb.on('file', (name, file) => {
        file.on('data', () => {
          seen[`file:${name}`] = getRequestId();
        });
        file.on('end', () => {
          seen[`end:${name}`] = getRequestId();
        });
      });
      bb.on('close', () => {
        seen.close = getRequestId();
        res.json({ reqId: (req as unknown as { id: string }).id, seen });
      });
      bb.on('error', next);
      req.pipe(bb);
    });
    app.post('/raw', (req, res) => {
      const ids = new Set<string | undefined>();
      req.on('data', () => ids.add(getRequestId()));
      req.on('end', () =>
        res.json({ reqId: (req as unknown as { id: string }).id, ids: [...ids] }),
      );
    });
    server = await listen(app);
  });

  afterAll(async () => {
    await server.close();
    await logger.close();
    removeDir(dir);
  });

  it('generates a UUID, sets req.id and the X-Request-Id header', async () => {
    const res = await fetch(`${server.url}/id`);
    const body = (await res.json()) as { reqId: string; ctx: string };
    expect(body.reqId).toMatch(UUID);
    expect(body.ctx).toBe(body.reqId);
    expect(res.headers.get('x-request-id')).toBe(body.reqId);
  });

  it('keeps an acceptable incoming X-Request-Id', async () => {
    const res = await fetch(`${server.url}/id`, {
      headers: { 'X-Request-Id': 'edge:lb-01.abc_DEF-9' },
    });
    expect(res.headers.get('x-request-id')).toBe('edge:lb-01.abc_DEF-9');
    expect(await res.json()).toEqual({
      reqId: 'edge:lb-01.abc_DEF-9',
      ctx: 'edge:lb-01.abc_DEF-9',
    });
  });

  it.each([
    ['too long', 'a'.repeat(129)],
    ['bad characters', 'id with spaces'],
    ['injection attempt', 'abc"},{"admin":true'],
  ])('replaces an incoming id that is %s with a new UUID', async (_label, incoming) => {
    const res = await fetch(`${server.url}/id`, { headers: { 'X-Request-Id': incoming } });
    const body = (await res.json()) as { reqId: string };
    expect(body.reqId).toMatch(UUID);
    expect(res.headers.get('x-request-id')).toBe(body.reqId);
  });

  it('propagates across await, timers, setImmediate and streams; 50 concurrent requests never mix ids', async () => {
    clear();
    const requests = Array.from({ length: 50 }, (_, i) => {
      const id = `req-${i}-${randomUUID()}`;
      return fetch(`${server.url}/hops?delay=${i % 7}&tenant=t${i}`, {
        headers: { 'X-Request-Id': id },
      })
        .then(
          (res) =>
            res.json() as Promise<{ reqId: string; seen: Record<string, string>; ctx: unknown }>,
        )
        .then((body) => ({ id, i, body }));
    });
    const results = await Promise.all(requests);
    for (const { id, i, body } of results) {
      expect(body.reqId).toBe(id);
      expect(body.seen).toEqual({
        start: id,
        afterAwait: id,
        timer: id,
        immediate: id,
        stream: id,
      });
      expect(body.ctx).toEqual({ requestId: id, fields: { tenant: `t${i}` } });
      // The log line written inside the request carries its own id and fields, no one else's.
      expect(find({ message: 'hops done', requestId: id })).toEqual([
        expect.objectContaining({ tenant: `t${i}` }),
      ]);
    }
  });

  it('propagates into multipart parsing (busboy field, file data and end events)', async () => {
    const uploads = Array.from({ length: 10 }, async (_, i) => {
      const id = `upload-${i}`;
      const form = new FormData();
      form.append('title', `t${i}`);
      form.append('doc', new Blob(['y'.repeat(200_000)]), 'doc.bin');
      const res = await fetch(`${server.url}/upload`, {
        method: 'POST',
        body: form,
        headers: { 'X-Request-Id': id },
      });
      const body = (await res.json()) as { reqId: string; seen: Record<string, string> };
      return { id, body };
    });
    for (const { id, body } of await Promise.all(uploads)) {
      expect(body.reqId).toBe(id);
      expect(body.seen).toEqual({
        'field:title': id,
        'file:doc': id,
        'end:doc': id,
        close: id,
      });
    }
  });

  it('propagates into raw body data events of concurrent chunked uploads', async () => {
    const posts = Array.from({ length: 10 }, async (_, i) => {
      const id = `raw-${i}`;
      const res = await fetch(`${server.url}/raw`, {
        method: 'POST',
        body: new Blob(['z'.repeat(300_000)]).stream(),
        duplex: 'half',
        headers: { 'X-Request-Id': id },
      } as RequestInit);
      return { id, body: (await res.json()) as { reqId: string; ids: string[] } };
    });
    for (const { id, body } of await Promise.all(posts)) {
      expect(body.reqId).toBe(id);
      expect(body.ids).toEqual([id]);
    }
  });
});

describeEachExpress('requestContext: req.id without a property per request', (express) => {
  it('reads req.id through the shared request prototype, in the app and in a mounted sub-app', async () => {
    const app = express();
    app.use(requestContext());
    const sub = express();
    sub.get('/id', (req, res) => {
      const r = req as unknown as { id: string };
      res.json({ id: r.id, own: Object.hasOwn(req, 'id'), ctx: getRequestId() });
    });
    app.use('/sub', sub);
    app.get('/id', (req, res) => {
      const r = req as unknown as { id: string };
      res.json({ id: r.id, own: Object.hasOwn(req, 'id'), ctx: getRequestId() });
    });
    const server = await listen(app);
    try {
      for (const path of ['/id', '/sub/id']) {
        const res = await fetch(`${server.url}${path}`, {
          headers: { 'X-Request-Id': `r${path.length}` },
        });
        expect(await res.json()).toEqual({
          id: `r${path.length}`,
          own: false,
          ctx: `r${path.length}`,
        });
      }
    } finally {
      await server.close();
    }
  });

  it('an id assigned by the app wins, as a plain property of that request only', async () => {
    const app = express();
    app.use(requestContext());
    app.get('/id', (req, res) => {
      const r = req as unknown as { id: string };
      const before = r.id;
      if (req.query.set) r.id = 'assigned';
      res.json({ before, after: r.id, own: Object.hasOwn(req, 'id') });
    });
    const server = await listen(app);
    try {
      const a = await (
        await fetch(`${server.url}/id?set=1`, { headers: { 'X-Request-Id': 'in-1' } })
      ).json();
      expect(a).toEqual({ before: 'in-1', after: 'assigned', own: true });
      const b = await (
        await fetch(`${server.url}/id`, { headers: { 'X-Request-Id': 'in-2' } })
      ).json();
      expect(b).toEqual({ before: 'in-2', after: 'in-2', own: false });
    } finally {
      await server.close();
    }
  });
});

describe('requestContext on a plain node:http server', () => {
  it('sets req.id as a property (no Express prototype to carry the accessor)', async () => {
    const middleware = requestContext();
    const server = await listen((req, res) => {
      middleware(req, res, () => {
        const r = req as typeof req & { id?: string };
        res.end(JSON.stringify({ id: r.id, own: Object.hasOwn(req, 'id') }));
      });
    });
    try {
      const res = await fetch(`${server.url}/`, { headers: { 'X-Request-Id': 'plain-1' } });
      expect(await res.json()).toEqual({ id: 'plain-1', own: true });
    } finally {
      await server.close();
    }
  });
});
