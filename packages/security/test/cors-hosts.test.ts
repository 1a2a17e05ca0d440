import { describe, expect, it } from 'vitest';
import { describeEachExpress, listen } from '../../../test/helpers/index.js';
import { type CorsOptions, cors } from '../src/cors.js';
import { trustedHosts } from '../src/trusted-hosts.js';
import { captureLogger, send, sendRaw } from './helpers/http.js';

describeEachExpress('cors', (express, version) => {
  const all = version.major === 5 ? '/{*any}' : '*';
  const make = (options: CorsOptions) => {
    const app = express();
    app.use(cors(options));
    app.all(all, (_req, res) => {
      res.json({ ok: true });
    });
    return app;
  };

  it('answers preflights of listed exact and wildcard origins', async () => {
    const server = await listen(
      make({
        origins: ['https://app.example.com', 'https://*.example.org', 'http://localhost:5173'],
        credentials: true,
      }),
    );
    try {
      for (const origin of [
        'https://app.example.com',
        'https://a.b.example.org',
        'http://localhost:5173',
      ]) {
        const r = await send(`${server.url}/items`, {
          method: 'OPTIONS',
          headers: {
            origin,
            'access-control-request-method': 'PUT',
            'access-control-request-headers': 'content-type',
          },
        });
        expect(r.status, origin).toBe(204);
        expect(r.headers['access-control-allow-origin']).toBe(origin);
        expect(r.headers['access-control-allow-credentials']).toBe('true');
        expect(r.headers['access-control-allow-methods']).toBe('GET,HEAD,PUT,PATCH,POST,DELETE');
        expect(r.headers['access-control-max-age']).toBe('600');
        expect(String(r.headers.vary)).toMatch(/Origin/);
      }
      const simple = await send(`${server.url}/items`, {
        headers: { origin: 'https://app.example.com' },
      });
      expect(simple.headers['access-control-allow-origin']).toBe('https://app.example.com');
      expect(simple.headers['access-control-expose-headers']).toBe(
        'X-Request-Id,RateLimit,RateLimit-Policy,Retry-After',
      );
    } finally {
      await server.close();
    }
  });

  it('refuses preflights from unlisted, look-alike and null origins with 403 and a cors_rejected event', async () => {
    const logger = captureLogger();
    const server = await listen(
      make({ origins: ['https://app.example.com', 'https://*.example.org'], logger }),
    );
    try {
      for (const origin of [
        'https://evil.example',
        'https://app.example.com.evil.example',
        'http://app.example.com',
        'https://example.org',
        'https://evilexample.org',
        'https://app.example.com:8443',
        'null',
      ]) {
        const r = await send(`${server.url}/items`, {
          method: 'OPTIONS',
          headers: { origin, 'access-control-request-method': 'DELETE' },
        });
        expect(r.status, origin).toBe(403);
        expect(r.json().code).toBe('CORS_ORIGIN_NOT_ALLOWED');
        expect(r.headers['access-control-allow-origin']).toBeUndefined();
      }
      const simple = await send(`${server.url}/items`, {
        headers: { origin: 'https://evil.example' },
      });
      expect(simple.status).toBe(200);
      expect(simple.headers['access-control-allow-origin']).toBeUndefined();
      expect(logger.entries.filter((e) => e.message === 'cors_rejected')).toHaveLength(8);
    } finally {
      await server.close();
    }
  });

  it("allows any origin with '*' when credentials are off", async () => {
    const server = await listen(make({ origins: '*' }));
    try {
      const r = await send(`${server.url}/x`, { headers: { origin: 'https://anyone.example' } });
      expect(r.headers['access-control-allow-origin']).toBe('*');
      expect(r.headers['access-control-allow-credentials']).toBeUndefined();
    } finally {
      await server.close();
    }
  });
});

describe('cors options', () => {
  it("refuses '*' with credentials at startup", () => {
    expect(() => cors({ origins: '*', credentials: true })).toThrow(
      /^@shipshape\/security: cors "origins" '\*' with "credentials: true"/,
    );
    expect(() => cors({ origins: ['https://a.example.com', '*'], credentials: true })).toThrow(
      /credentials/,
    );
  });

  it('rejects malformed origin entries', () => {
    for (const bad of [
      'https://app.example.com/path',
      'ftp://x.example.com',
      'https://*.com',
      'https://user@x.example.com',
      '',
    ])
      expect(() => cors({ origins: [bad] }), bad).toThrow(
        /cors "origins" entries are origins like/,
      );
  });

  it('warns when no origins are configured', () => {
    const logger = captureLogger();
    cors({ logger });
    expect(logger.entries.map((e) => e.meta?.code)).toEqual(['SHIPSHAPE_SECURITY_CORS_NO_ORIGINS']);
  });
});

