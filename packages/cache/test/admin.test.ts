import { afterEach, expect, it } from 'vitest';
import { describeEachExpress, type Listening, listen } from '../../../test/helpers/index.js';
import { cacheAdminRouter, createCache } from '../src/index.js';

describeEachExpress('cacheAdminRouter', (express) => {
  let server: Listening | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  const setup = async () => {
    const users = createCache({ name: 'users' });
    const pages = createCache({ name: 'pages' });
    const app = express();
    app.use((_req, res, next) => {
      res.setHeader('X-Request-Id', 'req-123');
      next();
    });
    app.use(
      '/admin/caches',
      cacheAdminRouter({
        caches: [users, pages],
        authorize: (req) => req.get('x-admin-token') === 'secret',
      }),
    );
    app.use((_req, res) => {
      res.status(404).json({ fallthrough: true });
    });
    server = await listen(app);
    const call = (path: string, method = 'GET', token: string | null = 'secret') =>
      fetch(`${server?.url}/admin/caches${path}`, {
        method,
        headers: token ? { 'x-admin-token': token } : {},
      });
    return { users, pages, call };
  };

  it('refuses requests that authorize() rejects with a 403 problem', async () => {
    const { call } = await setup();
    const res = await call('', 'GET', null);
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await res.json()).toMatchObject({
      status: 403,
      title: 'Forbidden',
      requestId: 'req-123',
    });
    expect((await call('/users/keys/a', 'DELETE', 'wrong')).status).toBe(403);
  });

  it('lists caches with stats and shows one cache', async () => {
    const { users, call } = await setup();
    await users.set('a', 1);
    await users.get('a');
    const list = (await (await call('')).json()) as { caches: { name: string; hits: number }[] };
    expect(list.caches.map((c) => c.name)).toEqual(['users', 'pages']);
    expect(list.caches[0]).toMatchObject({ name: 'users', hits: 1, sets: 1, entries: 1 });
    const one = await call('/users');
    expect(one.headers.get('cache-control')).toBe('no-store');
    expect(await one.json()).toMatchObject({ name: 'users', store: 'memory' });
  });

  it('evicts a key (percent-encoded), a tag, or the whole cache', async () => {
    const { users, pages, call } = await setup();
    await users.set('user 1/x', 1);
    await users.set('u2', 2, { tags: ['team'] });
    await users.set('u3', 3, { tags: ['team'] });
    await pages.set('p', 'keep');
    expect(
      await (await call(`/users/keys/${encodeURIComponent('user 1/x')}`, 'DELETE')).json(),
    ).toEqual({
      cache: 'users',
      key: 'user 1/x',
      deleted: true,
    });
    expect(await users.has('user 1/x')).toBe(false);
    expect(await (await call('/users/tags/team', 'DELETE')).json()).toMatchObject({
      invalidated: 2,
    });
    await users.set('u4', 4);
    expect(await (await call('/users', 'DELETE')).json()).toEqual({
      cache: 'users',
      cleared: true,
    });
    expect(await users.has('u4')).toBe(false);
    expect(await pages.get('p')).toBe('keep');
  });

  it('answers 404, 405 and 400 as problems, and leaves other paths to the app', async () => {
    const { call } = await setup();
    const missing = await call('/nope');
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { detail: string }).detail).toMatch(
      /no cache named "nope"; known: users, pages/,
    );
    const wrongMethod = await call('/users/keys/a', 'GET');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('DELETE');
    expect((await call('', 'POST')).status).toBe(405);
    const malformed = await call('/users/keys/%E0%A4%A', 'DELETE');
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { detail: string }).detail).toMatch(/percent-encoding/);
    const other = await call('/users/something/else/deep');
    expect(await other.json()).toEqual({ fallthrough: true });
  });

  it('passes an authorize() that throws to the error handler without crashing', async () => {
    const app = express();
    app.use(
      '/admin',
      cacheAdminRouter({
        caches: [],
        authorize: () => Promise.reject(new Error('auth backend down')),
      }),
    );
    app.use(
      (
        err: Error,
        _req: import('express').Request,
        res: import('express').Response,
        _next: import('express').NextFunction,
      ) => {
        res.status(500).json({ caught: err.message });
      },
    );
    server = await listen(app);
    const res = await fetch(`${server.url}/admin`);
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ caught: 'auth backend down' });
  });

  it('requires authorize and distinct cache names', () => {
    const cache = createCache({ name: 'x' });
    expect(() => cacheAdminRouter({ caches: [cache] } as never)).toThrow(
      /cacheAdminRouter "authorize" must be a function \(req\) => boolean; the admin endpoints are never open by default/,
    );
    expect(() =>
      cacheAdminRouter({ caches: [cache, createCache({ name: 'x' })], authorize: () => true }),
    ).toThrow(/caches with distinct names/);
  });
});
