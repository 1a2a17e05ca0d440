import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import helmet, { contentSecurityPolicy, type HelmetOptions } from 'helmet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Listening, listen } from '../../../test/helpers/index.js';
import { type SecurityHeadersOptions, securityHeaders } from '../src/headers.js';
import { send } from './helpers/http.js';

const CSP = 'content-security-policy';
const CSP_RO = 'content-security-policy-report-only';

type CspOption = NonNullable<HelmetOptions['contentSecurityPolicy']>;

/** helmet's shapes, as users write them for `helmet({ contentSecurityPolicy })`. */
const helmetShapes: Record<string, CspOption> = {
  'directives over the defaults (useDefaults omitted)': {
    directives: { scriptSrc: ["'self'", 'https://cdn.example.com'] },
  },
  'useDefaults: true, camelCase and kebab-case names, a string value, null removes a default': {
    useDefaults: true,
    directives: {
      'img-src': "'self'",
      connectSrc: ["'self'", 'https://api.example.com'],
      upgradeInsecureRequests: null,
      reportUri: '/csp-report',
    },
  },
  'useDefaults: false with its own default-src': {
    useDefaults: false,
    directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], sandbox: [] },
  },
  'a Set of sources': {
    directives: { styleSrc: new Set(["'self'", 'https://fonts.example.com']) },
  },
  'reportOnly: true': { reportOnly: true, directives: { defaultSrc: ["'self'"] } },
  dangerouslyDisableDefaultSrc: {
    useDefaults: false,
    directives: {
      defaultSrc: contentSecurityPolicy.dangerouslyDisableDefaultSrc,
      scriptSrc: ["'self'"],
    },
  },
  'a function source (per-request value)': {
    directives: {
      scriptSrc: [
        "'self'",
        (_req: IncomingMessage, res: ServerResponse) =>
          `'nonce-${(res as unknown as { locals: { n: string } }).locals.n}'`,
      ],
    },
  },
};

/** One app with helmet alone and one with securityHeaders(), for the same CSP option. */
async function both(
  csp: CspOption,
  ours: (csp: CspOption) => SecurityHeadersOptions = (c) => ({
    contentSecurityPolicy: c as NonNullable<SecurityHeadersOptions['contentSecurityPolicy']>,
  }),
) {
  const app = express();
  app.use((_req, res, next) => {
    res.locals.n = 'abc123';
    next();
  });
  app.use('/helmet', helmet({ contentSecurityPolicy: csp }));
  app.use('/ours', securityHeaders(ours(csp)));
  app.use((_req, res) => {
    res.json({});
  });
  const server = await listen(app);
  try {
    const theirs = await send(`${server.url}/helmet`);
    const mine = await send(`${server.url}/ours`);
    return { theirs: theirs.headers, mine: mine.headers };
  } finally {
    await server.close();
  }
}

describe("securityHeaders accepts helmet's contentSecurityPolicy options", () => {
  for (const [name, csp] of Object.entries(helmetShapes)) {
    it(`${name}: the same CSP header as helmet`, async () => {
      const { theirs, mine } = await both(csp);
      const header = typeof csp === 'object' && csp.reportOnly === true ? CSP_RO : CSP;
      expect(theirs[header]).toBeTypeOf('string');
      expect(mine[header]).toBe(theirs[header]);
      expect(mine[header === CSP ? CSP_RO : CSP]).toBeUndefined();
    });
  }

  it('helmet options passed through "helmet" give the same CSP and HSTS as helmet', async () => {
    const hsts = { maxAge: 600, includeSubDomains: false, preload: false };
    const csp = { directives: { scriptSrc: ["'self'", 'https://cdn.example.com'] } };
    const app = express();
    app.use('/helmet', helmet({ contentSecurityPolicy: csp, strictTransportSecurity: hsts }));
    app.use(
      '/ours',
      securityHeaders({
        production: true,
        warnings: false,
        helmet: { contentSecurityPolicy: csp, strictTransportSecurity: hsts },
      }),
    );
    app.use((_req, res) => {
      res.json({});
    });
    const server = await listen(app);
    try {
      const theirs = (await send(`${server.url}/helmet`)).headers;
      const mine = (await send(`${server.url}/ours`)).headers;
      expect(mine[CSP]).toBe(theirs[CSP]);
      expect(mine['strict-transport-security']).toBe('max-age=600');
      expect(mine['strict-transport-security']).toBe(theirs['strict-transport-security']);
    } finally {
      await server.close();
    }
  });

  it('cspNonce adds the per-request nonce to a helmet-shaped policy', async () => {
    const app = express();
    app.use(
      securityHeaders({
        cspNonce: true,
        contentSecurityPolicy: { directives: { scriptSrc: ["'self'", 'https://cdn.example.com'] } },
      }),
    );
    app.get('/', (_req, res) => {
      res.send(String(res.locals.cspNonce));
    });
    const server = await listen(app);
    try {
      const reply = await send(server.url);
      const csp = String(reply.headers[CSP]);
      expect(csp).toContain(`script-src 'self' https://cdn.example.com 'nonce-${reply.text}'`);
      // helmet's default style-src, plus the nonce
      expect(csp).toContain(`style-src 'self' https: 'unsafe-inline' 'nonce-${reply.text}'`);
      expect(csp).toContain('upgrade-insecure-requests');
    } finally {
      await server.close();
    }
  });
});

