// securityHeaders() replays what helmet did once at startup; these tests hold it to helmet run per
// request (the code before the replay, kept here verbatim as the reference): the same response
// head, byte for byte and in order, for each configuration below.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet, { type HelmetOptions } from 'helmet';
import { expect, it } from 'vitest';
import { describeEachExpress, type ExpressFactory, listen } from '../../../test/helpers/index.js';
import { recordHeaders, replayHeaders } from '../src/header-replay.js';
import {
  DEFAULT_PERMISSIONS_POLICY,
  type SecurityHeadersOptions,
  securityHeaders,
} from '../src/headers.js';
import { sendRaw } from './helpers/http.js';

/** The pre-replay securityHeaders() for the configurations tested here (helmet per request). */
function reference(o: {
  production?: boolean;
  permissions?: string | undefined;
  cacheControl?: string | false;
  hsts?: string | undefined;
  csp?: HelmetOptions['contentSecurityPolicy'];
  cspNonce?: boolean;
  helmet?: HelmetOptions;
}): RequestHandler {
  const helmetMiddleware = helmet({
    frameguard: { action: 'deny' },
    ...(o.helmet ?? {}),
    contentSecurityPolicy: o.csp ?? false,
    strictTransportSecurity: false,
  } as HelmetOptions);
  return (req: Request, res: Response, next: NextFunction) => {
    if (o.cspNonce) res.locals.cspNonce = randomBytes(16).toString('base64');
    if (o.permissions !== undefined) res.setHeader('Permissions-Policy', o.permissions);
    if (o.cacheControl !== false) res.setHeader('Cache-Control', o.cacheControl ?? 'no-store');
    if (o.hsts !== undefined && (o.production || req.secure))
      res.setHeader('Strict-Transport-Security', o.hsts);
    res.removeHeader('X-Powered-By');
    helmetMiddleware(req, res, next);
  };
}

const API_CSP = {
  useDefaults: false,
  directives: {
    'default-src': ["'none'"],
    'base-uri': ["'none'"],
    'form-action': ["'none'"],
    'frame-ancestors': ["'none'"],
  },
  reportOnly: false,
};
const DENY_ALL = Object.keys(DEFAULT_PERMISSIONS_POLICY)
  .map((f) => `${f}=()`)
  .join(', ');

/** The response head without Date; nonces replaced by a placeholder (they differ per request). */
async function head(
  express: ExpressFactory,
  middleware: RequestHandler,
  disablePoweredBy = false,
): Promise<{ status: number; head: string; body: string }> {
  const app = express();
  if (disablePoweredBy) app.disable('x-powered-by');
  app.use(middleware);
  app.use((_req: Request, res: Response) => {
    res.json({ ok: true, nonce: res.locals.cspNonce === undefined ? null : 'present' });
  });
  app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
    res.status(500).json({ error: err.message });
  });
  const server = await listen(app);
  try {
    const r = await sendRaw(
      server.port,
      'GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n',
    );
    return {
      status: r.status,
      head: r.head
        .split('\r\n')
        .filter((l) => !/^date:/i.test(l))
        .join('\r\n')
        .replace(/'nonce-[A-Za-z0-9+/=]+'/g, "'nonce-…'"),
      body: r.body,
    };
  } finally {
    await server.close();
  }
}

const cases: {
  name: string;
  ours: SecurityHeadersOptions;
  ref: Parameters<typeof reference>[0];
}[] = [
  {
    name: 'defaults (development)',
    ours: { production: false },
    ref: { permissions: DENY_ALL, hsts: 'max-age=31536000; includeSubDomains', csp: API_CSP },
  },
  {
    name: 'production: HSTS on every response',
    ours: { production: true, warnings: false },
    ref: {
      production: true,
      permissions: DENY_ALL,
      hsts: 'max-age=31536000; includeSubDomains',
      csp: API_CSP,
    },
  },
  {
    name: 'CSP nonce (HTML policy, per-request CSP)',
    ours: { production: false, cspNonce: true },
    ref: {
      permissions: DENY_ALL,
      hsts: 'max-age=31536000; includeSubDomains',
      cspNonce: true,
      csp: {
        useDefaults: false,
        reportOnly: false,
        directives: {
          'default-src': ["'self'"],
          'base-uri': ["'self'"],
          'font-src': ["'self'", 'https:', 'data:'],
          'form-action': ["'self'"],
          'frame-ancestors': ["'none'"],
          'img-src': ["'self'", 'data:'],
          'object-src': ["'none'"],
          'script-src': [
            "'self'",
            (_req: IncomingMessage, res: ServerResponse) =>
              `'nonce-${(res as Response).locals.cspNonce as string}'`,
          ],
          'script-src-attr': ["'none'"],
          'style-src': [
            "'self'",
            (_req: IncomingMessage, res: ServerResponse) =>
              `'nonce-${(res as Response).locals.cspNonce as string}'`,
          ],
        },
      },
    },
  },
  {
    name: 'CSP off, report-only elsewhere, custom helmet options, no Permissions-Policy, no Cache-Control',
    ours: {
      production: false,
      contentSecurityPolicy: false,
      permissionsPolicy: false,
      cacheControl: false,
      hsts: false,
      helmet: {
        frameguard: { action: 'sameorigin' },
        referrerPolicy: { policy: ['origin', 'strict-origin-when-cross-origin'] },
        crossOriginEmbedderPolicy: true,
        xDnsPrefetchControl: { allow: true },
        originAgentCluster: false,
      },
    },
    ref: {
      cacheControl: false,
      helmet: {
        frameguard: { action: 'sameorigin' },
        referrerPolicy: { policy: ['origin', 'strict-origin-when-cross-origin'] },
        crossOriginEmbedderPolicy: true,
        xDnsPrefetchControl: { allow: true },
        originAgentCluster: false,
      },
    },
  },
  {
    name: 'report-only CSP with custom directives and a custom Cache-Control',
    ours: {
      production: false,
      contentSecurityPolicy: { defaultSrc: ["'self'"], imgSrc: ["'self'", 'https://img.example'] },
      cspReportOnly: true,
      cacheControl: 'private, max-age=10',
      hsts: { maxAge: 60, includeSubDomains: false, preload: true },
    },
    ref: {
      permissions: DENY_ALL,
      cacheControl: 'private, max-age=10',
      hsts: 'max-age=60; preload',
      csp: {
        useDefaults: false,
        reportOnly: true,
        directives: { 'default-src': ["'self'"], 'img-src': ["'self'", 'https://img.example'] },
      },
    },
  },
];

