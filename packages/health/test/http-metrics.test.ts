import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { describeEachExpress, listen } from '../../../test/helpers/index.js';
import { createHealth, type Health } from '../src/index.js';
import { routeTemplates } from '../src/route-template.js';
import { metricValue } from '../src/testing.js';
import { waitFor } from './support.js';

describeEachExpress('httpMetrics', (express) => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function setup(h: Health, metricsOptions?: Parameters<Health['httpMetrics']>[0]) {
    const app = express();
    app.use(h.router());
    app.use(h.httpMetrics(metricsOptions));
    const api = express.Router();
    api.get('/uploads/:id', (_req, res) => {
      res.json({ ok: true });
    });
    api.post('/uploads', (_req, res) => {
      res.status(201).json({ created: true });
    });
    // Fails inside the router; the app-level error handler answers after Express restored baseUrl.
    api.get('/uploads/:id/fail', () => {
      throw new Error('boom');
    });
    api.get('/uploads/:id/pass', (_req, _res, next) => {
      next();
    });
    const nested = express.Router();
    nested.get('/items/:itemId', (_req, res) => {
      res.send('item');
    });
    api.use('/v2', nested);
    app.use('/api', api);
    app.get('/boom', () => {
      throw new Error('boom');
    });
    app.get('/slow', (_req, res) => {
      setTimeout(() => res.send('late'), 200);
    });
    const l = await listen(app);
    cleanup.push(
      () => l.close(),
      () => h.close(),
    );
    return l;
  }

  const health = () => createHealth({ defaultMetrics: false, processMetrics: false });

  it('labels by method, status code and route template including mount prefixes', async () => {
    const h = health();
    const { url } = await setup(h);
    for (const id of ['1', '2', '3', '123', 'abc']) await fetch(`${url}/api/uploads/${id}`);
    await fetch(`${url}/api/uploads`, { method: 'POST' });
    await fetch(`${url}/api/v2/items/77`);
    await fetch(`${url}/boom`);
    const r = h.registry;
    expect(
      await metricValue(r, 'http_requests_total', {
        method: 'GET',
        route: '/api/uploads/:id',
        status_code: '200',
      }),
    ).toBe(5);
    expect(
      await metricValue(r, 'http_requests_total', {
        method: 'POST',
        route: '/api/uploads',
        status_code: '201',
      }),
    ).toBe(1);
    expect(await metricValue(r, 'http_requests_total', { route: '/api/v2/items/:itemId' })).toBe(1);
    expect(
      await metricValue(r, 'http_requests_total', { route: '/boom', status_code: '500' }),
    ).toBe(1);
    await fetch(`${url}/api/uploads/9/fail?x=1`);
    await fetch(`${url}/api/uploads/9/pass`);
    expect(
      await metricValue(r, 'http_requests_total', {
        route: '/api/uploads/:id/fail',
        status_code: '500',
      }),
    ).toBe(1);
    expect(
      await metricValue(r, 'http_requests_total', {
        route: '/api/uploads/:id/pass',
        status_code: '404',
      }),
    ).toBe(1);
    expect(
      await metricValue(r, 'http_request_duration_seconds_count', { route: '/api/uploads/:id' }),
    ).toBe(5);
    expect(
      await metricValue(r, 'http_request_duration_seconds_bucket', {
        route: '/api/uploads/:id',
        le: '+Inf',
      }),
    ).toBe(5);
  });

  it('ids and unmatched paths never create new label values', async () => {
    const h = health();
    const { url } = await setup(h);
    for (let i = 0; i < 50; i++) {
      await fetch(`${url}/api/uploads/${i}`);
      await fetch(`${url}/no/such/path/${i}?q=${i}`);
    }
    const text = await h.metrics();
    const routes = new Set(
      [...text.matchAll(/^http_requests_total\{[^}]*route="([^"]*)"/gm)].map((m) => m[1]),
    );
    expect([...routes].sort()).toEqual(['/api/uploads/:id', '<unmatched>']);
    expect(await metricValue(h.registry, 'http_requests_total', { route: '<unmatched>' })).toBe(50);
  });

  it('exposes Prometheus histogram text with configurable buckets and a custom unmatched label', async () => {
    const h = health();
    const { url } = await setup(h, { buckets: [0.1, 1], unmatchedRoute: 'other' });
    await fetch(`${url}/api/uploads/9`);
    await fetch(`${url}/nope`);
    const text = await h.metrics();
    expect(text).toContain('# TYPE http_request_duration_seconds histogram');
    expect(text).toContain('# TYPE http_requests_total counter');
    expect(text).toMatch(
      /^http_request_duration_seconds_bucket\{method="GET",status_code="200",route="\/api\/uploads\/:id",le="0.1"\} 1$/m,
    );
    expect(text).toMatch(
      /^http_request_duration_seconds_bucket\{method="GET",status_code="200",route="\/api\/uploads\/:id",le="\+Inf"\} 1$/m,
    );
    expect(text).not.toContain('le="0.005"');
    expect(text).toMatch(/route="other"/);
  });

  it('counts requests in flight and records aborted requests as 499', async () => {
    const h = health();
    const { url, port } = await setup(h);
    const req = httpRequest({ host: '127.0.0.1', port, path: '/slow' });
    req.on('error', () => undefined);
    req.end();
    await waitFor(() => h.registry.getSingleMetric('http_requests_in_flight') !== undefined);
    let inFlight = 0;
    const deadline = Date.now() + 5000;
    while (inFlight !== 1 && Date.now() < deadline) {
      inFlight = (await metricValue(h.registry, 'http_requests_in_flight')) ?? 0;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(inFlight).toBe(1);
    req.destroy();
    let aborted: number | undefined;
    while (aborted === undefined && Date.now() < deadline) {
      aborted = await metricValue(h.registry, 'http_requests_total', {
        route: '/slow',
        status_code: '499',
      });
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(aborted).toBe(1);
    expect(await metricValue(h.registry, 'http_requests_in_flight')).toBe(0);
    await fetch(`${url}/slow`);
    expect(
      await metricValue(h.registry, 'http_requests_total', { route: '/slow', status_code: '200' }),
    ).toBe(1);
  });

  it('skip() leaves requests out', async () => {
    const h = health();
    const { url } = await setup(h, { skip: (req) => req.url?.startsWith('/api/v2') === true });
    await fetch(`${url}/api/v2/items/1`);
    await fetch(`${url}/api/uploads/1`);
    expect(
      await metricValue(h.registry, 'http_requests_total', { route: '/api/v2/items/:itemId' }),
    ).toBe(undefined);
    expect(await metricValue(h.registry, 'http_requests_total')).toBe(1);
  });
});

describe('httpMetrics options', () => {
  it('rejects bad buckets and prefixes with clear errors', async () => {
    const h = createHealth({ defaultMetrics: false, processMetrics: false });
    expect(() => h.httpMetrics({ buckets: [1, 0.5] })).toThrow(
      '@shipshape/health: httpMetrics "buckets" must be a non-empty array of increasing positive finite numbers (seconds), got [1,0.5]',
    );
    expect(() => h.httpMetrics({ buckets: [] })).toThrow('httpMetrics "buckets"');
    expect(() => h.httpMetrics({ prefix: 'my-app ' })).toThrow('httpMetrics "prefix"');
    expect(() => h.httpMetrics({ skip: 1 as never })).toThrow(
      'httpMetrics "skip" must be a function, got 1',
    );
    h.httpMetrics();
    // A second middleware shares the series; a conflicting bucket set is an error.
    expect(() => h.httpMetrics()).not.toThrow();
    expect(() => h.httpMetrics({ buckets: [1] })).toThrow('already exists with other buckets');
    await h.close();
  });

  it('the same registry can carry two prefixes', async () => {
    const h = createHealth({ defaultMetrics: false, processMetrics: false });
    h.httpMetrics();
    h.httpMetrics({ prefix: 'admin_http_' });
    const text = await h.metrics();
    expect(text).toContain('# TYPE admin_http_requests_total counter');
    expect(text).toContain('# TYPE http_requests_total counter');
    await h.close();
  });
});

describe('route templates', () => {
  const req = (path: unknown, baseUrl: string, originalUrl: string) => ({
    route: { path },
    baseUrl,
    originalUrl,
  });

  it('joins the mount prefix and the route path', () => {
    const t = routeTemplates();
    expect(t.of(req('/:id', '/api/uploads', '/api/uploads/7'))).toBe('/api/uploads/:id');
    expect(t.of(req('/', '/api/items', '/api/items'))).toBe('/api/items');
    expect(t.of(req('/', '', '/'))).toBe('/');
    expect(t.of({ originalUrl: '/nothing' })).toBeUndefined();
  });

  it('recovers the prefix Express restored before an app-level handler answered', () => {
    const t = routeTemplates();
    expect(t.of(req('/:id/fail', '', '/api/uploads/5/fail?x=1'))).toBe('/api/uploads/:id/fail');
    expect(t.of(req('/:id', '/api', '/api/v1/items/7/'))).toBe('/api/v1/items/:id');
    // Routes whose segment count is not fixed keep what Express reports.
    expect(t.of(req('/files/*rest', '', '/static/files/a/b'))).toBe('/files/*rest');
    expect(t.of(req(/^\/x\/(\d+)$/, '', '/m/x/1'))).toBe('/^\\/x\\/(\\d+)$/');
  });
});