describe('securityHeaders flat directives take every value shape', () => {
  let server: Listening;
  beforeAll(async () => {
    const app = express();
    app.use('/array', securityHeaders({ contentSecurityPolicy: { defaultSrc: ["'self'"] } }));
    app.use('/string', securityHeaders({ contentSecurityPolicy: { defaultSrc: "'self'" } }));
    app.use(
      '/function',
      securityHeaders({
        contentSecurityPolicy: {
          defaultSrc: "'self'",
          reportUri: (req) => `/csp-report?from=${encodeURIComponent(req.url ?? '')}`,
        },
      }),
    );
    app.use(
      '/mixed',
      securityHeaders({
        contentSecurityPolicy: {
          'default-src': new Set(["'none'"]),
          imgSrc: ["'self'", () => 'https://img.example.com'],
          upgradeInsecureRequests: [],
        },
        cspReportOnly: true,
      }),
    );
    app.use('/on', securityHeaders({ contentSecurityPolicy: true }));
    app.use((_req, res) => {
      res.json({});
    });
    server = await listen(app);
  });
  afterAll(() => server.close());

  it('an array, a single string, a function, a Set, and true for the default policy', async () => {
    expect((await send(`${server.url}/array`)).headers[CSP]).toBe("default-src 'self'");
    expect((await send(`${server.url}/string`)).headers[CSP]).toBe("default-src 'self'");
    expect((await send(`${server.url}/function/x`)).headers[CSP]).toBe(
      "default-src 'self';report-uri /csp-report?from=%2Fx",
    );
    const mixed = await send(`${server.url}/mixed`);
    expect(mixed.headers[CSP_RO]).toBe(
      "default-src 'none';img-src 'self' https://img.example.com;upgrade-insecure-requests",
    );
    expect(mixed.headers[CSP]).toBeUndefined();
    expect((await send(`${server.url}/on`)).headers[CSP]).toBe(
      "default-src 'none';base-uri 'none';form-action 'none';frame-ancestors 'none'",
    );
  });
});

describe('securityHeaders refuses a bad CSP with the option error', () => {
  const cases: Record<string, [unknown, RegExp]> = {
    'a number as a directive value': [
      { directives: { scriptSrc: 42 } },
      /securityHeaders "contentSecurityPolicy\.directives\.scriptSrc" must be a source string.*got 42/,
    ],
    'an object as a flat directive value': [
      { scriptSrc: { self: true } },
      /"contentSecurityPolicy\.scriptSrc" must be .*got \{"self":true\}/,
    ],
    'a number inside the list': [
      { defaultSrc: ["'self'", 7] },
      /"contentSecurityPolicy\.defaultSrc" must be .*got \["'self'",7\]/,
    ],
    'directives that are not an object': [
      { directives: ["'self'"] },
      /"contentSecurityPolicy\.directives" must be an object of directives.*got \["'self'"\]/,
    ],
    'helmet keys mixed with directives': [
      { directives: {}, scriptSrc: ["'self'"] },
      /either directives or helmet's \{ useDefaults, directives, reportOnly \}, not both/,
    ],
    'useDefaults that is not a boolean': [
      { useDefaults: 'yes', directives: {} },
      /"contentSecurityPolicy\.useDefaults" must be a boolean, got "yes"/,
    ],
    'the same directive twice': [
      { scriptSrc: ["'self'"], 'script-src': ["'none'"] },
      /has the directive "script-src" twice/,
    ],
    'an unquoted keyword (helmet refuses it)': [
      { directives: { scriptSrc: ['self'] } },
      /"contentSecurityPolicy" was refused by helmet: .*"self" should be quoted/,
    ],
    'no default-src (helmet refuses it)': [
      { useDefaults: false, directives: { scriptSrc: ["'self'"] } },
      /"contentSecurityPolicy" was refused by helmet: .*needs a default-src/,
    ],
    'a string policy': ["default-src 'self'", /"contentSecurityPolicy" must be an object/],
  };
  for (const [name, [value, message]] of Object.entries(cases)) {
    it(name, () => {
      let thrown: unknown;
      try {
        securityHeaders({ contentSecurityPolicy: value as never, warnings: false });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(TypeError);
      expect((thrown as { code?: string }).code).toBe('SHIPSHAPE_SECURITY_INVALID_OPTION');
      expect((thrown as Error).message).toMatch(/^@shipshape\/security: securityHeaders /);
      expect((thrown as Error).message).toMatch(message);
    });
  }

  it('a reportOnly that contradicts cspReportOnly, and CSP given twice', () => {
    expect(() =>
      securityHeaders({
        contentSecurityPolicy: { reportOnly: true, directives: { defaultSrc: "'self'" } },
        cspReportOnly: false,
      }),
    ).toThrow(/"cspReportOnly" \(false\) contradicts "contentSecurityPolicy.reportOnly" \(true\)/);
    expect(() =>
      securityHeaders({
        contentSecurityPolicy: { defaultSrc: "'self'" },
        helmet: { contentSecurityPolicy: { directives: {} } },
      }),
    ).toThrow(/"contentSecurityPolicy" and "helmet.contentSecurityPolicy"/);
  });

  it('a helmet option error elsewhere is ours too', () => {
    expect(() =>
      securityHeaders({ helmet: { frameguard: { action: 'allow-all' as never } } }),
    ).toThrow(
      expect.objectContaining({
        code: 'SHIPSHAPE_SECURITY_INVALID_OPTION',
        message: expect.stringMatching(
          /securityHeaders "helmet" was refused by helmet: .*allow-all/,
        ),
      }),
    );
  });
});
