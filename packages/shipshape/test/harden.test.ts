import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestLogger } from '@shipshape/logger/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { describeEachExpress, type Listening, listen } from '../../../test/helpers/index.js';
import { type HardenedService, type HardenOptions, harden } from '../src/index.js';

const securityHeaderNames = [
  'x-content-type-options',
  'x-frame-options',
  'content-security-policy',
  'permissions-policy',
  'cache-control',
  'x-request-id',
];

describeEachExpress('harden()', (express) => {
  let server: Listening | undefined;
  let service: HardenedService | undefined;

  afterEach(async () => {
    await server?.close();
    await service?.dispose();
    server = undefined;
    service = undefined;
  });

  async function start(options: HardenOptions = {}) {
    const test = createTestLogger();
    const app = express();
    service = harden(app, {
      env: 'test',
      service: 'harden-test',
      logger: test.logger,
      lifecycle: false,
      ...options,
    });
    app.get('/api/items/:id', (req, res) => {
      res.json({ id: req.params.id });
    });
    app.post('/api/items', (req, res) => {
      res.status(201).json({ received: req.body });
    });
    app.get('/api/boom', () => {
      throw new Error('database password is hunter2');
    });
    service.finish();
    server = await listen(app);
    return { url: server.url, test, service };
  }

  it('never rate limits probes, and limits the app routes', async () => {
    const { url } = await start({ rateLimit: { limit: 2, windowMs: 60_000 } });
    for (let i = 0; i < 6; i++) {
      const probe = await fetch(`${url}/health/live`);
      expect(probe.status).toBe(200);
    }
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${url}/api/items/${i}`)).status);
    expect(statuses).toEqual([200, 200, 429]);
    // The limiter records into the health registry served on /metrics.
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^shipshape_security_rate_limited_total\{limiter="api"\} 1$/m);
  });

  it('rejects a cross-site POST to an app route and still answers probes for it', async () => {
    const { url } = await start();
    const attack = await fetch(`${url}/api/items`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'sec-fetch-site': 'cross-site',
        origin: 'https://evil.example',
      },
      body: JSON.stringify({ a: 1 }),
    });
    expect(attack.status).toBe(403);
    expect(attack.headers.get('content-type')).toContain('application/problem+json');
    expect(((await attack.json()) as { code: string }).code).toBe('CROSS_ORIGIN_REQUEST');
    const ok = await fetch(`${url}/api/items`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'sec-fetch-site': 'same-origin' },
      body: JSON.stringify({ a: 1 }),
    });
    expect(ok.status).toBe(201);
    expect(await ok.json()).toEqual({ received: { a: 1 } });
  });

  it('answers probes and scrapes addressed by IP (kubelet, Prometheus) while trustedHosts refuses other hosts', async () => {
    const { url, service } = await start({ trustedHosts: ['api.example.com'] });
    service.health?.setState('ready');
    const { port } = new URL(url);
    const get = (path: string, host: string) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${url}${path}`, { headers: { host } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    for (const host of [`10.1.2.3:${port}`, `[fd00::12]:${port}`, '172.16.0.9'])
      for (const path of ['/health/live', '/health/ready', '/health/startup', '/metrics'])
        expect(await get(path, host), `${path} with Host ${host}`).toBe(200);
    expect(await get('/api/items/1', `10.1.2.3:${port}`)).toBe(421);
    expect(await get('/api/items/1', 'api.example.com')).toBe(200);
  });

  it('gives errors the security headers, the request id and problem+json', async () => {
    const { url, test } = await start({ rateLimit: { limit: 1, windowMs: 60_000 } });
    const responses = {
      ok: await fetch(`${url}/api/items/1`, { headers: { 'x-request-id': 'req-ok' } }),
      limited: await fetch(`${url}/api/items/2`, { headers: { 'x-request-id': 'req-429' } }),
    };
    for (const [name, res] of Object.entries(responses)) {
      for (const header of securityHeaderNames)
        expect(res.headers.get(header), `${name}: ${header}`).not.toBeNull();
    }
    expect(responses.limited.status).toBe(429);
    const problem = (await responses.limited.json()) as { requestId: string; status: number };
    expect(problem).toMatchObject({ status: 429, requestId: 'req-429' });
    expect(test.records.length).toBeGreaterThan(0);
  });

  it('answers 404 and 500 as problem+json with headers, and no internals in production', async () => {
    const { url, test } = await start({ env: 'production', rateLimit: { onStoreError: 'deny' } });
    const missing = await fetch(`${url}/nope?x=1`, { headers: { 'x-request-id': 'req-404' } });
    const boom = await fetch(`${url}/api/boom`, { headers: { 'x-request-id': 'req-500' } });
    for (const res of [missing, boom]) {
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      for (const header of securityHeaderNames) expect(res.headers.get(header)).not.toBeNull();
    }
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ status: 404, requestId: 'req-404' });
    expect(boom.status).toBe(500);
    const body = await boom.text();
    expect(body).toContain('req-500');
    expect(body).not.toContain('hunter2');
    expect(test.find({ level: 'error' }).length).toBeGreaterThan(0);
  });

  it('records HTTP metrics by route template and serves them on /metrics', async () => {
    const { url } = await start();
    await fetch(`${url}/api/items/123`);
    await fetch(`${url}/api/items/456`);
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toMatch(/http_requests_total\{[^}]*route="\/api\/items\/:id"[^}]*\} 2/);
    expect(text).not.toContain('/api/items/123');
  });

  it('labels a mounted router root by its mount path in metrics and the access log', async () => {
    const test = createTestLogger();
    const app = express();
    service = harden(app, { env: 'test', logger: test.logger, lifecycle: false });
    const router = express.Router();
    router.get('/', (_req, res) => {
      res.json([]);
    });
    app.use('/api/things', router);
    service.finish();
    server = await listen(app);
    expect((await fetch(`${server.url}/api/things`)).status).toBe(200);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/http_requests_total\{[^}]*route="\/api\/things"[^}]*\} 1/);
    expect(text).not.toContain('route="/api/things/"');
    expect(test.find({ route: '/api/things' }).length).toBe(1);
  });

  it('turns parts off and reports what is on', async () => {
    const { url, service: s } = await start({ csrf: false, rateLimit: false });
    expect(s.report.parts).toMatchObject({ csrf: false, rateLimit: false, securityHeaders: true });
    const post = await fetch(`${url}/api/items`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'sec-fetch-site': 'cross-site' },
      body: '{}',
    });
    expect(post.status).toBe(201);
  });

  it('warns once about unknown options, through its logger and in the startup report', async () => {
    const test = createTestLogger();
    service = harden(express(), {
      env: 'test',
      logger: test.logger,
      lifecycle: false,
      ratelimit: {},
      helmet: {},
    } as unknown as HardenOptions);
    const warned = test.find({ code: 'SHIPSHAPE_UMBRELLA_UNKNOWN_OPTION' });
    expect(warned).toHaveLength(1);
    expect(warned[0]?.level).toBe('warn');
    expect(String(warned[0]?.message)).toMatch(
      /^shipshape: harden\(\) ignores unknown options "ratelimit", "helmet" \(known: env, /,
    );
    expect(service.report.warnings.map((w) => w.code)).toEqual([
      'SHIPSHAPE_UMBRELLA_UNKNOWN_OPTION',
    ]);
    // warnings: [code] silences it.
    const quiet = createTestLogger();
    const other = harden(express(), {
      env: 'test',
      logger: quiet.logger,
      lifecycle: false,
      warnings: ['SHIPSHAPE_UMBRELLA_UNKNOWN_OPTION'],
      ratelimit: {},
    } as unknown as HardenOptions);
    await other.dispose();
    expect(quiet.find({ code: 'SHIPSHAPE_UMBRELLA_UNKNOWN_OPTION' })).toEqual([]);
  });

  it('throws a coded TypeError for an invalid option', () => {
    const invalid = expect.objectContaining({
      name: 'TypeError',
      code: 'SHIPSHAPE_UMBRELLA_INVALID_OPTION',
    });
    expect(() => harden(express(), { env: 'prod' as never })).toThrow(invalid);
    expect(() => harden(express(), { env: 'prod' as never })).toThrow(
      /^shipshape: harden\(\) "env" must be one of development, test, staging, production, got "prod"/,
    );
    expect(() => harden(express(), { version: 2 as never })).toThrow(invalid);
    expect(() => harden(express(), null as never)).toThrow(invalid);
    expect(() => harden({} as never)).toThrow(
      expect.objectContaining({ code: 'SHIPSHAPE_UMBRELLA_INVALID_ARGUMENT' }),
    );
    // A part's own option errors keep its package's code.
    expect(() =>
      harden(express(), { env: 'test', lifecycle: { drainTimeoutMs: -1 }, health: false }),
    ).toThrow(expect.objectContaining({ code: 'SHIPSHAPE_LIFECYCLE_INVALID_OPTION' }));
    expect(() =>
      harden(express(), { trustProxy: true as unknown as number, lifecycle: false }),
    ).toThrow(/trust proxy/);
  });

  it('dispose() closes what listen() opened and removes its process handlers, once', async () => {
    const handled = ['SIGTERM', 'SIGINT', 'uncaughtException', 'unhandledRejection'];
    const counts = () => handled.map((e) => process.listenerCount(e));
    const before = counts();
    const test = createTestLogger();
    service = harden(express(), {
      env: 'test',
      logger: test.logger,
      lifecycle: { exit: false },
    });
    expect(counts()).toEqual(before);
    const { port } = await service.listen(0, '127.0.0.1');
    expect(counts()).toEqual(before.map((n) => n + 1));
    expect((await fetch(`http://127.0.0.1:${port}/health/live`)).status).toBe(200);
    const first = service.dispose();
    expect(service.dispose()).toBe(first);
    await first;
    expect(counts()).toEqual(before);
    expect(service.lifecycle?.server?.listening).toBe(false);
    await expect(fetch(`http://127.0.0.1:${port}/health/live`)).rejects.toThrow();
  });
});

