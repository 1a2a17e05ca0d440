import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachExpress, type Listening, listen } from '../../../test/helpers/index.js';
import { jsonBody } from '../src/body.js';
import { cors } from '../src/cors.js';
import { csrf } from '../src/csrf.js';
import { errorHandler, notFound } from '../src/error-handler.js';
import { DEFAULT_PERMISSIONS_POLICY, securityHeaders } from '../src/headers.js';
import { ipFilter } from '../src/ip-filter.js';
import { rateLimit } from '../src/rate-limit.js';
import { trustedHosts } from '../src/trusted-hosts.js';
import { captureLogger, send } from './helpers/http.js';

/** The headers securityHeaders() owns; every response must carry exactly these values. */
const OWNED = [
  'cache-control',
  'content-security-policy',
  'cross-origin-opener-policy',
  'cross-origin-resource-policy',
  'origin-agent-cluster',
  'permissions-policy',
  'referrer-policy',
  'strict-transport-security',
  'x-content-type-options',
  'x-dns-prefetch-control',
  'x-download-options',
  'x-frame-options',
  'x-permitted-cross-domain-policies',
  'x-powered-by',
  'x-xss-protection',
] as const;

function owned(headers: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(OWNED.map((name) => [name, headers[name]]));
}

const EXPECTED_API_HEADERS = {
  'cache-control': 'no-store',
  'content-security-policy':
    "default-src 'none';base-uri 'none';form-action 'none';frame-ancestors 'none'",
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'permissions-policy': Object.keys(DEFAULT_PERMISSIONS_POLICY)
    .map((f) => `${f}=()`)
    .join(', '),
  'referrer-policy': 'no-referrer',
  'strict-transport-security': undefined,
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'DENY',
  'x-permitted-cross-domain-policies': 'none',
  'x-powered-by': undefined,
  'x-xss-protection': '0',
};

