import { request as httpRequest } from 'node:http';
import { afterEach, expect, it } from 'vitest';
import { describeEachExpress, type Listening, listen } from '../../../test/helpers/index.js';
import { createHealth, type Health } from '../src/index.js';
import { fakeCheck } from '../src/testing.js';
import { healthJsonProblems } from './health-json.js';

describeEachExpress('health.router', (express) => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function serve(
    h: Health,
    mount?: string,
    routerOptions?: Parameters<Health['router']>[0],
  ): Promise<Listening> {
    const app = express();
    app.use((_req, res, next) => {
      res.setHeader('x-request-id', 'req-123');
      next();
    });
    if (mount) app.use(mount, h.router(routerOptions));
    else app.use(h.router(routerOptions));
    app.get('/other', (_req, res) => {
      res.send('other');
    });
    const l = await listen(app);
    cleanup.push(
      () => l.close(),
      () => h.close(),
    );
    return l;
  }

  function make(checks = [fakeCheck('db')]) {
    return createHealth({
      checks,
      cacheTtlMs: 0,
      service: 'svc',
      version: '1.2.3',
      gitSha: 'abc123',
    });
  }

  it('probes answer application/json, or health+json when asked; detailed is health+json', async () => {
    const h = make([fakeCheck('db', { probes: ['liveness', 'readiness', 'startup'] })]);
    h.markReady();
    const { url } = await serve(h);
    const probes = ['/health', '/health/live', '/health/ready', '/health/startup'];
    for (const path of [...probes, '/health/detailed']) {
      const res = await fetch(url + path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toBe(
        path === '/health/detailed'
          ? 'application/health+json; charset=utf-8'
          : 'application/json; charset=utf-8',
      );
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('etag')).toBeNull();
      const body = (await res.json()) as { status: string };
      expect(body.status).toBe('pass');
    }
    for (const path of probes) {
      const plain = await fetch(url + path);
      expect(plain.headers.get('vary')).toBe('accept');
      expect(await plain.json()).toEqual({
        status: 'pass',
        state: 'ready',
        checks: { db: 'pass' },
      });
      for (const accept of [
        'application/health+json',
        'application/json;q=0.5, Application/Health+JSON',
        'text/html, application/health+json; q=0.9',
      ]) {
        const res = await fetch(url + path, { headers: { accept } });
        expect(res.headers.get('content-type'), accept).toBe(
          'application/health+json; charset=utf-8',
        );
        const body = (await res.json()) as { checks: Record<string, unknown> };
        expect(body.checks.db, accept).toEqual([
          { componentType: 'component', status: 'pass', time: expect.any(String) },
        ]);
      }
      const refused = await fetch(url + path, {
        headers: { accept: 'application/health+json;q=0, application/json' },
      });
      expect(refused.headers.get('content-type')).toBe('application/json; charset=utf-8');
    }
    const other = await fetch(`${url}/other`);
    expect(await other.text()).toBe('other');
  });

  it('every application/health+json body follows the IETF draft: pass, warn, fail, starting', async () => {
    const db = fakeCheck('db');
    const cache = fakeCheck('cache', { critical: false });
    const disk = fakeCheck('disk', { probes: ['readiness', 'liveness'] });
    const h = make([db, cache, disk]);
    const { url } = await serve(h);
    const accept = { accept: 'application/health+json' };
    const paths = [
      '/health',
      '/health/live',
      '/health/ready',
      '/health/startup',
      '/health/detailed',
    ];
    const seen = new Set<string>();
    const scenarios: [string, () => void][] = [
      ['starting', () => undefined],
      ['pass', () => h.markReady()],
      ['warn (non-critical fail, observed value)', () => cache.fail('redis: connection refused')],
      [
        'warn (check warns)',
        () =>
          disk.returns({
            status: 'warn',
            observedValue: 0.07,
            observedUnit: 'ratio',
            output: 'low',
          }),
      ],
      ['fail', () => db.fail('connection refused')],
      [
        'draining',
        () => {
          db.pass();
          h.setState('draining');
        },
      ],
    ];
    for (const [name, apply] of scenarios) {
      apply();
      for (const path of paths) {
        const res = await fetch(url + path, { headers: accept });
        expect(res.headers.get('content-type')).toBe('application/health+json; charset=utf-8');
        const body = (await res.json()) as { status: string };
        seen.add(body.status);
        expect(healthJsonProblems(body, res.status), `${name}: ${path}`).toEqual([]);
      }
    }
    expect([...seen].sort()).toEqual(['fail', 'pass', 'warn']);
    // The checker rejects what the probes used to serve under this media type.
    expect(
      healthJsonProblems({ status: 'warn', state: 'ready', checks: { redis: 'warn' } }, 200),
    ).toEqual(['a warn without output', 'checks["redis"] must be a non-empty array, got "warn"']);
    expect(healthJsonProblems({ status: 'fail' }, 200)).toEqual([
      'status "fail" served with HTTP 200',
    ]);
    expect(
      healthJsonProblems(
        { status: 'pass', checks: { db: [{ status: 'up', time: 'now', observedValue: 1 }] } },
        200,
      ),
    ).toEqual([
      'checks["db"][0].status must be "pass", "warn" or "fail"',
      'checks["db"][0].time must be an ISO 8601 date-time',
      'checks["db"][0] has observedValue without observedUnit',
    ]);
  });

  it('is never answered 304, even with conditional headers', async () => {
    const h = make();
    h.markReady();
    const { url } = await serve(h);
    const res = await fetch(`${url}/health/ready`, {
      headers: {
        'if-none-match': '*',
        'if-modified-since': new Date(Date.now() + 60_000).toUTCString(),
      },
    });
    expect(res.status).toBe(200);
  });

  it('readiness is 503 while starting and draining; liveness stays 200 with a dependency down', async () => {
    const db = fakeCheck('db');
    const h = make([db]);
    const { url } = await serve(h);
    let res = await fetch(`${url}/health/ready`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'fail', state: 'starting', checks: { db: 'pass' } });
    expect((await fetch(`${url}/health/startup`)).status).toBe(503);
    h.markReady();
    expect((await fetch(`${url}/health/ready`)).status).toBe(200);
    db.fail('ECONNREFUSED 127.0.0.1:5432');
    res = await fetch(`${url}/health/ready`);
    expect(res.status).toBe(503);
    // Probe bodies do not leak check output; /health/detailed has it.
    expect(await res.text()).not.toContain('ECONNREFUSED');
    expect((await fetch(`${url}/health/live`)).status).toBe(200);
    expect((await fetch(`${url}/health`)).status).toBe(503);
    db.pass();
    h.setState('draining');
    expect((await fetch(`${url}/health/ready`)).status).toBe(503);
    expect((await fetch(`${url}/health/live`)).status).toBe(200);
  });

  it('/health/detailed follows the IETF health+json format', async () => {
    const db = fakeCheck('db');
    db.fail('connection refused');
    const cache = fakeCheck('cache', { critical: false });
    const h = make([db, cache]);
    h.markReady();
    const { url } = await serve(h);
    const res = await fetch(`${url}/health/detailed`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      status: 'fail',
      version: '1.2.3',
      releaseId: 'abc123',
      serviceId: 'svc',
      output: 'failing critical checks: db',
      state: 'ready',
      alerts: [],
    });
    const checks = body.checks as Record<string, Record<string, unknown>[]>;
    expect(checks.db?.[0]).toMatchObject({
      status: 'fail',
      output: 'connection refused',
      componentType: 'component',
      critical: true,
      probes: ['readiness'],
    });
    expect(Number.isNaN(Date.parse(String(checks.db?.[0]?.time)))).toBe(false);
    expect(checks.cache?.[0]).toMatchObject({ status: 'pass', critical: false });
  });

  it('/health/version and /health/history', async () => {
    const h = make();
    h.markReady();
    const { url } = await serve(h);
    await fetch(`${url}/health`);
    const v = (await (await fetch(`${url}/health/version`)).json()) as Record<string, unknown>;
    expect(v).toMatchObject({
      service: 'svc',
      version: '1.2.3',
      gitSha: 'abc123',
      node: process.version,
    });
    expect(Date.parse(String(v.startTime))).toBeLessThanOrEqual(Date.now());
    expect(typeof v.uptimeSeconds).toBe('number');
    const hist = (await (await fetch(`${url}/health/history`)).json()) as {
      state: { from: string; to: string }[];
      checks: Record<string, { results: unknown[] }>;
    };
    expect(hist.state).toMatchObject([{ from: 'starting', to: 'ready' }]);
    expect(hist.checks.db?.results).toHaveLength(1);
  });

  it('/metrics serves Prometheus text from this registry', async () => {
    const h = make();
    const { url } = await serve(h);
    await fetch(`${url}/health`);
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const text = await res.text();
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toContain('shipshape_health_check_up{check="db",critical="true"} 1');
    expect(text).toContain('shipshape_health_state{state="starting"} 1');
  });

  it('works under a mount prefix and with a custom basePath; metricsPath false disables /metrics', async () => {
    const h = make();
    h.markReady();
    const { url } = await serve(h, '/ops', { basePath: '/status', metricsPath: false });
    expect((await fetch(`${url}/ops/status/ready`)).status).toBe(200);
    expect((await fetch(`${url}/ops/status`)).status).toBe(200);
    expect((await fetch(`${url}/ops/metrics`)).status).toBe(404);
    expect((await fetch(`${url}/health/ready`)).status).toBe(404);
  });

  it('authorize guards detailed and history only', async () => {
    const h = make();
    h.markReady();
    const { url } = await serve(h, undefined, {
      authorize(req, res, next) {
        if (req.headers.authorization === 'Bearer ops') next();
        else {
          res.statusCode = 401;
          res.end('no');
        }
      },
    });
    expect((await fetch(`${url}/health/detailed`)).status).toBe(401);
    expect((await fetch(`${url}/health/history`)).status).toBe(401);
    const ok = await fetch(`${url}/health/detailed`, { headers: { authorization: 'Bearer ops' } });
    expect(ok.status).toBe(200);
    expect((await fetch(`${url}/health/ready`)).status).toBe(200);
    expect((await fetch(`${url}/metrics`)).status).toBe(200);
  });

  it('an authorize error goes to the app error handler', async () => {
    const h = make();
    const app = express();
    app.use(
      h.router({
        authorize(_req, _res, next) {
          next(new Error('auth backend down'));
        },
      }),
    );
    app.use(
      (
        err: Error,
        _req: unknown,
        res: { status(n: number): { send(s: string): void } },
        _next: unknown,
      ) => {
        res.status(500).send(`handled: ${err.message}`);
      },
    );
    const l = await listen(app);
    cleanup.push(
      () => l.close(),
      () => h.close(),
    );
    const res = await fetch(`${l.url}/health/detailed`);
    expect(res.status).toBe(500);
    expect(await res.text()).toBe('handled: auth backend down');
  });

  it('answers HEAD without a body and other methods with 405 problem+json', async () => {
    const h = make();
    h.markReady();
    const { url, port } = await serve(h);
    const head = await fetch(`${url}/health/ready`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const post = await fetch(`${url}/health/ready`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect(post.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(await post.json()).toEqual({
      type: 'about:blank',
      title: 'Method Not Allowed',
      status: 405,
      detail: 'POST is not allowed on /health/ready; use GET or HEAD',
      requestId: 'req-123',
    });
    // Query strings are ignored for routing.
    expect((await fetch(`${url}/health/ready?x=1`)).status).toBe(200);
    // A raw request with an odd path is passed on (404 from the app), never a crash.
    const status = await new Promise<number>((resolve, reject) => {
      const r = httpRequest(
        { host: '127.0.0.1', port, path: '/health/%zz/../ready', method: 'GET' },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      r.on('error', reject);
      r.end();
    });
    expect(status).toBe(404);
  });

  it('1,000 concurrent probe requests run each check once per TTL', {
    timeout: 90_000,
  }, async () => {
    const db = fakeCheck('db');
    const cache = fakeCheck('cache');
    const h = createHealth({ checks: [db, cache], cacheTtlMs: 60_000 });
    h.markReady();
    const { url } = await serve(h);
    const paths = ['/health/ready', '/health', '/health/detailed', '/health/live'];
    const statuses = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        fetch(url + paths[i % paths.length]).then((r) => r.status),
      ),
    );
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(db.calls).toBe(1);
    expect(cache.calls).toBe(1);
  });

  it('rejects bad router options', () => {
    const h = make();
    cleanup.push(() => h.close());
    expect(() => h.router({ basePath: 'health' })).toThrow(
      '@shipshape/health: router "basePath" must be a path starting with "/", got "health"',
    );
    expect(() => h.router({ authorize: 'yes' as never })).toThrow(
      'router "authorize" must be a function',
    );
    expect(() => h.router({ metricsPath: 3 as never })).toThrow(
      'router "metricsPath" must be a path',
    );
  });
});