describe('harden() after its lifecycle stops (exit: false)', () => {
  // That it closes a logger it made is shown by the next test (its close is what fails there).
  it("leaves a logger passed in open after the stop: it is the caller's", async () => {
    const { default: express } = await import('express');
    const test = createTestLogger();
    const service = harden(express(), {
      env: 'test',
      logger: test.logger,
      lifecycle: { exit: false, signals: [] },
    });
    try {
      await service.listen(0, '127.0.0.1');
      await service.shutdown();
      await service.lifecycle?.stopped;
      await new Promise((resolve) => setTimeout(resolve, 50));
      test.logger.info('still open after the stop');
      expect(test.records.map((r) => r.message)).toContain('still open after the stop');
      expect(test.logger.writable).toBe(true);
    } finally {
      await service.dispose();
    }
  });

  it('a failing logger close after the stop is a coded process warning, not an unhandled rejection', async () => {
    const { default: express } = await import('express');
    const dir = mkdtempSync(join(tmpdir(), 'shipshape-harden-close-'));
    const service = harden(express(), {
      env: 'test',
      logger: { console: false, files: { dir } },
      lifecycle: { exit: false, signals: [] },
    });
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    const close = service.logger.close.bind(service.logger);
    service.logger.close = () => Promise.reject(new Error('the log disk is gone'));
    try {
      await service.listen(0, '127.0.0.1');
      await service.shutdown();
      await service.lifecycle?.stopped;
      await vi.waitFor(() =>
        expect(warnings.map((w) => (w as Error & { code?: string }).code)).toContain(
          'SHIPSHAPE_UMBRELLA_LOGGER_CLOSE_FAILED',
        ),
      );
      expect(warnings.map((w) => w.message).join('\n')).toMatch(
        /closing the logger after the lifecycle stopped failed: the log disk is gone/,
      );
    } finally {
      process.off('warning', onWarning);
      service.logger.close = close;
      await service.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('harden() in production', () => {
  it('turns on HSTS-relevant warnings and JSON logs', async () => {
    const { default: express } = await import('express');
    const test = createTestLogger();
    const service = harden(express(), {
      env: 'production',
      logger: test.logger,
      lifecycle: false,
      rateLimit: { onStoreError: 'deny' },
    });
    try {
      expect(service.report.env).toBe('production');
      expect(service.report.warnings.map((w) => w.code)).toContain(
        'SHIPSHAPE_UMBRELLA_HSTS_WITHOUT_TLS',
      );
    } finally {
      await service.health?.close();
    }
  });
});

describe('the startup report', () => {
  it('lists parts, stores and the masked config in /health/detailed', async () => {
    const { default: express } = await import('express');
    const { loadConfig, port, str } = await import('@shipshape/config');
    const config = loadConfig(
      { PORT: port({ default: 3000 }), API_KEY: str({ secret: true }) },
      { env: { NODE_ENV: 'test', API_KEY: 'sk-live-abcdef123456' }, files: false },
    );
    const test = createTestLogger();
    const app = express();
    const service = harden(app, { env: 'test', logger: test.logger, config, lifecycle: false });
    service.finish();
    const server = await listen(app);
    try {
      const detailed = (await (await fetch(`${server.url}/health/detailed`)).json()) as {
        config: { parts: Record<string, boolean>; config: Record<string, unknown> };
      };
      expect(detailed.config.parts).toMatchObject({ securityHeaders: true, rateLimit: true });
      expect(detailed.config.config).toEqual({
        PORT: 3000,
        API_KEY: '[REDACTED]',
        NODE_ENV: 'test',
      });
      expect(JSON.stringify(detailed)).not.toContain('sk-live-abcdef123456');
    } finally {
      await server.close();
      await service.health?.close();
    }
  });
});