describeEachExpress('securityHeaders', (express) => {
  describe('header snapshot over success and every error status', () => {
    let server: Listening;
    const logger = captureLogger();
    beforeAll(async () => {
      const app = express();
      app.set('trust proxy', 'loopback');
      app.use(securityHeaders({ production: false, logger }));
      app.use(trustedHosts({ hosts: ['127.0.0.1', 'localhost'], logger }));
      const filter = ipFilter({ deny: ['203.0.113.66'], logger });
      app.use(filter);
      app.use(cors({ origins: ['https://app.example.com'], logger }));
      app.use('/limited', rateLimit({ limit: 1, windowMs: 60_000, logger, onStoreError: 'allow' }));
      app.use(
        '/store-down',
        rateLimit({
          limit: 5,
          onStoreError: 'deny',
          logger,
          store: {
            increment: () => Promise.reject(new Error('store down')),
            decrement: () => undefined,
            resetKey: () => undefined,
          },
        }),
      );
      app.use('/json', jsonBody({ limit: 16 }));
      app.use(csrf({ logger }));
      app.get('/ok', (_req, res) => {
        res.json({ ok: true });
      });
      app.get('/limited', (_req, res) => {
        res.json({ ok: true });
      });
      app.get('/store-down', (_req, res) => {
        res.json({ ok: true });
      });
      app.post('/json', (_req, res) => {
        res.json({ ok: true });
      });
      app.post('/form', (_req, res) => {
        res.json({ ok: true });
      });
      app.get('/boom', () => {
        throw new Error('kaboom');
      });
      // notFound() and errorHandler(): the headers must survive them too.
      app.use(notFound());
      app.use(errorHandler({ production: true, warnings: false }));
      server = await listen(app);
    });
    afterAll(async () => {
      await server.close();
    });

    it('sends the API header set on a 200', async () => {
      const ok = await send(`${server.url}/ok`);
      expect(ok.status).toBe(200);
      expect(owned(ok.headers)).toEqual(EXPECTED_API_HEADERS);
    });

    it('sends the identical set on 400, 403 (ip, csrf, cors), 404, 413, 421, 429, 500 and 503', async () => {
      await send(`${server.url}/limited`);
      const cases = [
        {
          want: 400,
          code: 'INVALID_HOST',
          r: send(`${server.url}/ok`, { headers: { host: 'bad host' } }),
        },
        {
          want: 421,
          code: 'HOST_NOT_ALLOWED',
          r: send(`${server.url}/ok`, { headers: { host: 'evil.example' } }),
        },
        {
          want: 403,
          code: 'IP_BLOCKED',
          r: send(`${server.url}/ok`, { headers: { 'x-forwarded-for': '203.0.113.66' } }),
        },
        {
          want: 403,
          code: 'CROSS_ORIGIN_REQUEST',
          r: send(`${server.url}/form`, {
            method: 'POST',
            headers: { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' },
          }),
        },
        {
          want: 403,
          code: 'CORS_ORIGIN_NOT_ALLOWED',
          r: send(`${server.url}/ok`, {
            method: 'OPTIONS',
            headers: { origin: 'https://evil.example', 'access-control-request-method': 'PUT' },
          }),
        },
        { want: 404, code: undefined, r: send(`${server.url}/nope`) },
        {
          want: 413,
          code: undefined,
          r: send(`${server.url}/json`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ padding: 'x'.repeat(100) }),
          }),
        },
        { want: 429, code: 'RATE_LIMITED', r: send(`${server.url}/limited`) },
        { want: 500, code: undefined, r: send(`${server.url}/boom`) },
        { want: 503, code: 'RATE_LIMIT_STORE_UNAVAILABLE', r: send(`${server.url}/store-down`) },
      ];
      for (const c of cases) {
        const reply = await c.r;
        expect(reply.status, c.code).toBe(c.want);
        expect(reply.headers['content-type']).toBe('application/problem+json; charset=utf-8');
        if (c.code !== undefined) expect(reply.json().code).toBe(c.code);
        expect(owned(reply.headers), `${c.want} ${c.code}`).toEqual(EXPECTED_API_HEADERS);
      }
    });
  });

  describe('options', () => {
    it('adds HSTS only in production or on secure requests, and warns once about HSTS without TLS', async () => {
      const logger = captureLogger();
      const app = express();
      app.use('/prod', securityHeaders({ production: true, logger }));
      app.use('/dev', securityHeaders({ production: false }));
      app.use((_req, res) => {
        res.json({});
      });
      const server = await listen(app);
      try {
        const prod = await send(`${server.url}/prod`);
        await send(`${server.url}/prod`);
        expect(prod.headers['strict-transport-security']).toBe(
          'max-age=31536000; includeSubDomains',
        );
        const dev = await send(`${server.url}/dev`);
        expect(dev.headers['strict-transport-security']).toBeUndefined();
        const hstsWarnings = logger.entries.filter(
          (e) => e.meta?.code === 'SHIPSHAPE_SECURITY_HSTS_NO_TLS',
        );
        expect(hstsWarnings).toHaveLength(1);
      } finally {
        await server.close();
      }
    });

    it('treats a request as secure when a trusted proxy says https', async () => {
      const app = express();
      app.set('trust proxy', 'loopback');
      app.use(
        securityHeaders({
          production: false,
          hsts: { maxAge: 600, includeSubDomains: false, preload: true },
        }),
      );
      app.use((_req, res) => {
        res.json({});
      });
      const server = await listen(app);
      try {
        const viaTls = await send(server.url, { headers: { 'x-forwarded-proto': 'https' } });
        expect(viaTls.headers['strict-transport-security']).toBe('max-age=600; preload');
        const plain = await send(server.url);
        expect(plain.headers['strict-transport-security']).toBeUndefined();
      } finally {
        await server.close();
      }
    });

    it('gives every request its own CSP nonce in res.locals.cspNonce', async () => {
      const app = express();
      app.use(securityHeaders({ cspNonce: true, production: false }));
      app.get('/', (_req, res) => {
        res.type('html').send(`<script nonce="${res.locals.cspNonce as string}"></script>`);
      });
      const server = await listen(app);
      try {
        const a = await send(server.url);
        const b = await send(server.url);
        const nonceA = /nonce="([^"]+)"/.exec(a.text)?.[1];
        const nonceB = /nonce="([^"]+)"/.exec(b.text)?.[1];
        expect(nonceA).toMatch(/^[A-Za-z0-9+/]{22}==$/);
        expect(nonceA).not.toBe(nonceB);
        const csp = String(a.headers['content-security-policy']);
        expect(csp).toContain(`script-src 'self' 'nonce-${nonceA}'`);
        expect(csp).toContain(`style-src 'self' 'nonce-${nonceA}'`);
        expect(csp).not.toContain(nonceB);
      } finally {
        await server.close();
      }
    });

    it('lets a route opt out of no-store, and cacheControlSkip leave paths alone', async () => {
      const app = express();
      app.use(
        securityHeaders({
          production: false,
          cacheControlSkip: (req) => req.path.startsWith('/static'),
        }),
      );
      app.get('/public', (_req, res) => {
        res.set('Cache-Control', 'public, max-age=60').json({});
      });
      app.get('/static/x', (_req, res) => {
        res.json({});
      });
      app.get('/api', (_req, res) => {
        res.json({});
      });
      const server = await listen(app);
      try {
        expect((await send(`${server.url}/public`)).headers['cache-control']).toBe(
          'public, max-age=60',
        );
        expect((await send(`${server.url}/static/x`)).headers['cache-control']).toBeUndefined();
        expect((await send(`${server.url}/api`)).headers['cache-control']).toBe('no-store');
      } finally {
        await server.close();
      }
    });

    it('merges Permissions-Policy features over the deny-all default, or omits it', async () => {
      const app = express();
      app.use(
        '/custom',
        securityHeaders({
          production: false,
          permissionsPolicy: { camera: ['self', 'https://cam.example.com'], fullscreen: ['*'] },
        }),
      );
      app.use(
        '/none',
        securityHeaders({
          production: false,
          permissionsPolicy: false,
          contentSecurityPolicy: false,
        }),
      );
      app.use((_req, res) => {
        res.json({});
      });
      const server = await listen(app);
      try {
        const custom = String((await send(`${server.url}/custom`)).headers['permissions-policy']);
        expect(custom).toContain('camera=(self "https://cam.example.com")');
        expect(custom).toContain('fullscreen=*');
        expect(custom).toContain('microphone=()');
        const none = await send(`${server.url}/none`);
        expect(none.headers['permissions-policy']).toBeUndefined();
        expect(none.headers['content-security-policy']).toBeUndefined();
      } finally {
        await server.close();
      }
    });
  });
});

describe('securityHeaders option validation', () => {
  it('throws with the option name and the bad value', () => {
    expect(() => securityHeaders({ cacheControl: '' })).toThrow(
      /^@shipshape\/security: securityHeaders "cacheControl" must be a non-empty string or false, got ""/,
    );
    expect(() => securityHeaders({ hsts: { maxAge: -1 } })).toThrow(/"hsts.maxAge".*got -1/);
    expect(() => securityHeaders({ permissionsPolicy: { 'Bad Feature': [] } })).toThrow(
      /feature names/,
    );
    expect(() => securityHeaders({ permissionsPolicy: { camera: ['not an origin'] } })).toThrow(
      /"permissionsPolicy.camera" entries/,
    );
  });

  it('warns once about unknown option keys', () => {
    const logger = captureLogger();
    securityHeaders({ warnings: false, cacheControll: 'x' } as never);
    securityHeaders({ logger, cacheControll: 'x' } as never);
    expect(
      logger.entries.filter((e) => e.meta?.code === 'SHIPSHAPE_SECURITY_UNKNOWN_OPTION'),
    ).toHaveLength(1);
  });
});