describeEachExpress('securityHeaders replays helmet byte for byte', (express) => {
  for (const c of cases) {
    for (const disablePoweredBy of [false, true]) {
      it(`${c.name}${disablePoweredBy ? ", app.disable('x-powered-by')" : ''}`, async () => {
        const ours = await head(express, securityHeaders(c.ours), disablePoweredBy);
        const ref = await head(express, reference(c.ref), disablePoweredBy);
        expect(ours.head).toMatch(/\r\nX-Content-Type-Options: nosniff\r\n/);
        expect(ours.head).not.toMatch(/X-Powered-By/i);
        expect(ours).toEqual(ref);
      });
    }
  }

  it('a header middleware that reads the request is run per request, not replayed', async () => {
    const perRequest: RequestHandler = (req, res, next) => {
      res.setHeader('X-Path', req.path);
      next();
    };
    const steps = recordHeaders(perRequest as never);
    expect(steps).toEqual([{ kind: 'run', middleware: perRequest }]);
    const app = express();
    app.use((req, res, next) => replayHeaders(steps, req, res, next));
    app.use((_req: Request, res: Response) => {
      res.end();
    });
    const server = await listen(app);
    try {
      const a = await sendRaw(
        server.port,
        'GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      );
      const b = await sendRaw(
        server.port,
        'GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      );
      expect(a.head).toMatch(/\r\nX-Path: \/a\r\n/);
      expect(b.head).toMatch(/\r\nX-Path: \/b\r\n/);
    } finally {
      await server.close();
    }
  });

  it('a static middleware is recorded as its sets and removals, in order', () => {
    const steps = recordHeaders(helmet({ contentSecurityPolicy: false }) as never);
    expect(steps.every((s) => s.kind !== 'run')).toBe(true);
    expect(
      steps.map((s) =>
        s.kind === 'set' ? `${s.name}: ${s.value}` : `-${s.kind === 'remove' ? s.name : ''}`,
      ),
    ).toEqual([
      'Cross-Origin-Opener-Policy: same-origin',
      'Cross-Origin-Resource-Policy: same-origin',
      'Origin-Agent-Cluster: ?1',
      'Referrer-Policy: no-referrer',
      'Strict-Transport-Security: max-age=31536000; includeSubDomains',
      'X-Content-Type-Options: nosniff',
      'X-DNS-Prefetch-Control: off',
      'X-Download-Options: noopen',
      'X-Frame-Options: SAMEORIGIN',
      'X-Permitted-Cross-Domain-Policies: none',
      '-X-Powered-By',
      'X-XSS-Protection: 0',
    ]);
  });
});

describeEachExpress("securityHeaders({ profile: 'api' })", (express) => {
  const names = (head: string) =>
    head
      .split('\r\n')
      .slice(1)
      .map((l) => l.slice(0, l.indexOf(':')));

  it('sends exactly the OWASP REST header set, in this order', async () => {
    const r = await head(
      express,
      securityHeaders({ profile: 'api', production: true, warnings: false }),
    );
    expect(names(r.head)).toEqual([
      'Cache-Control',
      'Strict-Transport-Security',
      'Content-Security-Policy',
      'Cross-Origin-Opener-Policy',
      'Cross-Origin-Resource-Policy',
      'Referrer-Policy',
      'X-Content-Type-Options',
      'X-Frame-Options',
      'Content-Type',
      'Content-Length',
      'ETag',
      'Connection',
    ]);
    expect(r.head).toMatch(/\r\nX-Frame-Options: DENY\r\n/);
  });

  it('is helmet with the five legacy headers off, no Permissions-Policy: the same bytes as that helmet per request', async () => {
    const ours = await head(express, securityHeaders({ profile: 'api', production: false }));
    const ref = await head(
      express,
      reference({
        hsts: 'max-age=31536000; includeSubDomains',
        csp: API_CSP,
        helmet: {
          xXssProtection: false,
          xDownloadOptions: false,
          xDnsPrefetchControl: false,
          xPermittedCrossDomainPolicies: false,
          originAgentCluster: false,
        },
      }),
    );
    expect(ours).toEqual(ref);
  });

  it('a helmet option given under either name wins over the profile', async () => {
    const r = await head(
      express,
      securityHeaders({
        profile: 'api',
        helmet: { dnsPrefetchControl: { allow: true }, xXssProtection: true },
      }),
    );
    expect(r.head).toMatch(/\r\nX-DNS-Prefetch-Control: on\r\n/);
    expect(r.head).toMatch(/\r\nX-XSS-Protection: 0\r\n/);
    expect(r.head).not.toMatch(/X-Download-Options|Origin-Agent-Cluster|X-Permitted/);
  });

  it('refuses an unknown profile', () => {
    expect(() => securityHeaders({ profile: 'html' as never })).toThrow(
      /securityHeaders "profile" must be 'default' or 'api', got "html"/,
    );
  });
});
