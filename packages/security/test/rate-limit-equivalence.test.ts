// The in-process limiter against express-rate-limit's MemoryStore, request by request: the same
// status, the same response head (RateLimit, RateLimit-Policy, Retry-After and every other header,
// in order) and the same body, over the same sequence of requests and the same clock.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { MemoryStore } from 'express-rate-limit';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { describeEachExpress, type ExpressFactory, listen } from '../../../test/helpers/index.js';
import { type RateLimitOptions, rateLimit } from '../src/rate-limit.js';
import { captureLogger, sendRaw } from './helpers/http.js';

type Limiters = (store: () => 'memory' | MemoryStore) => RequestHandler[];

interface Exchange {
  readonly status: number;
  readonly head: string;
  readonly body: string;
}

/** The app under test: the limiters, then a route answering JSON, then an error handler. */
function build(express: ExpressFactory, limiters: RequestHandler[]) {
  const app = express();
  app.set('trust proxy', 'loopback');
  for (const l of limiters) app.use(l);
  app.use((req: Request, res: Response) => {
    res.json({ ok: true, path: req.path });
  });
  app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
    res.status(500).json({ error: err.message });
  });
  return app;
}

/** Date is the only header allowed to differ (the two requests are sent one after the other). */
const withoutDate = (head: string) =>
  head
    .split('\r\n')
    .filter((line) => !/^date:/i.test(line))
    .join('\r\n');

