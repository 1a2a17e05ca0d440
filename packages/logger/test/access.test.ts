import { once } from 'node:events';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { describeEachExpress, type Listening, listen } from '../../../test/helpers/index.js';
import { routeTemplate } from '../src/access.js';
import { accessLog, addContextFields, requestContext } from '../src/index.js';
import { createTestLogger } from '../src/testing.js';

describe('accessLog options', () => {
  const { logger } = createTestLogger();
  it('rejects bad options with clear errors', () => {
    expect(() => accessLog(undefined as never)).toThrow(
      /^@shipshape\/logger: accessLog needs a logger/,
    );
    expect(() => accessLog(logger, { slowMs: -1 })).toThrow(
      /accessLog "slowMs" must be a non-negative number of milliseconds, got -1/,
    );
    expect(() => accessLog(logger, { slowRoutes: { '/x': Number.NaN } })).toThrow(
      /"slowRoutes" value for "\/x" must be a non-negative number/,
    );
    expect(() => accessLog(logger, { skip: 'health' as never })).toThrow(
      /"skip" must be a function or false/,
    );
  });
});

/** Sends a request on a raw socket and destroys it before the response is complete. */
async function abortMidRequest(port: number, raw: string, waitMs: number): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(raw);
  await sleep(waitMs);
  socket.destroy();
}

