import type { Request } from 'express';
import { createClient } from 'redis';
import { describe, expect, it } from 'vitest';
import {
  describeEachExpress,
  type ExpressFactory,
  listen,
  serviceAvailable,
} from '../../../../test/helpers/index.js';
import { authenticate, requireRole } from '../../src/auth/authenticate.js';
import { apiKeys, createApiKey, memoryKeyStore } from '../../src/auth/keys.js';
import { cookieSessions, redisSessionStore } from '../../src/auth/sessions.js';
import type { SessionStore } from '../../src/auth/types.js';
import { csrf } from '../../src/csrf.js';
import { captureLogger, send, uniquePrefix } from '../helpers/http.js';
import { appWith, cookieOf, sleep, whoAmI } from './helpers.js';

const SECRET = 'a-session-secret-that-is-long-enough-0123456789';
const redisUp = await serviceAvailable('redis');

interface Setup {
  readonly idleTimeoutMs?: number;
  readonly absoluteTimeoutMs?: number;
  readonly production?: boolean;
  readonly store?: SessionStore;
  readonly keyStore?: ReturnType<typeof memoryKeyStore>;
}

function consoleApp(express: ExpressFactory, setup: Setup = {}) {
  const analyst = createApiKey({ prefix: 'glass', roles: ['analyst'], name: 'Ada' });
  const keys = setup.keyStore ?? memoryKeyStore();
  keys.add(analyst.record);
  const logger = captureLogger();
  const sessions = cookieSessions({
    secret: SECRET,
    production: setup.production ?? false,
    ...(setup.idleTimeoutMs !== undefined
      ? { idleTimeoutMs: setup.idleTimeoutMs, touchIntervalMs: Math.floor(setup.idleTimeoutMs / 4) }
      : {}),
    ...(setup.absoluteTimeoutMs !== undefined
      ? { absoluteTimeoutMs: setup.absoluteTimeoutMs }
      : {}),
    ...(setup.store ? { store: setup.store } : {}),
    logger,
  });
  const auth = authenticate({
    sources: [apiKeys({ store: keys })],
    sessions,
    roleInheritance: { analyst: ['viewer'] },
    logger,
  });
  const app = appWith(express);
  // The package's csrf(), token fallback bound to the session; bearer-only requests carry no
  // ambient credential and are left alone.
  app.use(
    csrf({
      token: 'fallback',
      secret: SECRET,
      sessionId: (req: Request) => sessions.sessionId(req),
      cookie: { secure: false },
      skip: (req) => !sessions.hasCookie(req) && req.headers.authorization !== undefined,
    }),
  );
  app.post('/auth/session', async (req, res, next) => {
    try {
      const principal = await auth.signIn(
        req,
        res,
        String((req.body as { key?: unknown }).key ?? ''),
      );
      res.json({ id: principal.id, roles: principal.roles });
    } catch (error) {
      next(error);
    }
  });
  app.delete('/auth/session', auth, async (req, res) => {
    await auth.signOut(req, res);
    res.status(204).end();
  });
  app.use('/api', auth);
  whoAmI(app, '/api/me');
  app.get('/api/csrf', (req, res) => {
    res.json({ token: req.csrfToken?.() });
  });
  app.post('/api/upload', requireRole('viewer'), (_req, res) => {
    res.json({ ok: true });
  });
  app.use(((err, _req, res, _next) => {
    res
      .status((err as { status?: number }).status ?? 500)
      .json({ code: (err as { code?: string }).code });
  }) as import('express').ErrorRequestHandler);
  return { app, analyst, keys, sessions, logger };
}