async function exchange(port: number, path: string, headers: string[] = []): Promise<Exchange> {
  const raw = [`GET ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...headers, '', ''];
  const r = await sendRaw(port, raw.join('\r\n'));
  return { status: r.status, head: withoutDate(r.head), body: r.body };
}

/**
 * Sends each step to both apps (ours, then express-rate-limit's MemoryStore behind the same
 * options) and expects byte-identical answers. A step is a path, optional headers, and a number
 * of milliseconds to move the clock first.
 */
async function compare(
  express: ExpressFactory,
  limiters: Limiters,
  steps: { path?: string; headers?: string[]; advanceMs?: number }[],
): Promise<Exchange[]> {
  const ours = await listen(
    build(
      express,
      limiters(() => 'memory'),
    ),
  );
  const reference = await listen(
    build(
      express,
      limiters(() => new MemoryStore()),
    ),
  );
  const seen: Exchange[] = [];
  try {
    for (const step of steps) {
      if (step.advanceMs) vi.setSystemTime(Date.now() + step.advanceMs);
      const a = await exchange(ours.port, step.path ?? '/items/1', step.headers);
      const b = await exchange(reference.port, step.path ?? '/items/1', step.headers);
      expect(a).toEqual(b);
      seen.push(a);
    }
  } finally {
    await ours.close();
    await reference.close();
  }
  return seen;
}

beforeEach(() => {
  // Only Date is faked: sockets and timers run for real, both apps read the same clock.
  vi.useFakeTimers({ toFake: ['Date'], now: new Date('2026-11-27T10:00:00.250Z') });
});
afterEach(() => {
  vi.useRealTimers();
});

const limiter = (options: RateLimitOptions) => (store: () => 'memory' | MemoryStore) =>
  rateLimit({ warnings: false, onStoreError: 'allow', ...options, store: store() });

describeEachExpress('rateLimit memory limiter = express-rate-limit MemoryStore', (express) => {
  it('counts, refuses over the limit and starts a new window exactly as MemoryStore does', async () => {
    const seen = await compare(
      express,
      (store) => [limiter({ limit: 3, windowMs: 60_000, name: 'api' })(store)],
      [
        {},
        { advanceMs: 400 }, // crosses a second boundary inside the window: t= counts down
        { advanceMs: 20_000 },
        {},
        { advanceMs: 1 },
        { advanceMs: 39_598 }, // 1 ms before the window ends
        { advanceMs: 1 }, // the window has ended: a new one starts at this hit
        {},
      ],
    );
    expect(seen.map((s) => s.status)).toEqual([200, 200, 200, 429, 429, 429, 200, 200]);
    expect(seen[0]?.head).toMatch(/\r\nRateLimit: "api"; r=2; t=60\r\n/);
    expect(seen[0]?.head).toMatch(
      /\r\nRateLimit-Policy: "api"; q=3; w=60; pk=:[A-Za-z0-9+/=]+:\r\n/,
    );
    expect(seen[3]?.head).toMatch(/\r\nRetry-After: 40\r\n/);
    expect(seen[5]?.head).toMatch(/\r\nRetry-After: 1\r\n/);
    expect(seen[6]?.head).toMatch(/\r\nRateLimit: "api"; r=2; t=60\r\n/);
  });

  it('keys clients apart (X-Forwarded-For behind a trusted proxy, IPv6 /56) with their own partition keys', async () => {
    const seen = await compare(
      express,
      (store) => [limiter({ limit: 2, windowMs: 10_000, name: 'per-client' })(store)],
      [
        { headers: ['X-Forwarded-For: 203.0.113.7'] },
        { headers: ['X-Forwarded-For: 203.0.113.8'] },
        { headers: ['X-Forwarded-For: 2001:db8:1:1::1'] },
        { headers: ['X-Forwarded-For: 2001:db8:1:1::2'] }, // same /56: the same client
        { headers: ['X-Forwarded-For: 2001:db8:1:1::3'] },
        { headers: ['X-Forwarded-For: 203.0.113.7'] },
        { headers: ['X-Forwarded-For: 203.0.113.7'] },
        { headers: ['X-Forwarded-For: ::ffff:203.0.113.7'] }, // mapped: the IPv4 client
      ],
    );
    expect(seen.map((s) => s.status)).toEqual([200, 200, 200, 200, 429, 200, 429, 429]);
    const pk = (s: Exchange | undefined) => /pk=:([^:]+):/.exec(s?.head ?? '')?.[1];
    expect(pk(seen[0])).not.toBe(pk(seen[1]));
    expect(pk(seen[2])).toBe(pk(seen[3]));
  });

  it('two limiters on one response add their headers in order', async () => {
    const seen = await compare(
      express,
      (store) => [
        limiter({ limit: 5, windowMs: 60_000, name: 'burst' })(store),
        limiter({ limit: 2, windowMs: 3_600_000, name: 'hourly' })(store),
      ],
      [{}, {}, {}, { advanceMs: 30_000 }],
    );
    expect(seen.map((s) => s.status)).toEqual([200, 200, 429, 429]);
    expect(seen[0]?.head).toMatch(
      /\r\nRateLimit: "burst"; r=4; t=60\r\nRateLimit: "hourly"; r=1; t=3600\r\nRateLimit-Policy: "burst"; q=5; w=60; pk=:[^:]+:\r\nRateLimit-Policy: "hourly"; q=2; w=3600; pk=:[^:]+:\r\n/,
    );
  });

  it('probe paths, skip, an async keyGenerator and a throwing keyGenerator behave the same', async () => {
    const seen = await compare(
      express,
      (store) => [
        limiter({
          limit: 1,
          windowMs: 60_000,
          skip: (req) => req.headers['x-skip'] === '1',
          keyGenerator: async (req) => {
            if (req.headers['x-boom'] === '1') throw new Error('no key');
            return String(req.headers['x-api-key'] ?? 'anonymous');
          },
        })(store),
      ],
      [
        { path: '/health/ready' },
        { path: '/metrics' },
        { headers: ['X-Api-Key: a'] },
        { headers: ['X-Api-Key: a'] },
        { headers: ['X-Api-Key: b'] },
        { headers: ['X-Api-Key: a', 'X-Skip: 1'] },
        { headers: ['X-Boom: 1'] },
      ],
    );
    expect(seen.map((s) => s.status)).toEqual([200, 200, 200, 429, 200, 200, 500]);
    expect(seen[0]?.head).not.toMatch(/RateLimit/);
  });

  it('records the same 429s, events and metrics; getKey and resetKey see the same counts', async () => {
    const run = async (store: 'memory' | MemoryStore) => {
      const logger = captureLogger();
      const registry = new Registry();
      const l = rateLimit({
        limit: 1,
        windowMs: 60_000,
        name: 'm',
        logger,
        registry,
        warnings: false,
        onStoreError: 'allow',
        store,
      });
      const server = await listen(build(express, [l]));
      try {
        const statuses: number[] = [];
        for (let i = 0; i < 3; i++) statuses.push((await exchange(server.port, '/x')).status);
        const info = await l.getKey('127.0.0.1');
        await l.resetKey('127.0.0.1');
        statuses.push((await exchange(server.port, '/x')).status);
        const events = logger.entries.map((e) => [e.level, e.message, { ...e.meta }]);
        return {
          statuses,
          info: { totalHits: info?.totalHits, resetTime: info?.resetTime?.getTime() },
          events,
          metrics: await registry.metrics(),
        };
      } finally {
        await server.close();
        await l.close();
      }
    };
    const ours = await run('memory');
    expect(ours.statuses).toEqual([200, 429, 429, 200]);
    expect(ours.info).toEqual({ totalHits: 3, resetTime: Date.now() + 60_000 });
    expect(ours).toEqual(await run(new MemoryStore()));
  });
});
