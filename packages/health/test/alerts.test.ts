import { createServer, type IncomingMessage } from 'node:http';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { listen } from '../../../test/helpers/index.js';
import { type AlertEvent, createHealth, type Health, type HealthOptions } from '../src/index.js';
import { memoryLogger, waitFor } from './support.js';

describe('alerts', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  function health(options: HealthOptions): Health {
    const h = createHealth({ defaultMetrics: false, processMetrics: false, ...options });
    cleanup.push(() => h.close());
    return h;
  }

  async function appWithMetrics(h: Health) {
    const app = express();
    app.use(h.router());
    app.use(h.httpMetrics({ buckets: [0.01, 0.05, 0.1, 0.5, 1] }));
    app.get('/status/:code', (req, res) => {
      res.sendStatus(Number(req.params.code));
    });
    app.get('/sleep/:ms', (req, res) => {
      setTimeout(() => res.send('ok'), Number(req.params.ms));
    });
    const l = await listen(app);
    cleanup.push(() => l.close());
    return l;
  }

  it('error rate from the HTTP metrics fires and resolves, logged and emitted once each', async () => {
    const logger = memoryLogger();
    const events: AlertEvent[] = [];
    const h = health({
      logger,
      alerts: [{ metric: 'errorRate', threshold: 0.5 }],
      onAlert: (e) => events.push(e),
    });
    const { url } = await appWithMetrics(h);
    await Promise.all([
      fetch(`${url}/status/500`),
      fetch(`${url}/status/503`),
      fetch(`${url}/status/200`),
    ]);
    expect(await h.evaluateAlerts()).toMatchObject([
      { name: 'errorRate', status: 'firing', threshold: 0.5 },
    ]);
    expect(events[0]?.value).toBeCloseTo(2 / 3);
    expect(h.alerts()[0]).toMatchObject({ status: 'firing', metric: 'errorRate' });
    // Still breaching: no second firing event.
    await fetch(`${url}/status/500`);
    expect(await h.evaluateAlerts()).toEqual([]);
    await Promise.all([fetch(`${url}/status/200`), fetch(`${url}/status/204`)]);
    expect(await h.evaluateAlerts()).toMatchObject([{ status: 'resolved' }]);
    expect(events.map((e) => e.status)).toEqual(['firing', 'resolved']);
    expect(
      logger.lines
        .filter((l) => l.message.startsWith('health alert'))
        .map((l) => [l.level, l.message]),
    ).toEqual([
      ['warn', 'health alert firing: errorRate'],
      ['info', 'health alert resolved: errorRate'],
    ]);
  });

  it('p95 latency is estimated from the duration histogram', async () => {
    const h = health({ alerts: [{ metric: 'p95LatencyMs', threshold: 100 }] });
    const { url } = await appWithMetrics(h);
    await Promise.all(Array.from({ length: 5 }, () => fetch(`${url}/sleep/300`)));
    const [event] = await h.evaluateAlerts();
    expect(event?.status).toBe('firing');
    // Every request took >= 300 ms, so the estimate is above the 0.1 s bucket boundary.
    expect(event?.value).toBeGreaterThan(100);
    expect(event?.value).toBeLessThanOrEqual(1000);
    // No traffic in the next window: no data counts as not breaching.
    expect(await h.evaluateAlerts()).toMatchObject([{ status: 'resolved' }]);
  });

  it('"forMs" holds a breach as pending before firing, and before resolving (no flapping)', async () => {
    const h = health({
      alerts: [{ name: 'rss', metric: 'rssBytes', threshold: 1, forMs: 60_000 }],
    });
    const t0 = Date.now();
    expect(await h.evaluateAlerts(t0)).toEqual([]);
    expect(h.alerts()[0]?.status).toBe('pending');
    expect(await h.evaluateAlerts(t0 + 59_999)).toEqual([]);
    const [firing] = await h.evaluateAlerts(t0 + 60_000);
    expect(firing).toMatchObject({ name: 'rss', status: 'firing', metric: 'rssBytes' });
    expect(firing?.value).toBeGreaterThan(1_000_000);
  });

  it('a breach shorter than forMs never fires', async () => {
    const h = health({ alerts: [{ metric: 'errorRate', threshold: 0.1, forMs: 10_000 }] });
    const { url } = await appWithMetrics(h);
    const t0 = Date.now();
    await fetch(`${url}/status/500`);
    expect(await h.evaluateAlerts(t0)).toEqual([]);
    expect(h.alerts()[0]?.status).toBe('pending');
    await fetch(`${url}/status/200`);
    expect(await h.evaluateAlerts(t0 + 5000)).toEqual([]);
    expect(h.alerts()[0]?.status).toBe('inactive');
  });

  it('cpu and event-loop rules sample real values', async () => {
    const h = health({
      alerts: [
        { metric: 'cpuPercent', threshold: -1 },
        { metric: 'eventLoopP99Ms', threshold: -1 },
      ],
    });
    // Block the loop a little so the event-loop histogram has samples.
    const until = Date.now() + 60;
    while (Date.now() < until) {
      /* busy */
    }
    await new Promise((r) => setTimeout(r, 50));
    const events = await h.evaluateAlerts();
    expect(events.map((e) => e.metric).sort()).toEqual(['cpuPercent', 'eventLoopP99Ms']);
    for (const e of events) expect(Number.isFinite(e.value)).toBe(true);
  });

  it('the background loop evaluates on its interval and firing alerts show in /health/detailed', async () => {
    const h = health({ alerts: [{ metric: 'rssBytes', threshold: 1 }], alertIntervalMs: 20 });
    await waitFor(() => h.alerts()[0]?.status === 'firing');
    const { url } = await appWithMetrics(h);
    const body = (await (await fetch(`${url}/health/detailed`)).json()) as { alerts: unknown[] };
    expect(body.alerts).toMatchObject([{ name: 'rssBytes', status: 'firing', threshold: 1 }]);
  });

  it('posts firing/resolved events to a webhook; a failing webhook is logged, never thrown', async () => {
    const received: { headers: IncomingMessage['headers']; body: Record<string, unknown> }[] = [];
    const hook = createServer((req, res) => {
      let data = '';
      req.on('data', (c: Buffer) => {
        data += c.toString();
      });
      req.on('end', () => {
        received.push({ headers: req.headers, body: JSON.parse(data) as Record<string, unknown> });
        res.end('ok');
      });
    });
    const l = await listen((req, res) => hook.emit('request', req, res));
    cleanup.push(() => l.close());
    const h = health({
      service: 'glass',
      alerts: [{ metric: 'rssBytes', threshold: 1 }],
      alertWebhook: { url: `${l.url}/hook`, headers: { authorization: 'Bearer t' } },
    });
    await h.evaluateAlerts();
    await h.close();
    expect(received).toHaveLength(1);
    expect(received[0]?.headers.authorization).toBe('Bearer t');
    expect(received[0]?.headers['content-type']).toBe('application/json');
    expect(received[0]?.body).toMatchObject({
      name: 'rssBytes',
      status: 'firing',
      service: 'glass',
      metric: 'rssBytes',
      threshold: 1,
    });

    const logger = memoryLogger();
    const dead = await listen((_req, res) => {
      res.statusCode = 500;
      res.end();
    });
    const deadUrl = dead.url;
    await dead.close();
    const h2 = health({
      logger,
      alerts: [{ metric: 'rssBytes', threshold: 1 }],
      alertWebhook: { url: `${deadUrl}/hook`, timeoutMs: 1000 },
    });
    await expect(h2.evaluateAlerts()).resolves.toHaveLength(1);
    await h2.close();
    expect(
      logger.lines.some(
        (x) => x.level === 'error' && x.message === '@shipshape/health: alert webhook failed',
      ),
    ).toBe(true);
  });

  it('a throwing onAlert listener is logged and does not stop the others', async () => {
    const logger = memoryLogger();
    const seen: string[] = [];
    const h = health({
      logger,
      alerts: [{ metric: 'rssBytes', threshold: 1 }],
      onAlert: () => {
        throw new Error('listener bug');
      },
    });
    const off = h.onAlert((e) => seen.push(e.status));
    await h.evaluateAlerts();
    off();
    expect(seen).toEqual(['firing']);
    expect(
      logger.lines.some((x) => x.message === '@shipshape/health: an alert listener threw'),
    ).toBe(true);
  });

  it('rejects duplicate rule names and bad forMs', () => {
    expect(() =>
      createHealth({
        alerts: [
          { metric: 'rssBytes', threshold: 1 },
          { metric: 'rssBytes', threshold: 2 },
        ],
      }),
    ).toThrow('createHealth alerts[1] "name" must be unique among alert rules, got "rssBytes"');
    expect(() =>
      createHealth({ alerts: [{ metric: 'rssBytes', threshold: 1, forMs: -5 }] }),
    ).toThrow('createHealth alerts[0] "forMs" must be a non-negative integer, got -5');
  });
});
