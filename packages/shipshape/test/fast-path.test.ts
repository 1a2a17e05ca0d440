// harden() composes the parts with shortcuts (one layer, parts that would do nothing not entered,
// the client address worked out once, X-Powered-By never set). The same parts mounted one by one
// with app.use() are the reference: for the same requests, the response heads and bodies, the
// access lines and the HTTP metrics must be the same, byte for byte (timestamps and durations
// aside), aborted requests included.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHealth, type Health } from '@shipshape/health';
import { accessLog, createLogger, type Logger, requestContext } from '@shipshape/logger';
import {
  csrf,
  errorHandler,
  ipFilter,
  jsonBody,
  notFound,
  rateLimit,
  securityHeaders,
  threatMonitor,
  trustProxy,
  urlencodedBody,
} from '@shipshape/security';
import type { Application, Request, Response } from 'express';
import { expect, it } from 'vitest';
import { describeEachExpress, type ExpressFactory, listen } from '../../../test/helpers/index.js';
import { harden } from '../src/index.js';

interface Stack {
  readonly app: Application;
  readonly logger: Logger;
  readonly health: Health;
  readonly dir: string;
  /** Resolves when /slow has been entered; the test then drops the connection. */
  slowEntered: Promise<void>;
  /** Resolves when /slow's response has closed (after the client went away). */
  slowClosed: Promise<void>;
}

function routes(app: Application, stack: Stack, express: ExpressFactory) {
  let entered: () => void = () => {};
  let closed: () => void = () => {};
  stack.slowEntered = new Promise((r) => {
    entered = r;
  });
  stack.slowClosed = new Promise((r) => {
    closed = r;
  });
  app.get('/api/items/:id', (req: Request, res: Response) => {
    res.json({ id: req.params.id, ip: req.ip, requestId: (req as { id?: string }).id });
  });
  app.post('/api/items', (req: Request, res: Response) => {
    res.status(201).json({ received: req.body as unknown });
  });
  app.get('/api/boom', () => {
    throw new Error('boom');
  });
  const router = express.Router();
  router.get('/things/:id', (req: Request, res: Response) => {
    res.json({ thing: req.params.id });
  });
  router.get('/broken/:id', () => {
    throw new Error('broken');
  });
  app.use('/v1', router);
  app.get('/slow', (_req: Request, res: Response) => {
    res.on('close', () => setImmediate(closed));
    entered();
  });
}

function common(express: ExpressFactory) {
  const dir = mkdtempSync(join(tmpdir(), 'shipshape-fast-path-'));
  const logger = createLogger({
    service: 'fast',
    env: 'test',
    version: '1.2.3',
    format: 'json',
    console: false,
    files: { dir, streams: { access: true, app: false, error: false, security: false } },
  });
  const health = createHealth({ service: 'fast', version: '1.2.3', logger });
  const app = express();
  return { dir, logger, health, app };
}

function hardened(express: ExpressFactory): Stack {
  const { dir, logger, health, app } = common(express);
  const stack = { app, logger, health, dir } as unknown as Stack;
  const service = harden(app, {
    env: 'test',
    service: 'fast',
    version: '1.2.3',
    logger,
    health,
    trustProxy: 'loopback',
    rateLimit: { limit: 12, windowMs: 60_000 },
    lifecycle: false,
    startupReport: false,
  });
  routes(app, stack, express);
  service.finish();
  return stack;
}

/** The parts in harden()'s order, each its own app.use(), with the options harden() passes. */
function reference(express: ExpressFactory): Stack {
  const { dir, logger, health, app } = common(express);
  const stack = { app, logger, health, dir } as unknown as Stack;
  const registry = health.registry;
  trustProxy(app, 'loopback');
  app.use(requestContext());
  app.use(securityHeaders({ production: false, logger }));
  app.use(health.router());
  app.use(health.httpMetrics());
  app.use(accessLog(logger));
  const filter = ipFilter({ logger, app, registry });
  app.use(filter);
  app.use(
    rateLimit.api({
      logger,
      app,
      production: false,
      registry,
      ipFilter: filter,
      limit: 12,
      windowMs: 60_000,
    }),
  );
  app.use(jsonBody({ logger }));
  app.use(urlencodedBody({ logger }));
  app.use(csrf({ logger }));
  app.use(threatMonitor({ logger, mode: 'monitor', registry }));
  routes(app, stack, express);
  app.use(notFound());
  app.use(errorHandler({ production: false, logger }));
  return stack;
}

/** One raw HTTP/1.1 exchange; the head without Date. */
function exchange(port: number, lines: string[], body = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write([...lines, 'Host: 127.0.0.1', 'Connection: close', '', ''].join('\r\n') + body);
    });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      resolve(
        text
          .split('\r\n')
          .filter((l) => !/^date:/i.test(l))
          .join('\r\n'),
      );
    });
  });
}

