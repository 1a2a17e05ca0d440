import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { describeEachExpress, listen } from '../../../test/helpers/index.js';
import { csrf } from '../src/csrf.js';
import { ipFilter } from '../src/ip-filter.js';
import { assertSafeTrustProxy, trustProxy } from '../src/proxy.js';
import { rateLimit } from '../src/rate-limit.js';
import { captureLogger, send } from './helpers/http.js';

describeEachExpress('trustProxy', (express) => {
  it('sets the safe forms and refuses true with the alternatives named', () => {
    const app = express();
    trustProxy(app, 1);
    expect(app.get('trust proxy')).toBe(1);
    trustProxy(app, 'loopback');
    expect(app.get('trust proxy')).toBe('loopback');
    trustProxy(app, ['10.0.0.0/8', '192.168.0.0/16']);
    expect(app.get('trust proxy')).toEqual(['10.0.0.0/8', '192.168.0.0/16']);
    expect(() => trustProxy(app, true as never)).toThrow(
      /^@shipshape\/security: app.set\('trust proxy', true\) trusts every X-Forwarded-For hop.*hop count.*'loopback'.*CIDRs/s,
    );
    expect(app.get('trust proxy')).toEqual(['10.0.0.0/8', '192.168.0.0/16']);
    expect(() => trustProxy(app, -1)).toThrow(/must be a hop count, 'loopback' or a list/);
    expect(() => trustProxy(app, [])).toThrow(/must be a hop count/);
    app.set('trust proxy', true);
    expect(() => assertSafeTrustProxy(app)).toThrow(/trust proxy', true/);
    expect(() => ipFilter({ app })).toThrow(/trust proxy', true/);
  });

  it('ipFilter answers 500 TRUST_PROXY_ALL when the app trusts every proxy', async () => {
    const app = express();
    app.set('trust proxy', true);
    app.use(ipFilter({ deny: ['203.0.113.1'], warnings: false }));
    app.use((_req, res) => {
      res.json({});
    });
    const server = await listen(app);
    try {
      const r = await send(server.url, { headers: { 'x-forwarded-for': '198.51.100.1' } });
      expect(r.status).toBe(500);
      expect(r.json().code).toBe('TRUST_PROXY_ALL');
    } finally {
      await server.close();
    }
  });

  it('csrf compares Origin with the X-Forwarded-Host of a trusted proxy only', async () => {
    const make = (trust: unknown) => {
      const app = express();
      app.set('trust proxy', trust);
      app.use(csrf());
      app.post('/', (_req, res) => {
        res.json({ ok: true });
      });
      return app;
    };
    const trusted = await listen(make('loopback'));
    const untrusted = await listen(make(false));
    const headers = {
      host: 'internal:8080',
      'x-forwarded-host': 'api.example.com',
      origin: 'https://api.example.com',
    };
    try {
      expect((await send(trusted.url, { method: 'POST', headers })).status).toBe(200);
      expect((await send(untrusted.url, { method: 'POST', headers })).status).toBe(403);
    } finally {
      await trusted.close();
      await untrusted.close();
    }
  });
});

describe('warnings can be switched off', () => {
  it('per code, or all at once; otherwise logged once per factory', () => {
    const on = captureLogger();
    const listed = captureLogger();
    const off = captureLogger();
    ipFilter({ bogus: 1, logger: on } as never);
    ipFilter({
      bogus: 1,
      logger: listed,
      warnings: ['SHIPSHAPE_SECURITY_UNKNOWN_OPTION'],
    } as never);
    ipFilter({ bogus: 1, logger: off, warnings: false } as never);
    expect(on.entries.map((e) => e.meta?.code)).toEqual(['SHIPSHAPE_SECURITY_UNKNOWN_OPTION']);
    expect(on.entries[0]?.message).toBe(
      '@shipshape/security: ipFilter ignores unknown option(s) "bogus"',
    );
    expect(listed.entries).toEqual([]);
    expect(off.entries).toEqual([]);
  });

  it('names the new name of a renamed option (metrics → registry)', () => {
    const registry = new Registry();
    const ipLogger = captureLogger();
    ipFilter({ metrics: registry, logger: ipLogger } as never);
    const limitLogger = captureLogger();
    rateLimit({ metrics: registry, logger: limitLogger, onStoreError: 'allow' } as never);
    for (const [factory, logger] of [
      ['ipFilter', ipLogger],
      ['rateLimit', limitLogger],
    ] as const) {
      const warning = logger.entries.find(
        (e) => e.meta?.code === 'SHIPSHAPE_SECURITY_UNKNOWN_OPTION',
      );
      expect(warning?.message).toBe(
        `@shipshape/security: ${factory} ignores unknown option(s) "metrics" ("metrics" is now "registry")`,
      );
    }
  });
});