describeEachExpress('trustedHosts', (express) => {
  const make = (trust: unknown, options: Parameters<typeof trustedHosts>[0]) => {
    const app = express();
    app.set('trust proxy', trust);
    const logger = captureLogger();
    app.use(trustedHosts(Array.isArray(options) ? options : { ...options, logger }));
    let reached = 0;
    app.use((_req, res) => {
      reached += 1;
      res.json({ ok: true });
    });
    return { app, logger, reached: () => reached };
  };

  it('serves listed hosts (any port unless one is given, wildcard subdomains, IPv6 literals)', async () => {
    const { app } = make(false, [
      'api.example.com',
      '*.example.net',
      'admin.example.com:8443',
      '[::1]',
      '127.0.0.1',
    ]);
    const server = await listen(app);
    try {
      for (const host of [
        'api.example.com',
        'API.Example.com:3000',
        'a.b.example.net',
        'admin.example.com:8443',
        '[::1]:80',
        `127.0.0.1:${server.port}`,
        'api.example.com.',
      ])
        expect((await send(server.url, { headers: { host } })).status, host).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('answers 421 for unlisted hosts and 400 for malformed ones, before the app runs', async () => {
    const h = make(false, {
      hosts: ['api.example.com', '*.example.net', 'admin.example.com:8443'],
    });
    const server = await listen(h.app);
    try {
      for (const host of [
        'evil.example',
        'example.net',
        'api.example.com.evil.example',
        'admin.example.com:9999',
        'xexample.net',
      ]) {
        const r = await send(server.url, { headers: { host } });
        expect(r.status, host).toBe(421);
        expect(r.json()).toMatchObject({ code: 'HOST_NOT_ALLOWED', title: 'Misdirected Request' });
      }
      for (const host of [
        'bad host',
        'api.example.com:80:80',
        'api.example.com:99999',
        'user@api.example.com',
        'api.example.com/x',
        '[::1',
        '-bad-.example.com',
      ]) {
        const r = await send(server.url, { headers: { host } });
        expect(r.status, JSON.stringify(host)).toBe(400);
        expect(r.json().code).toBe('INVALID_HOST');
      }
      const raw = await sendRaw(server.port, 'GET / HTTP/1.0\r\n\r\n');
      expect(raw.status).toBe(400);
      expect(JSON.parse(raw.body)).toMatchObject({
        code: 'INVALID_HOST',
        detail: 'The Host header is missing.',
      });
      const empty = await sendRaw(
        server.port,
        'GET / HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n',
      );
      expect(empty.status).toBe(400);
      expect(JSON.parse(empty.body)).toMatchObject({
        code: 'INVALID_HOST',
        detail: 'The Host header is malformed.',
      });
      expect(h.reached()).toBe(0);
      expect(h.logger.entries.filter((e) => e.message === 'host_rejected').length).toBe(14);
    } finally {
      await server.close();
    }
  });

  it('uses X-Forwarded-Host only from a trusted proxy', async () => {
    const untrusted = make(false, { hosts: ['api.example.com'] });
    const trusted = make('loopback', { hosts: ['api.example.com'] });
    const su = await listen(untrusted.app);
    const st = await listen(trusted.app);
    try {
      // A spoofed X-Forwarded-Host does not smuggle an unlisted host past an untrusted peer…
      expect(
        (
          await send(su.url, {
            headers: { host: 'api.example.com', 'x-forwarded-host': 'evil.example' },
          })
        ).status,
      ).toBe(200);
      expect(
        (
          await send(su.url, {
            headers: { host: 'evil.example', 'x-forwarded-host': 'api.example.com' },
          })
        ).status,
      ).toBe(421);
      // …while behind a trusted proxy the forwarded host (last hop) is what counts.
      expect(
        (
          await send(st.url, {
            headers: { host: 'internal:8080', 'x-forwarded-host': 'api.example.com' },
          })
        ).status,
      ).toBe(200);
      expect(
        (
          await send(st.url, {
            headers: { host: 'api.example.com', 'x-forwarded-host': 'evil.example' },
          })
        ).status,
      ).toBe(421);
      expect(
        (
          await send(st.url, {
            headers: {
              host: 'api.example.com',
              'x-forwarded-host': 'evil.example, api.example.com',
            },
          })
        ).status,
      ).toBe(200);
    } finally {
      await su.close();
      await st.close();
    }
  });
});

describe('trustedHosts options', () => {
  it('rejects empty and malformed host lists', () => {
    expect(() => trustedHosts([])).toThrow(
      /^@shipshape\/security: trustedHosts "hosts" must be a non-empty array/,
    );
    expect(() => trustedHosts(['https://api.example.com'])).toThrow(
      /"hosts" entries are host names.*"https:\/\/api.example.com"/,
    );
    expect(() => trustedHosts(['*.com'])).toThrow(/"hosts" entries/);
    expect(() => trustedHosts({ hosts: ['a.example.com'], status: 404 as never })).toThrow(
      /"status" must be 421 or 400/,
    );
  });
});
