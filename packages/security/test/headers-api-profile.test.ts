// The header set of securityHeaders({ profile: 'api' }) against the default profile, written out
// name by name and value by value (headers-replay.test.ts holds both to helmet run per request;
// this file is the contract a reader can check against the OWASP REST Security header list).
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { expect, it } from 'vitest';
import { describeEachExpress, type ExpressFactory, listen } from '../../../test/helpers/index.js';
import { DEFAULT_PERMISSIONS_POLICY, securityHeaders } from '../src/headers.js';
import { sendRaw } from './helpers/http.js';

/** What the route, Express and node:http add whatever the middleware does. */
const NOT_OURS = new Set(['date', 'connection', 'content-type', 'content-length', 'etag']);

/** The headers the middleware sent, in order, as [name, value] pairs. */
async function sent(
  express: ExpressFactory,
  middleware: RequestHandler,
): Promise<[name: string, value: string][]> {
  const app = express();
  app.use(middleware);
  app.use((_req: Request, res: Response) => {
    res.json({ ok: true });
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
    expect(r.status).toBe(200);
    return r.head
      .split('\r\n')
      .slice(1)
      .filter((line) => line !== '')
      .map((line) => {
        const colon = line.indexOf(':');
        return [line.slice(0, colon), line.slice(colon + 1).trim()] as [string, string];
      })
      .filter(([name]) => !NOT_OURS.has(name.toLowerCase()));
  } finally {
    await server.close();
  }
}

const PERMISSIONS = Object.keys(DEFAULT_PERMISSIONS_POLICY)
  .map((feature) => `${feature}=()`)
  .join(', ');

const API: [name: string, value: string][] = [
  ['Cache-Control', 'no-store'],
  ['Strict-Transport-Security', 'max-age=31536000; includeSubDomains'],
  [
    'Content-Security-Policy',
    "default-src 'none';base-uri 'none';form-action 'none';frame-ancestors 'none'",
  ],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Cross-Origin-Resource-Policy', 'same-origin'],
  ['Referrer-Policy', 'no-referrer'],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-Frame-Options', 'DENY'],
];

/** The default profile's first header; the api profile sends it only when configured. */
const PERMISSIONS_POLICY: [name: string, value: string] = ['Permissions-Policy', PERMISSIONS];

/** What the default profile sends besides, each where helmet puts it. */
const LEGACY: Record<string, [after: string, value: string]> = {
  'Origin-Agent-Cluster': ['Cross-Origin-Resource-Policy', '?1'],
  'X-DNS-Prefetch-Control': ['X-Content-Type-Options', 'off'],
  'X-Download-Options': ['X-DNS-Prefetch-Control', 'noopen'],
  'X-Permitted-Cross-Domain-Policies': ['X-Frame-Options', 'none'],
  'X-XSS-Protection': ['X-Permitted-Cross-Domain-Policies', '0'],
};

/** API with the given legacy headers added back, in helmet's order. */
function withLegacy(names: readonly string[]): [name: string, value: string][] {
  const out = API.map(([n, v]): [string, string] => [n, v]);
  for (const [name, [predecessor, value]] of Object.entries(LEGACY)) {
    if (!names.includes(name)) continue;
    // Placed after its predecessor, or after that one's predecessor when it is not there.
    let after = predecessor;
    while (!out.some(([n]) => n === after)) {
      const before = LEGACY[after];
      if (!before) throw new Error(`no place for ${name}`);
      after = before[0];
    }
    out.splice(out.findIndex(([n]) => n === after) + 1, 0, [name, value]);
  }
  return out;
}

describeEachExpress(
  "securityHeaders({ profile: 'api' }) against the default profile",
  (express) => {
    it("'api' sends exactly the OWASP REST set, these names and values in this order", async () => {
      const api = await sent(
        express,
        securityHeaders({ profile: 'api', production: true, warnings: false }),
      );
      expect(api).toEqual(API);
    });

    it('the default profile sends the same, Permissions-Policy and the five legacy headers, nothing else', async () => {
      const byDefault = await sent(express, securityHeaders({ production: true, warnings: false }));
      const explicit = await sent(
        express,
        securityHeaders({ profile: 'default', production: true, warnings: false }),
      );
      expect(byDefault).toEqual([PERMISSIONS_POLICY, ...withLegacy(Object.keys(LEGACY))]);
      expect(explicit).toEqual(byDefault);
      const api = await sent(
        express,
        securityHeaders({ profile: 'api', production: true, warnings: false }),
      );
      expect(
        byDefault.filter(([name]) => !(name in LEGACY) && name !== 'Permissions-Policy'),
      ).toEqual(api);
    });

    it("a configured permissionsPolicy is sent with the 'api' profile, first, merged over deny-all", async () => {
      const denyAll = await sent(
        express,
        securityHeaders({
          profile: 'api',
          production: true,
          warnings: false,
          permissionsPolicy: {},
        }),
      );
      expect(denyAll).toEqual([PERMISSIONS_POLICY, ...API]);
      const camera = await sent(
        express,
        securityHeaders({
          profile: 'api',
          production: true,
          warnings: false,
          permissionsPolicy: { camera: ['self'] },
        }),
      );
      expect(camera).toEqual([
        ['Permissions-Policy', PERMISSIONS.replace('camera=()', 'camera=(self)')],
        ...API,
      ]);
    });

    const optionsBack: [header: string, helmet: Record<string, unknown>, value: string][] = [
      ['X-XSS-Protection', { xXssProtection: true }, '0'],
      ['X-XSS-Protection', { xssFilter: true }, '0'],
      ['X-Download-Options', { xDownloadOptions: true }, 'noopen'],
      ['X-Download-Options', { ieNoOpen: true }, 'noopen'],
      ['X-DNS-Prefetch-Control', { xDnsPrefetchControl: { allow: true } }, 'on'],
      ['X-DNS-Prefetch-Control', { dnsPrefetchControl: true }, 'off'],
      [
        'X-Permitted-Cross-Domain-Policies',
        { xPermittedCrossDomainPolicies: { permittedPolicies: 'master-only' } },
        'master-only',
      ],
      ['X-Permitted-Cross-Domain-Policies', { permittedCrossDomainPolicies: true }, 'none'],
      ['Origin-Agent-Cluster', { originAgentCluster: true }, '?1'],
    ];
    for (const [header, helmet, value] of optionsBack)
      it(`an explicit helmet option wins over the profile: ${JSON.stringify(helmet)} sends ${header}: ${value}`, async () => {
        const got = await sent(
          express,
          securityHeaders({ profile: 'api', production: true, warnings: false, helmet }),
        );
        const expected = withLegacy([header]).map(([n, v]) => [n, n === header ? value : v]);
        expect(got).toEqual(expected);
      });

    it('an explicit helmet option also turns off what the profile keeps', async () => {
      const got = await sent(
        express,
        securityHeaders({
          profile: 'api',
          production: true,
          warnings: false,
          helmet: { referrerPolicy: false, crossOriginOpenerPolicy: false },
        }),
      );
      expect(got).toEqual(
        API.filter(([name]) => name !== 'Referrer-Policy' && name !== 'Cross-Origin-Opener-Policy'),
      );
    });
  },
);
