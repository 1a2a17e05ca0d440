import { afterEach, expect, it } from 'vitest';
import { describeEachExpress, type Listening, listen } from '../../../test/helpers/index.js';
import { cacheResponse, createCache } from '../src/index.js';

describeEachExpress('cacheResponse', (express) => {
  let server: Listening | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  const setup = async (
    configure: (app: ReturnType<typeof express>, calls: Record<string, number>) => void,
  ) => {
    const app = express();
    const calls: Record<string, number> = {};
    configure(app, calls);
    server = await listen(app);
    return { url: server.url, calls };
  };
  const count = (calls: Record<string, number>, name: string) => {
    calls[name] = (calls[name] ?? 0) + 1;
    return calls[name];
  };

  it('answers MISS then HIT with the same body, type and strong ETag', async () => {
    const cache = createCache();
    const { url, calls } = await setup((app, c) => {
      app.get('/items', cacheResponse({ cache }), (_req, res) => {
        res.json({ items: [1, 2, 3], call: count(c, 'items') });
      });
    });
    const first = await fetch(`${url}/items`);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache')).toBe('MISS');
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/); // strong: no W/ prefix
    const body = await first.text();
    const second = await fetch(`${url}/items`);
    expect(second.headers.get('x-cache')).toBe('HIT');
    expect(second.headers.get('etag')).toBe(etag);
    expect(second.headers.get('content-type')).toBe(first.headers.get('content-type'));
    expect(await second.text()).toBe(body);
    expect(calls.items).toBe(1);
  });

  it('answers 304 to If-None-Match with the cached ETag, and 200 to a different one', async () => {
    const cache = createCache();
    const { url } = await setup((app) => {
      app.get('/doc', cacheResponse({ cache }), (_req, res) => {
        res.type('text/plain').send('hello');
      });
    });
    const first = await fetch(`${url}/doc`);
    const etag = first.headers.get('etag') as string;
    const notModified = await fetch(`${url}/doc`, {
      headers: { 'If-None-Match': `"other", ${etag}` },
    });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get('x-cache')).toBe('HIT');
    expect(await notModified.text()).toBe('');
    const changed = await fetch(`${url}/doc`, { headers: { 'If-None-Match': '"stale"' } });
    expect(changed.status).toBe(200);
    expect(await changed.text()).toBe('hello');
  });

  it('serves HEAD from the GET entry without a body', async () => {
    const cache = createCache();
    const { url, calls } = await setup((app, c) => {
      app.get('/h', cacheResponse({ cache }), (_req, res) => {
        count(c, 'h');
        res.json({ ok: true });
      });
    });
    await fetch(`${url}/h`);
    const head = await fetch(`${url}/h`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('x-cache')).toBe('HIT');
    expect(head.headers.get('content-length')).toBe(String(JSON.stringify({ ok: true }).length));
    expect(await head.text()).toBe('');
    expect(calls.h).toBe(1);
  });

  it('normalises the query order, keeps distinct queries apart, and varies by a function', async () => {
    const cache = createCache();
    const { url, calls } = await setup((app, c) => {
      app.get(
        '/q',
        cacheResponse({ cache, vary: (req) => req.get('accept-language') }),
        (req, res) => {
          count(c, 'q');
          res.json({ query: req.query, lang: req.get('accept-language') ?? null });
        },
      );
    });
    await fetch(`${url}/q?b=2&a=1`);
    const reordered = await fetch(`${url}/q?a=1&b=2`);
    expect(reordered.headers.get('x-cache')).toBe('HIT');
    const different = await fetch(`${url}/q?a=1&b=3`);
    expect(different.headers.get('x-cache')).toBe('MISS');
    const german = await fetch(`${url}/q?a=1&b=2`, { headers: { 'Accept-Language': 'de' } });
    expect(german.headers.get('x-cache')).toBe('MISS');
    expect(((await german.json()) as { lang: string }).lang).toBe('de');
    expect(calls.q).toBe(3);
  });

  it('never caches responses that set cookies or say private, no-store or no-cache', async () => {
    const cache = createCache();
    const { url, calls } = await setup((app, c) => {
      const handler = (name: string, prepare: (res: import('express').Response) => void) => {
        app.get(`/${name}`, cacheResponse({ cache }), (_req, res) => {
          count(c, name);
          prepare(res);
          res.json({ name });
        });
      };
      handler('cookie', (res) => res.cookie('sid', 'abc'));
      handler('private', (res) => res.set('Cache-Control', 'private, max-age=60'));
      handler('nostore', (res) => res.set('Cache-Control', 'no-store'));
      handler('nocache', (res) => res.set('Cache-Control', 'public, no-cache'));
    });
    for (const name of ['cookie', 'private', 'nostore', 'nocache']) {
      await fetch(`${url}/${name}`);
      const again = await fetch(`${url}/${name}`);
      expect(again.headers.get('x-cache'), name).toBe('MISS');
      expect(calls[name], name).toBe(2);
    }
  });

  it('never caches errors, redirects, other methods, or binary bodies', async () => {
    const cache = createCache();
    const { url, calls } = await setup((app, c) => {
      app.use(cacheResponse({ cache }));
      app.get('/missing', (_req, res) => {
        count(c, 'missing');
        res.status(404).json({ error: 'no' });
      });
      app.get('/moved', (_req, res) => {
        count(c, 'moved');
        res.redirect('/elsewhere');
      });
      app.get('/bin', (_req, res) => {
        count(c, 'bin');
        res.type('application/octet-stream').send(Buffer.from([1, 2, 3]));
      });
      app.post('/post', (_req, res) => {
        count(c, 'post');
        res.json({ posted: true });
      });
    });
    for (const path of ['missing', 'moved', 'bin']) {
      await fetch(`${url}/${path}`, { redirect: 'manual' });
      await fetch(`${url}/${path}`, { redirect: 'manual' });
      expect(calls[path], path).toBe(2);
    }
    const post = await fetch(`${url}/post`, { method: 'POST' });
    expect(post.headers.get('x-cache')).toBeNull();
    await fetch(`${url}/post`, { method: 'POST' });
    expect(calls.post).toBe(2);
  });

  it('passes Authorization requests through unless the key names the user', async () => {
    const cache = createCache();
    const { url, calls } = await setup((app, c) => {
      app.get('/anon', cacheResponse({ cache }), (req, res) => {
        count(c, 'anon');
        res.json({ auth: req.get('authorization') });
      });
      app.get(
        '/me',
        cacheResponse({ cache, user: (req) => req.get('authorization')?.replace(/^Bearer /, '') }),
        (req, res) => {
          count(c, 'me');
          res.json({ me: req.get('authorization') });
        },
      );
    });
    const alice = { Authorization: 'Bearer alice' };
    const bob = { Authorization: 'Bearer bob' };
    const bypass = await fetch(`${url}/anon`, { headers: alice });
    expect(bypass.headers.get('x-cache')).toBe('BYPASS');
    await fetch(`${url}/anon`, { headers: alice });
    expect(calls.anon).toBe(2);

    await fetch(`${url}/me`, { headers: alice });
    const aliceAgain = await fetch(`${url}/me`, { headers: alice });
    expect(aliceAgain.headers.get('x-cache')).toBe('HIT');
    expect(await aliceAgain.json()).toEqual({ me: 'Bearer alice' });
    const bobFirst = await fetch(`${url}/me`, { headers: bob });
    expect(bobFirst.headers.get('x-cache')).toBe('MISS');
    expect(await bobFirst.json()).toEqual({ me: 'Bearer bob' });
    expect(calls.me).toBe(2);
  });

  it('invalidates cached responses by tag, and caches streamed text written in chunks', async () => {
    const cache = createCache();
    const { url, calls } = await setup((app, c) => {
      app.get('/products', cacheResponse({ cache, tags: ['products'] }), (_req, res) => {
        res.json({ n: count(c, 'products') });
      });
      app.get(
        '/stream',
        cacheResponse({ cache, tags: (req) => [`path:${req.path}`] }),
        (_req, res) => {
          count(c, 'stream');
          res.type('text/plain');
          res.write('part one, ');
          res.write(Buffer.from('part two'));
          res.end();
        },
      );
    });
    expect(await (await fetch(`${url}/products`)).json()).toEqual({ n: 1 });
    expect(await (await fetch(`${url}/products`)).json()).toEqual({ n: 1 });
    expect(await cache.invalidateTag('products')).toBe(1);
    expect(await (await fetch(`${url}/products`)).json()).toEqual({ n: 2 });

    expect(await (await fetch(`${url}/stream`)).text()).toBe('part one, part two');
    const hit = await fetch(`${url}/stream`);
    expect(hit.headers.get('x-cache')).toBe('HIT');
    expect(await hit.text()).toBe('part one, part two');
    expect(calls.stream).toBe(1);
    expect(await cache.invalidateTag('path:/stream')).toBe(1);
  });

  it('includes the router mount prefix in the key and skips bodies over maxBodyBytes', async () => {
    const cache = createCache();
    const { url, calls } = await setup((app, c) => {
      for (const mount of ['/v1', '/v2']) {
        const router = express.Router();
        router.get('/same', cacheResponse({ cache }), (_req, res) => {
          count(c, mount);
          res.json({ mount });
        });
        app.use(mount, router);
      }
      app.get('/big', cacheResponse({ cache, maxBodyBytes: 100 }), (_req, res) => {
        count(c, 'big');
        res.json({ data: 'x'.repeat(200) });
      });
    });
    expect(await (await fetch(`${url}/v1/same`)).json()).toEqual({ mount: '/v1' });
    expect(await (await fetch(`${url}/v2/same`)).json()).toEqual({ mount: '/v2' });
    expect((await fetch(`${url}/v1/same`)).headers.get('x-cache')).toBe('HIT');
    await fetch(`${url}/big`);
    const big = await fetch(`${url}/big`);
    expect(big.headers.get('x-cache')).toBe('MISS');
    expect(((await big.json()) as { data: string }).data).toHaveLength(200);
    expect(calls.big).toBe(2);
  });

  it('validates its options', () => {
    const cache = createCache();
    expect(() => cacheResponse({} as never)).toThrow(
      /cacheResponse "cache" must be a cache from createCache\(\)/,
    );
    expect(() => cacheResponse({ cache, ttl: -1 })).toThrow(
      /cacheResponse "ttl" must be a positive finite number/,
    );
    expect(() => cacheResponse({ cache, vary: 'accept' as never })).toThrow(
      /"vary" must be a function/,
    );
  });
});
