import { describe, expect, it } from 'vitest';
import { describeEachExpress, listen } from '../../../../test/helpers/index.js';
import { auditLog, authenticate, guardHealth, requireRole } from '../../src/auth/authenticate.js';
import {
  apiKeyId,
  apiKeys,
  createApiKey,
  hashApiKey,
  memoryKeyStore,
} from '../../src/auth/keys.js';
import { ipFilter } from '../../src/ip-filter.js';
import { captureLogger, send } from '../helpers/http.js';
import { appWith, whoAmI } from './helpers.js';

const roleInheritance = { admin: ['uploader'], uploader: ['analyst'], analyst: ['viewer'] };

function keysFixture() {
  const viewer = createApiKey({ prefix: 'glass', roles: ['viewer'], name: 'Lab A viewer' });
  const admin = createApiKey({ prefix: 'glass', roles: ['admin'] });
  const legacy = 'a-hand-made-admin-token-0123456789';
  const store = memoryKeyStore([
    viewer.record,
    admin.record,
    { id: apiKeyId(legacy), hash: hashApiKey(legacy), roles: ['admin'], name: 'ADMIN_TOKEN' },
  ]);
  return { viewer, admin, legacy, store };
}

describe('API key helpers', () => {
  it('creates 256-bit keys whose id is the non-secret prefix, and stores only a SHA-256', () => {
    const { key, record } = createApiKey({ prefix: 'glass', roles: ['analyst'] });
    expect(key).toMatch(/^glass_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/);
    expect(record.id).toBe(key.slice(0, 14));
    expect(record.hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(JSON.stringify(record)).not.toContain(key.slice(15));
    expect(apiKeyId('some-other-token-of-any-shape')).toMatch(/^token_[0-9a-f]{12}$/);
  });

  it('refuses bad records and options with messages that name the option', () => {
    expect(() => memoryKeyStore([{ id: 'x', hash: 'md5:abc', roles: [] }])).toThrow(
      /^@shipshape\/security: memoryKeyStore "keys\[x\]\.hash" must be "sha256:"/,
    );
    expect(() => createApiKey({ prefix: 'Bad_Prefix', roles: [] })).toThrow(
      /createApiKey "prefix" must be/,
    );
    expect(() => authenticate({ sources: 'nope' as never })).toThrow(
      /^@shipshape\/security: authenticate "sources" must be an array of credential sources/,
    );
    expect(() => requireRole()).toThrow(/requireRole needs one or more role names/);
  });
});

describeEachExpress('authenticate + requireRole with API keys', (express) => {
  it('401 without or with a bad key; the principal (roles inherited) with a good one; 403 without the role', async () => {
    const { viewer, admin, legacy, store } = keysFixture();
    const logger = captureLogger();
    const app = appWith(express);
    app.use(authenticate({ sources: [apiKeys({ store })], roleInheritance, logger }));
    whoAmI(app);
    app.get('/isolates', requireRole('analyst'), (_req, res) => {
      res.json({ ok: true });
    });
    const server = await listen(app);
    try {
      const anonymous = await send(`${server.url}/me`);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers['content-type']).toContain('application/problem+json');
      expect(anonymous.headers['www-authenticate']).toBe('Bearer realm="api"');
      expect(anonymous.json()).toMatchObject({ status: 401, code: 'AUTH_REQUIRED' });

      const wrong = await send(`${server.url}/me`, {
        headers: { authorization: `Bearer ${viewer.key.slice(0, -4)}AAAA` },
      });
      expect(wrong.status).toBe(401);
      expect(wrong.json()).toMatchObject({ code: 'AUTH_INVALID' });
      expect(wrong.headers['www-authenticate']).toContain('error="invalid_token"');

      const me = await send(`${server.url}/me`, {
        headers: { authorization: `Bearer ${viewer.key}` },
      });
      expect(me.status).toBe(200);
      expect(me.json()).toEqual({
        id: `key:${viewer.record.id}`,
        name: 'Lab A viewer',
        roles: ['viewer'],
        source: 'apiKey',
        via: null,
      });
      const viaHeader = await send(`${server.url}/me`, { headers: { 'x-api-key': admin.key } });
      expect(viaHeader.json<{ roles: string[] }>().roles).toEqual([
        'admin',
        'uploader',
        'analyst',
        'viewer',
      ]);
      const legacyToken = await send(`${server.url}/isolates`, {
        headers: { authorization: `bearer ${legacy}` },
      });
      expect(legacyToken.status).toBe(200);

      const forbidden = await send(`${server.url}/isolates`, {
        headers: { authorization: `Bearer ${viewer.key}` },
      });
      expect(forbidden.status).toBe(403);
      expect(forbidden.json()).toMatchObject({ code: 'ROLE_REQUIRED' });

      const events = logger.entries.filter((e) => e.level === 'security');
      const failed = events.find((e) => e.message === 'auth_failed');
      expect(failed?.meta).toMatchObject({
        source: 'apiKey',
        reason: 'wrong key secret',
        account: `key:${viewer.record.id}`,
        path: '/me',
      });
      expect(JSON.stringify(failed?.meta)).not.toContain(viewer.key.slice(15, 30));
      expect(events.find((e) => e.message === 'auth_forbidden')?.meta).toMatchObject({
        principal: `key:${viewer.record.id}`,
        required: ['analyst'],
      });
    } finally {
      await server.close();
    }
  });

  it('a revoked key is refused at once and logged as such', async () => {
    const { viewer, store } = keysFixture();
    const logger = captureLogger();
    const app = appWith(express);
    app.use(authenticate({ sources: [apiKeys({ store })], logger }));
    whoAmI(app);
    const server = await listen(app);
    try {
      const headers = { authorization: `Bearer ${viewer.key}` };
      expect((await send(`${server.url}/me`, { headers })).status).toBe(200);
      expect(store.revoke(viewer.record.id)).toBe(true);
      const revoked = await send(`${server.url}/me`, { headers });
      expect(revoked.status).toBe(401);
      expect(revoked.json()).toMatchObject({ code: 'AUTH_REVOKED' });
      expect(
        logger.entries.some((e) => e.message === 'auth_failed' && e.meta?.reason === 'revoked key'),
      ).toBe(true);
    } finally {
      await server.close();
    }
  });

  it('throttles brute force per client: 429 with Retry-After past the limit (even for a good key), and feeds ipFilter', async () => {
    const { viewer, store } = keysFixture();
    const logger = captureLogger();
    const blocks = ipFilter({ autoBlock: { hits: 2, windowMs: 60_000, blockMs: 60_000 }, logger });
    const app = appWith(express);
    app.use(blocks);
    app.use(
      authenticate({
        sources: [apiKeys({ store })],
        throttle: { limit: 3, windowMs: 60_000 },
        ipFilter: blocks,
        logger,
      }),
    );
    whoAmI(app);
    const server = await listen(app);
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++)
        statuses.push(
          (
            await send(`${server.url}/me`, {
              headers: { authorization: `Bearer glass_00000000_${'x'.repeat(43)}` },
            })
          ).status,
        );
      expect(statuses).toEqual([401, 401, 429]);
      const good = await send(`${server.url}/me`, {
        headers: { authorization: `Bearer ${viewer.key}` },
      });
      expect(good.status).toBe(429);
      expect(good.json()).toMatchObject({ code: 'AUTH_THROTTLED' });
      expect(Number(good.headers['retry-after'])).toBeGreaterThan(50);
      // Two throttled answers were two limit hits for ipFilter's auto-block (hits: 2).
      await new Promise((r) => setTimeout(r, 50));
      const blocked = await send(`${server.url}/me`, {
        headers: { authorization: `Bearer ${viewer.key}` },
      });
      expect(blocked.status).toBe(403);
      expect(blocked.json()).toMatchObject({ code: 'IP_BLOCKED' });
      expect(
        logger.entries.some((e) => e.message === 'auth_throttled' && e.meta?.scope === 'client'),
      ).toBe(true);
    } finally {
      await server.close();
      await blocks.close();
    }
  });

  it('throttles per account across clients (X-Forwarded-For from a trusted proxy)', async () => {
    const { admin, store } = keysFixture();
    const app = appWith(express);
    app.set('trust proxy', 'loopback');
    app.use(
      authenticate({ sources: [apiKeys({ store })], throttle: { limit: 3, windowMs: 60_000 } }),
    );
    whoAmI(app);
    const server = await listen(app);
    try {
      const guess = `${admin.record.id}_${'y'.repeat(43)}`;
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++)
        statuses.push(
          (
            await send(`${server.url}/me`, {
              headers: {
                authorization: `Bearer ${guess}`,
                'x-forwarded-for': `198.51.100.${i + 1}`,
              },
            })
          ).status,
        );
      expect(statuses).toEqual([401, 401, 429]);
      // The real key, from yet another client: the account is locked for now.
      const real = await send(`${server.url}/me`, {
        headers: { authorization: `Bearer ${admin.key}`, 'x-forwarded-for': '198.51.100.77' },
      });
      expect(real.status).toBe(429);
      // Another account from that client is fine.
      const { viewer } = keysFixture();
      store.add(viewer.record);
      const other = await send(`${server.url}/me`, {
        headers: { authorization: `Bearer ${viewer.key}`, 'x-forwarded-for': '198.51.100.77' },
      });
      expect(other.status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('optional mode lets anonymous requests through; requireRole then answers 401', async () => {
    const { store } = keysFixture();
    const app = appWith(express);
    app.use(authenticate({ sources: [apiKeys({ store })], optional: true }));
    whoAmI(app);
    app.get('/private', requireRole('viewer'), (_req, res) => {
      res.json({ ok: true });
    });
    const server = await listen(app);
    try {
      expect((await send(`${server.url}/me`)).json()).toBeNull();
      const r = await send(`${server.url}/private`);
      expect(r.status).toBe(401);
      expect(r.json()).toMatchObject({ code: 'AUTH_REQUIRED' });
    } finally {
      await server.close();
    }
  });

  it('auditLog writes one data_access event per request with the principal and the route template', async () => {
    const { admin, store } = keysFixture();
    const logger = captureLogger();
    const app = appWith(express);
    const router = express.Router();
    router.get(
      '/:id/isolates.csv',
      auditLog({
        logger,
        action: 'download_isolates',
        details: (req) => ({ dataset: req.params.id }),
      }),
      (_req, res) => {
        res.type('text/csv').send('a,b\n');
      },
    );
    app.use(
      '/api/datasets',
      authenticate({ sources: [apiKeys({ store })], roleInheritance }),
      router,
    );
    const server = await listen(app);
    try {
      const r = await send(`${server.url}/api/datasets/42/isolates.csv`, {
        headers: { authorization: `Bearer ${admin.key}` },
      });
      expect(r.status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const events = logger.entries.filter((e) => e.message === 'data_access');
      expect(events).toHaveLength(1);
      expect(events[0]?.meta).toMatchObject({
        action: 'download_isolates',
        principal: `key:${admin.record.id}`,
        route: '/api/datasets/:id/isolates.csv',
        status: 200,
        dataset: '42',
      });
    } finally {
      await server.close();
    }
  });

  it('guardHealth: role or scrape token for /metrics, role only for /health/detailed; warns when metrics are open in production', async () => {
    const { viewer, admin, store } = keysFixture();
    const auth = authenticate({ sources: [apiKeys({ store })], roleInheritance });
    const guarded = guardHealth({
      authenticator: auth,
      scrapeTokens: ['scrape-token-0123456789'],
      production: true,
    });
    expect(guarded.authorizeMetrics).toBe(true);
    const app = appWith(express);
    app.use((req, res, next) => guarded.authorize(req, res, next));
    app.get(['/metrics', '/health/detailed'], (_req, res) => {
      res.json({ ok: true });
    });
    const server = await listen(app);
    try {
      const get = (path: string, token?: string) =>
        send(
          `${server.url}${path}`,
          token ? { headers: { authorization: `Bearer ${token}` } } : {},
        );
      expect((await get('/metrics')).status).toBe(401);
      expect((await get('/metrics', 'scrape-token-0123456789')).status).toBe(200);
      expect((await get('/health/detailed', 'scrape-token-0123456789')).status).toBe(401);
      expect((await get('/health/detailed', viewer.key)).status).toBe(403);
      expect((await get('/health/detailed', admin.key)).status).toBe(200);
      expect((await get('/metrics', admin.key)).status).toBe(200);
    } finally {
      await server.close();
    }
    const logger = captureLogger();
    const open = guardHealth({ authenticator: auth, metrics: 'open', production: true, logger });
    expect(open.authorizeMetrics).toBe(false);
    expect(logger.entries.map((e) => e.meta?.code)).toContain('SHIPSHAPE_SECURITY_METRICS_OPEN');
    const quiet = captureLogger();
    guardHealth({
      authenticator: auth,
      metrics: 'open',
      production: true,
      logger: quiet,
      warnings: false,
    });
    expect(quiet.entries).toEqual([]);
  });
});