const json = (value: unknown) => JSON.stringify(value);
const REQUESTS: { lines: string[]; body?: string }[] = [
  { lines: ['GET /api/items/1 HTTP/1.1', 'X-Request-Id: r-1', 'User-Agent: ua/1'] },
  { lines: ['GET /api/items/2?x=1 HTTP/1.1', 'X-Request-Id: r-2', 'X-Forwarded-For: 203.0.113.9'] },
  { lines: ['HEAD /api/items/3 HTTP/1.1', 'X-Request-Id: r-3'] },
  { lines: ['OPTIONS /api/items HTTP/1.1', 'X-Request-Id: r-4'] },
  {
    lines: [
      'POST /api/items HTTP/1.1',
      'X-Request-Id: r-5',
      'Content-Type: application/json',
      `Content-Length: ${json({ a: 1 }).length}`,
      'Sec-Fetch-Site: same-origin',
    ],
    body: json({ a: 1 }),
  },
  {
    lines: [
      'POST /api/items HTTP/1.1',
      'X-Request-Id: r-6',
      'Content-Type: application/json',
      `Content-Length: ${json({ a: 2 }).length}`,
      'Sec-Fetch-Site: cross-site',
      'Origin: https://evil.example',
    ],
    body: json({ a: 2 }),
  },
  {
    lines: [
      'POST /api/items HTTP/1.1',
      'X-Request-Id: r-7',
      'Content-Type: text/plain',
      'Content-Length: 2',
    ],
    body: 'hi',
  },
  { lines: ['GET /api/boom HTTP/1.1', 'X-Request-Id: r-8'] },
  { lines: ['GET /v1/things/7 HTTP/1.1', 'X-Request-Id: r-8a'] },
  { lines: ['GET /v1/broken/7 HTTP/1.1', 'X-Request-Id: r-8b'] },
  { lines: ['GET /nowhere HTTP/1.1', 'X-Request-Id: r-9'] },
  { lines: ['GET /api/items/1%27%20OR%201=1 HTTP/1.1', 'X-Request-Id: r-10'] },
  { lines: ['GET /api/items/11 HTTP/1.1', 'X-Request-Id: r-11'] }, // the 13th from 127.0.0.1 (with /slow): over the limit
  { lines: ['GET /health/live HTTP/1.1', 'X-Request-Id: r-12'] },
];

/** The access lines of a stack, timestamps and durations replaced. */
function accessLines(dir: string): string[] {
  const file = readdirSync(dir).find((f) => /^access-.*\.log$/.test(f));
  if (!file) return [];
  return readFileSync(join(dir, file), 'utf8')
    .trim()
    .split('\n')
    .map((line) =>
      line
        .replace(/"timestamp":"[^"]+"/, '"timestamp":"T"')
        .replace(/"durationMs":[0-9.e-]+/, '"durationMs":0'),
    );
}

/** The HTTP and security series of /metrics; durations left out (sums and buckets). */
async function metrics(health: Health): Promise<string[]> {
  return (await health.registry.metrics())
    .split('\n')
    .filter((l) => /^(http_|shipshape_)/.test(l) && !/_sum\{|_bucket\{/.test(l));
}

async function run(stack: Stack) {
  const server = await listen(stack.app);
  const heads: string[] = [];
  try {
    // A client that goes away before the response: logged as aborted, counted as 499.
    const socket = connect(server.port, '127.0.0.1', () => {
      socket.write('GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: r-slow\r\n\r\n');
    });
    await stack.slowEntered;
    socket.destroy();
    await stack.slowClosed;
    for (const r of REQUESTS) heads.push(await exchange(server.port, r.lines, r.body));
  } finally {
    await server.close();
  }
  await stack.logger.close();
  const lines = accessLines(stack.dir);
  const series = await metrics(stack.health);
  await stack.health.close();
  rmSync(stack.dir, { recursive: true, force: true });
  return { heads, lines, series };
}

describeEachExpress('harden() fast path = the parts mounted one by one', (express) => {
  it('same response heads and bodies, access lines and metrics, aborted request included', async () => {
    const ours = await run(hardened(express));
    const ref = await run(reference(express));
    expect(ours.heads.map((h) => h.split('\r\n')[0])).toEqual([
      'HTTP/1.1 200 OK',
      'HTTP/1.1 200 OK',
      'HTTP/1.1 200 OK',
      'HTTP/1.1 404 Not Found',
      'HTTP/1.1 201 Created',
      'HTTP/1.1 403 Forbidden',
      'HTTP/1.1 415 Unsupported Media Type',
      'HTTP/1.1 500 Internal Server Error',
      'HTTP/1.1 200 OK',
      'HTTP/1.1 500 Internal Server Error',
      'HTTP/1.1 404 Not Found',
      'HTTP/1.1 200 OK',
      'HTTP/1.1 429 Too Many Requests',
      'HTTP/1.1 200 OK',
    ]);
    expect(ours.heads[0]).not.toMatch(/X-Powered-By/i);
    expect(ours.heads[0]).toMatch(/\r\nVary: Sec-Fetch-Site, Origin\r\n/);
    expect(ours.heads).toEqual(ref.heads);
    expect(ours.lines).toHaveLength(REQUESTS.length); // probes are not logged; /slow is
    expect(ours.lines[0]).toMatch(/"requestId":"r-slow".*"status":499.*"aborted":true/);
    expect(ours.lines).toEqual(ref.lines);
    expect(ours.series.some((l) => /status_code="499"/.test(l))).toBe(true);
    expect(ours.series.some((l) => /route="\/v1\/broken\/:id"/.test(l))).toBe(true);
    expect(ours.lines.some((l) => l.includes('"route":"/v1/broken/:id"'))).toBe(true);
    expect(ours.series).toEqual(ref.series);
  });
});