describeEachExpress('accessLog', (express) => {
  let server: Listening;
  const { logger, find, records, clear } = createTestLogger();
  const started = new Set<string>();

  beforeAll(async () => {
    const app = express();
    app.use(requestContext());
    app.use(
      accessLog(logger, {
        slowMs: 10_000,
        slowRoutes: { 'GET /slow/:ms': 20, '/api/uploads/:id': 60_000 },
      }),
    );
    const api = express.Router();
    const uploads = express.Router();
    uploads.get('/:id', (_req, res) => {
      res.json({ ok: true });
    });
    uploads.get('/', (_req, res) => {
      res.send('list');
    });
    uploads.get('/:id/async-fail', async (_req, _res, next) => {
      await sleep(5);
      next(new Error('later'));
    });
    uploads.post('/:id', (req, res) => {
      req.resume();
      req.on('end', () => res.status(201).send('created'));
    });
    api.use('/uploads', uploads);
    api.get('/boom', () => {
      throw new Error('boom');
    });
    app.use('/api', api);
    app.get('/health', (_req, res) => {
      res.send('ok');
    });
    app.get('/who', (_req, res) => {
      addContextFields({ userId: 'u-42', password: 'leak?', route: 'must not override' });
      res.send('you');
    });
    app.get('/metrics', (_req, res) => {
      res.send('# metrics');
    });
    app.get('/slow/:ms', async (req, res) => {
      await sleep(Number(req.params.ms));
      res.send('late');
    });
    app.get('/hang/:tag', (req) => {
      // Never answers; the client gives up.
      started.add(req.params.tag as string);
    });
    app.post('/upload-hang/:tag', (req) => {
      started.add(req.params.tag as string);
      req.resume();
    });
    app.use((_req: unknown, res: { status(n: number): { send(b: string): void } }) => {
      res.status(404).send('nope');
    });
    app.use(
      (
        _err: unknown,
        _req: unknown,
        res: { status(n: number): { send(b: string): void } },
        _next: unknown,
      ) => {
        res.status(500).send('error');
      },
    );
    server = await listen(app);
  });

  afterAll(async () => {
    await server.close();
    await logger.close();
  });

  async function accessLine(requestId: string) {
    await vi.waitFor(() => expect(find({ stream: 'access', requestId })).toHaveLength(1), {
      timeout: 5000,
    });
    return find({ stream: 'access', requestId })[0] as Record<string, unknown>;
  }

  it('logs one line per finished request with template, status, duration, bytes, ip, user agent, id', async () => {
    const res = await fetch(`${server.url}/api/uploads/123?token=abc`, {
      headers: { 'X-Request-Id': 'fin-1', 'User-Agent': 'probe/1.0' },
    });
    expect(res.status).toBe(200);
    const line = await accessLine('fin-1');
    expect(line).toMatchObject({
      level: 'info',
      message: 'request',
      stream: 'access',
      method: 'GET',
      route: '/api/uploads/:id',
      status: 200,
      bytesIn: 0,
      ip: expect.stringMatching(/127\.0\.0\.1$/),
      userAgent: 'probe/1.0',
      requestId: 'fin-1',
      service: 'test',
    });
    expect(line.durationMs).toEqual(expect.any(Number));
    expect(line.durationMs as number).toBeGreaterThanOrEqual(0);
    // bytesOut counts what went on the socket: headers and the 11-byte body.
    expect(line.bytesOut as number).toBeGreaterThan(11);
    expect(line).not.toHaveProperty('aborted');
    expect(line).not.toHaveProperty('slow');
    expect(JSON.stringify(line)).not.toContain('token=abc');
  });

  it('counts request bytes and uses the method for templates of nested mounted routers', async () => {
    const res = await fetch(`${server.url}/api/uploads/9`, {
      method: 'POST',
      body: 'x'.repeat(1234),
      headers: { 'X-Request-Id': 'post-1' },
    });
    expect(res.status).toBe(201);
    expect(await accessLine('post-1')).toMatchObject({
      method: 'POST',
      route: '/api/uploads/:id',
      status: 201,
      bytesIn: 1234,
    });
  });

  it('unmatched paths log the path without the query string, at warn for 404', async () => {
    await fetch(`${server.url}/no/such/thing?secret=1&x=2`, {
      headers: { 'X-Request-Id': 'nf-1' },
    });
    expect(await accessLine('nf-1')).toMatchObject({
      route: '/no/such/thing',
      status: 404,
      level: 'warn',
    });
  });

  it('5xx logs at error, with the mount prefix even when an app-level error handler answers', async () => {
    await fetch(`${server.url}/api/boom`, { headers: { 'X-Request-Id': 'err-1' } });
    expect(await accessLine('err-1')).toMatchObject({
      route: '/api/boom',
      status: 500,
      level: 'error',
    });
    await fetch(`${server.url}/api/uploads/5/async-fail`, { headers: { 'X-Request-Id': 'err-2' } });
    expect(await accessLine('err-2')).toMatchObject({
      route: '/api/uploads/:id/async-fail',
      status: 500,
    });
  });

  it("a router's root route mounted under a prefix is the prefix itself", async () => {
    await fetch(`${server.url}/api/uploads`, { headers: { 'X-Request-Id': 'root-1' } });
    expect(await accessLine('root-1')).toMatchObject({ route: '/api/uploads', status: 200 });
  });

  it('slow requests (per-route slowMs) log at warn with slow: true', async () => {
    await fetch(`${server.url}/slow/60`, { headers: { 'X-Request-Id': 'slow-1' } });
    const line = await accessLine('slow-1');
    expect(line).toMatchObject({ route: '/slow/:ms', status: 200, level: 'warn', slow: true });
    expect(line.durationMs as number).toBeGreaterThanOrEqual(50);
  });

  it('carries context fields added during the request (redacted, never overriding access fields)', async () => {
    await fetch(`${server.url}/who`, { headers: { 'X-Request-Id': 'ctx-1' } });
    const line = await accessLine('ctx-1');
    expect(line).toMatchObject({ route: '/who', userId: 'u-42', password: '[REDACTED]' });
  });

  it('skips health probes and /metrics by default', async () => {
    clear();
    await fetch(`${server.url}/health`, { headers: { 'X-Request-Id': 'probe-1' } });
    await fetch(`${server.url}/metrics`, { headers: { 'X-Request-Id': 'probe-2' } });
    await fetch(`${server.url}/api/uploads/1`, { headers: { 'X-Request-Id': 'after-probes' } });
    await accessLine('after-probes');
    expect(records.filter((r) => r.stream === 'access').map((r) => r.requestId)).toEqual([
      'after-probes',
    ]);
  });

  it('a client that disconnects before the response is logged with aborted: true', async () => {
    await abortMidRequest(
      server.port,
      'GET /hang/a1 HTTP/1.1\r\nHost: x\r\nX-Request-Id: abort-1\r\n\r\n',
      0,
    );
    const line = await accessLine('abort-1');
    expect(started.has('a1')).toBe(true);
    expect(line).toMatchObject({ aborted: true, route: '/hang/:tag', status: 499, level: 'warn' });
  });

  it('a client that disconnects in the middle of an upload body is logged with aborted: true', async () => {
    const socket = connect(server.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(
      'POST /upload-hang/u1 HTTP/1.1\r\nHost: x\r\nX-Request-Id: abort-2\r\nContent-Length: 100000\r\n\r\n',
    );
    socket.write('z'.repeat(5000));
    await vi.waitFor(() => expect(started.has('u1')).toBe(true), { timeout: 5000 });
    socket.destroy();
    expect(await accessLine('abort-2')).toMatchObject({
      aborted: true,
      method: 'POST',
      bytesIn: 100000,
      status: 499,
    });
  });
});

describeEachExpress('accessLog ip and trust proxy', (express) => {
  it("logs the socket address without 'trust proxy', and X-Forwarded-For's client with it", async () => {
    const { logger, find } = createTestLogger();
    const lineFor = (id: string) => find({ stream: 'access', requestId: id })[0];
    for (const trust of [false, 'loopback'] as const) {
      const app = express();
      app.set('trust proxy', trust);
      app.use(requestContext());
      app.use(accessLog(logger));
      app.get('/ip', (_req, res) => {
        res.send('ok');
      });
      const server = await listen(app);
      try {
        await fetch(`${server.url}/ip`, {
          headers: { 'X-Request-Id': `ip-${trust}`, 'X-Forwarded-For': '203.0.113.7' },
        });
        await vi.waitFor(() => expect(lineFor(`ip-${trust}`)).toBeDefined(), { timeout: 5000 });
      } finally {
        await server.close();
      }
    }
    expect(lineFor('ip-false')?.ip).toMatch(/127\.0\.0\.1$/);
    expect(lineFor('ip-loopback')?.ip).toBe('203.0.113.7');
  });
});

describeEachExpress('accessLog with skip: false and a plain winston-like logger', (express) => {
  it('logs probes when skip is false, through any logger with info/warn/error', async () => {
    const calls: [string, string, Record<string, unknown>][] = [];
    const plain = {
      info: (m: string, meta?: Record<string, unknown>) => calls.push(['info', m, meta ?? {}]),
      warn: (m: string, meta?: Record<string, unknown>) => calls.push(['warn', m, meta ?? {}]),
      error: (m: string, meta?: Record<string, unknown>) => calls.push(['error', m, meta ?? {}]),
    };
    const app = express();
    app.use(requestContext());
    app.use(accessLog(plain, { skip: false, message: 'http' }));
    app.get('/health', (_req, res) => {
      res.send('ok');
    });
    const server = await listen(app);
    try {
      await fetch(`${server.url}/health`, { headers: { 'X-Request-Id': 'plain-1' } });
      await vi.waitFor(() => expect(calls).toHaveLength(1), { timeout: 5000 });
      expect(calls[0]).toEqual([
        'info',
        'http',
        expect.objectContaining({
          route: '/health',
          status: 200,
          requestId: 'plain-1',
          stream: 'access',
        }),
      ]);
    } finally {
      await server.close();
    }
  });
});

describe('routeTemplate', () => {
  const route = (path: unknown) => ({ path });
  it('joins the mount prefix and the route path', () => {
    expect(
      routeTemplate({
        route: route('/:id'),
        baseUrl: '/api/uploads',
        originalUrl: '/api/uploads/9',
        url: '/9',
      } as never),
    ).toBe('/api/uploads/:id');
    expect(
      routeTemplate({
        route: route('/'),
        baseUrl: '/api/uploads',
        originalUrl: '/api/uploads',
        url: '/',
      } as never),
    ).toBe('/api/uploads');
  });
  it('recovers the prefix Express restored before an app-level handler answered', () => {
    // baseUrl is back to "" (or the outer router's) while req.route is still the inner route.
    const req = (path: string, baseUrl: string, url: string) =>
      ({ route: route(path), baseUrl, originalUrl: url, url }) as never;
    expect(routeTemplate(req('/:id/async-fail', '', '/api/uploads/5/async-fail?x=1'))).toBe(
      '/api/uploads/:id/async-fail',
    );
    expect(routeTemplate(req('/:id', '/api', '/api/v1/items/7/'))).toBe('/api/v1/items/:id');
    // A parameterised mount keeps the matched values, as req.baseUrl does.
    expect(routeTemplate(req('/posts', '', '/users/42/posts'))).toBe('/users/42/posts');
    expect(routeTemplate(req('/', '', '/api/uploads'))).toBe('/api/uploads');
  });
  it('leaves routes of variable shape with the baseUrl it has', () => {
    const req = (path: unknown, baseUrl: string, url: string) =>
      ({ route: route(path), baseUrl, originalUrl: url, url }) as never;
    expect(routeTemplate(req('/files/*rest', '', '/api/files/a/b/c'))).toBe('/files/*rest');
    expect(routeTemplate(req('/:id{/:tab}', '/api', '/api/7/info'))).toBe('/api/:id{/:tab}');
    expect(routeTemplate(req(/^\/re$/, '', '/x/re'))).toBe('/^\\/re$/');
  });
  it('unmatched requests log the path without the query string', () => {
    expect(routeTemplate({ originalUrl: '/no/such?secret=1', url: '/such' } as never)).toBe(
      '/no/such',
    );
  });
});

describeEachExpress('accessLog timestamps', (express) => {
  it('are the ISO time of the line, across milliseconds and seconds', async () => {
    const { logger, find } = createTestLogger();
    const app = express();
    app.use(accessLog(logger));
    app.get('/t/:n', (_req, res) => {
      res.end();
    });
    const server = await listen(app);
    const times = [
      Date.UTC(2026, 10, 27, 9, 59, 59, 999),
      Date.UTC(2026, 10, 27, 10, 0, 0, 0),
      Date.UTC(2026, 10, 27, 10, 0, 0, 7),
      Date.UTC(2026, 10, 27, 10, 0, 0, 42),
      Date.UTC(2026, 10, 27, 10, 0, 0, 420),
      Date.UTC(2026, 10, 27, 10, 0, 1, 5),
    ];
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      for (const [i, t] of times.entries()) {
        vi.setSystemTime(t);
        await fetch(`${server.url}/t/${i}`);
        // The line is written on 'close', after the client has its answer.
        await vi.waitFor(() => expect(find({ route: '/t/:n' })).toHaveLength(i + 1));
      }
    } finally {
      vi.useRealTimers();
      await server.close();
    }
    expect(find({ route: '/t/:n' }).map((r) => r.timestamp)).toEqual(
      times.map((t) => new Date(t).toISOString()),
    );
  });
});