async function signIn(url: string, key: string, name = 'shipshape.sid') {
  const r = await send(`${url}/auth/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'sec-fetch-site': 'same-origin' },
    body: JSON.stringify({ key }),
  });
  return { r, cookie: cookieOf(r.headers['set-cookie'], name) };
}

describe('cookieSessions options', () => {
  it('needs a long secret; __Host- needs Secure; warns for an insecure cookie in production', () => {
    expect(() => cookieSessions({ secret: 'short' })).toThrow(
      /^@shipshape\/security: cookieSessions "secret" must be a string \(or list of strings\) of at least 32/,
    );
    expect(() => cookieSessions({ secret: SECRET, secure: false, cookieName: '__Host-x' })).toThrow(
      /cookieSessions "cookieName" must be free of the '__Host-' prefix/,
    );
    expect(() =>
      cookieSessions({ secret: SECRET, idleTimeoutMs: 10_000, absoluteTimeoutMs: 5000 }),
    ).toThrow(/"absoluteTimeoutMs" must be a positive integer of ms, at least idleTimeoutMs/);
    const logger = captureLogger();
    cookieSessions({ secret: SECRET, production: true, secure: false, logger });
    expect(logger.entries.map((e) => e.meta?.code)).toEqual([
      'SHIPSHAPE_SECURITY_SESSION_COOKIE_INSECURE',
    ]);
  });
});

describeEachExpress('cookie sessions (sign in with a key, CSRF, timeouts, logout)', (express) => {
  it('signs in: HttpOnly SameSite=Lax cookie (Secure, __Host- in production); the cookie authenticates', async () => {
    const prod = consoleApp(express, { production: true });
    const server = await listen(prod.app);
    try {
      const { r, cookie } = await signIn(server.url, prod.analyst.key, '__Host-shipshape.sid');
      expect(r.status).toBe(200);
      expect(cookie?.line).toMatch(
        /^__Host-shipshape\.sid=[\w-]{43}\.[\w-]{43}; Path=\/; HttpOnly; Secure; SameSite=Lax; Max-Age=43200$/,
      );
      const me = await send(`${server.url}/api/me`, { headers: { cookie: cookie?.pair ?? '' } });
      expect(me.json()).toMatchObject({
        id: `key:${prod.analyst.record.id}`,
        source: 'session',
        via: 'apiKey',
        roles: ['analyst', 'viewer'],
      });
      expect(prod.logger.entries.some((e) => e.message === 'signed_in')).toBe(true);
    } finally {
      await server.close();
    }
  });

  it('a wrong key does not sign in (401, counted); a tampered cookie is refused', async () => {
    const { app, analyst } = consoleApp(express);
    const server = await listen(app);
    try {
      const bad = await signIn(server.url, `${analyst.key.slice(0, -3)}zzz`);
      expect(bad.r.status).toBe(401);
      expect(bad.cookie).toBeUndefined();
      const { cookie } = await signIn(server.url, analyst.key);
      const tampered = `${cookie?.pair.slice(0, -2)}xx`;
      const r = await send(`${server.url}/api/me`, { headers: { cookie: tampered } });
      expect(r.status).toBe(401);
      expect(r.json()).toMatchObject({ code: 'AUTH_INVALID' });
    } finally {
      await server.close();
    }
  });

  it('CSRF: the token fallback is bound to the session; browser requests pass on Fetch Metadata', async () => {
    const { app, analyst } = consoleApp(express);
    const server = await listen(app);
    try {
      const a = (await signIn(server.url, analyst.key)).cookie?.pair ?? '';
      const b = (await signIn(server.url, analyst.key)).cookie?.pair ?? '';
      const tokenA = await send(`${server.url}/api/csrf`, { headers: { cookie: a } });
      const { token } = tokenA.json<{ token: string }>();
      const csrfCookie =
        cookieOf(tokenA.headers['set-cookie'], 'shipshape.x-csrf-token')?.pair ?? '';
      const post = (cookie: string, headers: Record<string, string> = {}) =>
        send(`${server.url}/api/upload`, { method: 'POST', headers: { cookie, ...headers } });
      // No Sec-Fetch-Site / Origin (an old browser): the token is needed…
      expect((await post(a)).status).toBe(403);
      expect((await post(`${a}; ${csrfCookie}`, { 'x-csrf-token': token })).status).toBe(200);
      // …and only works for the session it was issued to.
      expect((await post(`${b}; ${csrfCookie}`, { 'x-csrf-token': token })).status).toBe(403);
      // A modern browser's same-origin request passes; a cross-site one never does.
      expect((await post(a, { 'sec-fetch-site': 'same-origin' })).status).toBe(200);
      expect(
        (await post(a, { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' })).status,
      ).toBe(403);
      // A bearer request without a cookie is not subject to CSRF (no ambient credential).
      expect((await post('', { authorization: `Bearer ${analyst.key}` })).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('logout ends the session on the server: the old cookie no longer works', async () => {
    const { app, analyst, logger } = consoleApp(express);
    const server = await listen(app);
    try {
      const cookie = (await signIn(server.url, analyst.key)).cookie?.pair ?? '';
      const out = await send(`${server.url}/auth/session`, {
        method: 'DELETE',
        headers: { cookie, 'sec-fetch-site': 'same-origin' },
      });
      expect(out.status).toBe(204);
      expect(cookieOf(out.headers['set-cookie'], 'shipshape.sid')?.line).toContain('Max-Age=0');
      const replay = await send(`${server.url}/api/me`, { headers: { cookie } });
      expect(replay.status).toBe(401);
      expect(replay.json()).toMatchObject({ code: 'SESSION_EXPIRED' });
      expect(logger.entries.some((e) => e.message === 'signed_out')).toBe(true);
    } finally {
      await server.close();
    }
  });

  it('idle timeout ends an unused session; activity keeps it; the absolute timeout ends it anyway', async () => {
    const { app, analyst } = consoleApp(express, { idleTimeoutMs: 400, absoluteTimeoutMs: 1200 });
    const server = await listen(app);
    try {
      const idle = (await signIn(server.url, analyst.key)).cookie?.pair ?? '';
      await sleep(600);
      expect((await send(`${server.url}/api/me`, { headers: { cookie: idle } })).status).toBe(401);

      const active = (await signIn(server.url, analyst.key)).cookie?.pair ?? '';
      const statuses: number[] = [];
      const started = Date.now();
      while (Date.now() - started < 1500) {
        statuses.push((await send(`${server.url}/api/me`, { headers: { cookie: active } })).status);
        await sleep(150);
      }
      // Kept alive by activity past the idle timeout, then cut at the absolute timeout.
      expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
      expect(statuses.at(-1)).toBe(401);
    } finally {
      await server.close();
    }
  });

  it('a key revoked after sign-in ends its sessions', async () => {
    const { app, analyst, keys } = consoleApp(express);
    const server = await listen(app);
    try {
      const cookie = (await signIn(server.url, analyst.key)).cookie?.pair ?? '';
      expect((await send(`${server.url}/api/me`, { headers: { cookie } })).status).toBe(200);
      keys.revoke(analyst.record.id);
      const r = await send(`${server.url}/api/me`, { headers: { cookie } });
      expect(r.status).toBe(401);
      expect(r.json()).toMatchObject({ code: 'AUTH_REVOKED' });
    } finally {
      await server.close();
    }
  });
});

describe.skipIf(!redisUp)(
  'redisSessionStore: a session signed in on one instance works on another',
  () => {
    it('shares sessions and logout through Redis', async () => {
      const { default: express } = await import('express');
      const client = createClient({ url: 'redis://127.0.0.1:6379', disableOfflineQueue: true });
      await client.connect();
      const prefix = uniquePrefix('sess');
      const keyStore = memoryKeyStore();
      const one = consoleApp(express as unknown as ExpressFactory, {
        store: redisSessionStore(client, { prefix }),
        keyStore,
      });
      const two = consoleApp(express as unknown as ExpressFactory, {
        store: redisSessionStore(client, { prefix }),
        keyStore,
      });
      const [a, b] = await Promise.all([listen(one.app), listen(two.app)]);
      try {
        const cookie = (await signIn(a.url, one.analyst.key)).cookie?.pair ?? '';
        expect((await send(`${b.url}/api/me`, { headers: { cookie } })).status).toBe(200);
        const keys = await client.keys(`${prefix}*`);
        expect(keys).toHaveLength(1);
        // Stored under a hash of the id: the cookie's id is not in Redis.
        expect(keys[0]).not.toContain(cookie.split('=')[1]?.split('.')[0]);
        await send(`${a.url}/auth/session`, {
          method: 'DELETE',
          headers: { cookie, 'sec-fetch-site': 'same-origin' },
        });
        expect((await send(`${b.url}/api/me`, { headers: { cookie } })).status).toBe(401);
      } finally {
        await Promise.all([a.close(), b.close()]);
        await client.quit();
      }
    });
  },
);
