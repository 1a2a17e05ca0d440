import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { describeEachExpress, type Listening, listen } from '../../../test/helpers/index.js';
import { loggerAdminRouter, requestContext } from '../src/index.js';
import { createTestLogger } from '../src/testing.js';

describe('loggerAdminRouter options', () => {
  const { logger } = createTestLogger();
  it('requires a logger and an authorize function', () => {
    expect(() => loggerAdminRouter({ logger } as never)).toThrow(
      /^@shipshape\/logger: loggerAdminRouter "authorize" must be a function/,
    );
    expect(() => loggerAdminRouter({ logger: {} as never, authorize: () => true })).toThrow(
      /"logger" must be a logger from createLogger\(\)/,
    );
    expect(() => loggerAdminRouter({ logger, authorize: () => true, maxTtlMs: -5 })).toThrow(
      /"maxTtlMs" must be a non-negative integer, got -5/,
    );
  });
});

describeEachExpress('loggerAdminRouter', (express) => {
  let server: Listening;
  const root = createTestLogger({ level: 'info' });
  const audit = createTestLogger({ level: 'warn' });

  beforeAll(async () => {
    const app = express();
    app.use(requestContext());
    app.use(
      '/admin',
      loggerAdminRouter({
        logger: root.logger,
        loggers: { audit: audit.logger },
        authorize: (req) => req.headers.authorization === 'Bearer ops',
        maxTtlMs: 600_000,
      }),
    );
    app.get('/admin/other', (_req, res) => {
      res.send('other');
    });
    server = await listen(app);
  });

  afterAll(async () => {
    await server.close();
    await root.logger.close();
    await audit.logger.close();
  });

  const ops = { authorization: 'Bearer ops' };
  const put = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${server.url}/admin${path}`, {
      method: 'PUT',
      body,
      headers: { 'content-type': 'application/json', ...ops, ...headers },
    });

  it('GET /loggers lists levels and every logger', async () => {
    const res = await fetch(`${server.url}/admin/loggers`, { headers: ops });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({
      levels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'],
      loggers: {
        root: {
          configuredLevel: 'info',
          effectiveLevel: 'info',
          baseLevel: 'info',
          expiresAt: null,
        },
        audit: {
          configuredLevel: 'warn',
          effectiveLevel: 'warn',
          baseLevel: 'warn',
          expiresAt: null,
        },
      },
    });
    const one = await fetch(`${server.url}/admin/loggers/audit`, { headers: ops });
    expect(await one.json()).toMatchObject({ configuredLevel: 'warn' });
  });

  it('other paths pass through', async () => {
    const res = await fetch(`${server.url}/admin/other`);
    expect(await res.text()).toBe('other');
  });

  it('refuses without authorization (403 problem+json) and records auth_failed', async () => {
    root.clear();
    const res = await fetch(`${server.url}/admin/loggers`, {
      headers: { 'X-Request-Id': 'deny-1' },
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await res.json()).toMatchObject({
      status: 403,
      title: 'Forbidden',
      requestId: 'deny-1',
    });
    root.expectLogged({
      stream: 'security',
      event: 'auth_failed',
      requestId: 'deny-1',
      method: 'GET',
    });
    const put403 = await put('/loggers/root', '{"level":"debug","ttlMs":1000}', {
      authorization: 'x',
    });
    expect(put403.status).toBe(403);
    expect(root.logger.levelState().level).toBe('info');
  });

  it('PUT changes the level with a TTL, writes config_changed to the security stream, then reverts', async () => {
    root.clear();
    const res = await put('/loggers/audit', '{"level":"debug","ttlMs":300}', {
      'X-Request-Id': 'chg-1',
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ configuredLevel: 'debug', baseLevel: 'warn' });
    expect(audit.logger.levelState().level).toBe('debug');
    root.expectLogged({
      stream: 'security',
      event: 'config_changed',
      logger: 'audit',
      from: 'warn',
      to: 'debug',
      ttlMs: 300,
      requestId: 'chg-1',
    });
    await vi.waitFor(() => expect(audit.logger.levelState().level).toBe('warn'), { timeout: 5000 });
  });

  it('PUT /loggers applies to root; "configuredLevel" (Spring style) is accepted', async () => {
    const res = await put('/loggers', '{"configuredLevel":"verbose","ttlMs":600000}');
    expect(res.status).toBe(200);
    expect(root.logger.levelState()).toMatchObject({ level: 'verbose', baseLevel: 'info' });
    root.logger.setLevel('info');
  });

  it.each([
    ['not JSON', '{level', {}, 400, /not valid JSON/],
    [
      'unknown level',
      '{"level":"loud","ttlMs":1000}',
      {},
      400,
      /"level" must be one of error, warn/,
    ],
    ['no TTL', '{"level":"debug"}', {}, 400, /"ttlMs" is required and must be at most 600000/],
    ['TTL too long', '{"level":"debug","ttlMs":600001}', {}, 400, /at most 600000/],
    ['negative TTL', '{"level":"debug","ttlMs":-1}', {}, 400, /"ttlMs" must be a positive integer/],
    ['an array', '[1]', {}, 400, /must be a JSON object/],
    [
      'wrong content type',
      'level=debug',
      { 'content-type': 'text/plain' },
      415,
      /application\/json/,
    ],
    [
      'too large',
      JSON.stringify({ level: 'debug', pad: 'x'.repeat(5000) }),
      {},
      413,
      /at most 4096 bytes/,
    ],
  ])('PUT with %s → %i', async (_label, body, headers, status, detail) => {
    const res = await put('/loggers/root', body, headers as Record<string, string>);
    expect(res.status).toBe(status);
    const problem = (await res.json()) as { status: number; detail: string };
    expect(problem.status).toBe(status);
    expect(problem.detail).toMatch(detail);
    expect(root.logger.levelState().level).toBe('info');
  });

  it('unknown logger → 404; other methods → 405 with Allow', async () => {
    const missing = await put('/loggers/nope', '{"level":"debug","ttlMs":1000}');
    expect(missing.status).toBe(404);
    const del = await fetch(`${server.url}/admin/loggers/root`, { method: 'DELETE', headers: ops });
    expect(del.status).toBe(405);
    expect(del.headers.get('allow')).toBe('GET, HEAD, PUT');
  });
});
