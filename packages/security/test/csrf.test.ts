import type { Request, RequestHandler } from 'express';
import { describe, expect, it } from 'vitest';
import { describeEachExpress, type ExpressFactory, listen } from '../../../test/helpers/index.js';
import { type CsrfOptions, csrf } from '../src/csrf.js';
import { captureLogger, send } from './helpers/http.js';

const SECRET = 'a-test-secret-that-is-long-enough-0123456789';
const OLD_SECRET = 'an-older-secret-that-is-long-enough-987654321';
const COOKIE = '__Host-shipshape.x-csrf-token';

function csrfApp(express: ExpressFactory, options: CsrfOptions) {
  const app = express();
  app.use(express.urlencoded({ extended: false }));
  app.use(csrf(options));
  app.get('/token', (req, res) => {
    res.json({ token: req.csrfToken?.() });
  });
  app.all('/action', (_req, res) => {
    res.json({ ok: true });
  });
  return app;
}

const sessionId = (req: Request) => String(req.headers['x-session-id'] ?? '');

async function issue(url: string, session: string): Promise<{ token: string; cookie: string }> {
  const r = await send(`${url}/token`, { headers: { 'x-session-id': session } });
  const token = r.json<{ token: string }>().token;
  const setCookie = (r.headers['set-cookie'] ?? []).find((c) => c.startsWith(`${COOKIE}=`)) ?? '';
  expect(setCookie).toMatch(/; Path=\/; HttpOnly; Secure; SameSite=Strict$/);
  const cookie = setCookie.split(';')[0] ?? '';
  expect(cookie).toBe(`${COOKIE}=${token}`);
  return { token, cookie };
}

describeEachExpress('csrf (Fetch Metadata / Origin, Go CrossOriginProtection)', (express) => {
  it('lets safe methods and same-origin / user-initiated unsafe requests through', async () => {
    const server = await listen(csrfApp(express, {}));
    try {
      for (const method of ['GET', 'HEAD', 'OPTIONS'])
        expect(
          (
            await send(`${server.url}/action`, {
              method,
              headers: { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' },
            })
          ).status,
          method,
        ).toBe(200);
      for (const site of ['same-origin', 'none'])
        expect(
          (
            await send(`${server.url}/action`, {
              method: 'POST',
              headers: { 'sec-fetch-site': site },
            })
          ).status,
          site,
        ).toBe(200);
      // old browser: no Sec-Fetch-Site, Origin equals Host
      expect(
        (await send(`${server.url}/action`, { method: 'DELETE', headers: { origin: server.url } }))
          .status,
      ).toBe(200);
      // non-browser client (curl): neither header
      expect((await send(`${server.url}/action`, { method: 'PUT' })).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('rejects cross-site and same-site unsafe requests, null / userinfo / foreign Origins, with 403 CROSS_ORIGIN_REQUEST', async () => {
    const logger = captureLogger();
    const server = await listen(csrfApp(express, { logger }));
    const port = server.port;
    try {
      const attacks: Array<Record<string, string>> = [
        // cross-site HTML form POST
        {
          'sec-fetch-site': 'cross-site',
          origin: 'https://evil.example',
          'content-type': 'application/x-www-form-urlencoded',
        },
        { 'sec-fetch-site': 'same-site', origin: 'https://sub.127.0.0.1.nip.io' },
        { 'sec-fetch-site': 'bogus-value' },
        { origin: 'null' },
        { origin: `http://user:pass@127.0.0.1:${port}` },
        { origin: `http://user@127.0.0.1:${port}` },
        { origin: 'https://evil.example' },
        { origin: `http://127.0.0.1:${port === 65535 ? port - 1 : port + 1}` },
        { origin: 'not a url' },
      ];
      for (const headers of attacks) {
        const r = await send(`${server.url}/action`, {
          method: 'POST',
          headers,
          body: 'amount=1000',
        });
        expect(r.status, JSON.stringify(headers)).toBe(403);
        expect(r.headers['content-type']).toBe('application/problem+json; charset=utf-8');
        expect(r.json()).toMatchObject({ status: 403, code: 'CROSS_ORIGIN_REQUEST' });
      }
      const events = logger.entries.filter((e) => e.message === 'csrf_rejected');
      expect(events).toHaveLength(attacks.length);
      expect(events[0]?.meta).toMatchObject({
        code: 'CROSS_ORIGIN_REQUEST',
        reportOnly: false,
        origin: 'https://evil.example',
      });
    } finally {
      await server.close();
    }
  });

  it('exempts trustedOrigins, and sets Vary: Sec-Fetch-Site, Origin on every response', async () => {
    const server = await listen(csrfApp(express, { trustedOrigins: ['https://sso.example.com'] }));
    try {
      const trusted = await send(`${server.url}/action`, {
        method: 'POST',
        headers: { 'sec-fetch-site': 'cross-site', origin: 'https://sso.example.com' },
      });
      expect(trusted.status).toBe(200);
      expect(trusted.headers.vary).toBe('Sec-Fetch-Site, Origin');
      expect(
        (
          await send(`${server.url}/action`, {
            method: 'POST',
            headers: { origin: 'https://sso.example.com' },
          })
        ).status,
      ).toBe(200);
      expect(
        (
          await send(`${server.url}/action`, {
            method: 'POST',
            headers: { origin: 'https://sso.example.com.evil.example' },
          })
        ).status,
      ).toBe(403);
      expect((await send(`${server.url}/action`)).headers.vary).toBe('Sec-Fetch-Site, Origin');
    } finally {
      await server.close();
    }
  });

  it('reportOnly logs but lets forged requests through, and warns once at startup', async () => {
    const logger = captureLogger();
    const server = await listen(csrfApp(express, { reportOnly: true, logger }));
    try {
      const r = await send(`${server.url}/action`, {
        method: 'POST',
        headers: { 'sec-fetch-site': 'cross-site' },
      });
      expect(r.status).toBe(200);
      expect(logger.entries.find((e) => e.message === 'csrf_rejected')?.meta).toMatchObject({
        reportOnly: true,
      });
      expect(
        logger.entries.filter((e) => e.meta?.code === 'SHIPSHAPE_SECURITY_CSRF_REPORT_ONLY'),
      ).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  describe("token: 'fallback' (csrf-csrf signed double submit)", () => {
    const options: CsrfOptions = { token: 'fallback', secret: [SECRET, OLD_SECRET], sessionId };

    it('requires a valid session-bound token only when neither Sec-Fetch-Site nor Origin is present', async () => {
      const server = await listen(csrfApp(express, options));
      try {
        const { token, cookie } = await issue(server.url, 'session-a');
        const post = (headers: Record<string, string>, body?: string, path = '/action') =>
          send(`${server.url}${path}`, {
            method: 'POST',
            headers,
            ...(body === undefined ? {} : { body }),
          });
        // missing token
        const missing = await post({ 'x-session-id': 'session-a', cookie });
        expect(missing.status).toBe(403);
        expect(missing.json().code).toBe('EBADCSRFTOKEN');
        // valid token in the header, and in a form body field
        expect(
          (await post({ 'x-session-id': 'session-a', cookie, 'x-csrf-token': token })).status,
        ).toBe(200);
        expect(
          (
            await post(
              {
                'x-session-id': 'session-a',
                cookie,
                'content-type': 'application/x-www-form-urlencoded',
              },
              `_csrf=${encodeURIComponent(token)}`,
            )
          ).status,
        ).toBe(200);
        // never from the query string
        expect(
          (
            await post(
              { 'x-session-id': 'session-a', cookie },
              undefined,
              `/action?_csrf=${encodeURIComponent(token)}`,
            )
          ).status,
        ).toBe(403);
        // wrong token (one character changed)
        const wrong = `${token.slice(0, -1)}${token.endsWith('0') ? '1' : '0'}`;
        expect(
          (await post({ 'x-session-id': 'session-a', cookie, 'x-csrf-token': wrong })).status,
        ).toBe(403);
        // header token without the cookie
        expect((await post({ 'x-session-id': 'session-a', 'x-csrf-token': token })).status).toBe(
          403,
        );
        // cross-session: session A's token and cookie replayed in session B
        expect(
          (await post({ 'x-session-id': 'session-b', cookie, 'x-csrf-token': token })).status,
        ).toBe(403);
        // a planted cookie with a bad signature, echoed in the header
        const planted = `${'ab'.repeat(32)}.${'cd'.repeat(32)}`;
        expect(
          (
            await post({
              'x-session-id': 'session-a',
              cookie: `${COOKIE}=${planted}`,
              'x-csrf-token': planted,
            })
          ).status,
        ).toBe(403);
        // browsers that send Fetch Metadata pass on the header check alone
        expect(
          (await post({ 'x-session-id': 'session-a', 'sec-fetch-site': 'same-origin' })).status,
        ).toBe(200);
        // and cross-site is still refused even with a valid token
        const cross = await post({
          'x-session-id': 'session-a',
          cookie,
          'x-csrf-token': token,
          'sec-fetch-site': 'cross-site',
        });
        expect(cross.json().code).toBe('CROSS_ORIGIN_REQUEST');
      } finally {
        await server.close();
      }
    });

    it('verifies tokens signed with an older secret during rotation', async () => {
      const old = await listen(csrfApp(express, { ...options, secret: OLD_SECRET }));
      const current = await listen(csrfApp(express, options));
      try {
        const { token, cookie } = await issue(old.url, 's1');
        const r = await send(`${current.url}/action`, {
          method: 'POST',
          headers: { 'x-session-id': 's1', cookie, 'x-csrf-token': token },
        });
        expect(r.status).toBe(200);
        const other = await listen(
          csrfApp(express, { ...options, secret: 'a-completely-different-secret-value-000000' }),
        );
        try {
          const r2 = await send(`${other.url}/action`, {
            method: 'POST',
            headers: { 'x-session-id': 's1', cookie, 'x-csrf-token': token },
          });
          expect(r2.status).toBe(403);
        } finally {
          await other.close();
        }
      } finally {
        await old.close();
        await current.close();
      }
    });
  });

  it('leaves req.cookies alone (for a later cookie-parser) and uses it when an earlier one set it', async () => {
    const app = express();
    app.use('/pre', (req, _res, next) => {
      // what cookie-parser would do
      (req as Request & { cookies?: Record<string, string> }).cookies = Object.fromEntries(
        String(req.headers.cookie ?? '')
          .split(';')
          .filter((p) => p.includes('='))
          .map((p) => [p.slice(0, p.indexOf('=')).trim(), p.slice(p.indexOf('=') + 1).trim()]),
      );
      next();
    });
    app.use(csrf({ token: 'always', secret: SECRET, sessionId }));
    app.get('/token', (req, res) => {
      res.json({ token: req.csrfToken?.() });
    });
    const report: RequestHandler = (req, res) => {
      res.json({ cookiesSet: (req as Request & { cookies?: unknown }).cookies !== undefined });
    };
    app.post('/plain', report);
    app.post('/pre/x', report);
    const server = await listen(app);
    try {
      const { token, cookie } = await issue(server.url, 'sc');
      const headers = { 'x-session-id': 'sc', cookie, 'x-csrf-token': token };
      const plain = await send(`${server.url}/plain`, { method: 'POST', headers });
      expect(plain.status).toBe(200);
      expect(plain.json()).toEqual({ cookiesSet: false });
      const pre = await send(`${server.url}/pre/x`, { method: 'POST', headers });
      expect(pre.status).toBe(200);
      expect(pre.json()).toEqual({ cookiesSet: true });
      const preBad = await send(`${server.url}/pre/x`, {
        method: 'POST',
        headers: { ...headers, 'x-csrf-token': 'x.y' },
      });
      expect(preBad.status).toBe(403);
    } finally {
      await server.close();
    }
  });

  it("token: 'always' requires the token on same-origin browser requests too", async () => {
    const server = await listen(csrfApp(express, { token: 'always', secret: SECRET, sessionId }));
    try {
      const { token, cookie } = await issue(server.url, 'sx');
      const headers = { 'x-session-id': 'sx', 'sec-fetch-site': 'same-origin' };
      expect((await send(`${server.url}/action`, { method: 'POST', headers })).status).toBe(403);
      expect(
        (
          await send(`${server.url}/action`, {
            method: 'POST',
            headers: { ...headers, cookie, 'x-csrf-token': token },
          })
        ).status,
      ).toBe(200);
    } finally {
      await server.close();
    }
  });
});

describe('csrf options', () => {
  it('throws on bad configuration with the option named', () => {
    expect(() => csrf({ token: 'fallback', sessionId })).toThrow(
      /^@shipshape\/security: csrf "secret" must be a string .* at least 32 random characters when "token" is 'fallback', got nothing/,
    );
    expect(() => csrf({ token: 'always', secret: 'short', sessionId })).toThrow(/"secret"/);
    expect(() => csrf({ token: 'always', secret: SECRET })).toThrow(
      /csrf "sessionId" must be a function/,
    );
    expect(() => csrf({ token: 'sometimes' as never })).toThrow(
      /"token" must be false, 'fallback' or 'always', got "sometimes"/,
    );
    expect(() => csrf({ trustedOrigins: ['https://sso.example.com/login'] })).toThrow(
      /"trustedOrigins"/,
    );
    expect(() =>
      csrf({
        token: 'always',
        secret: SECRET,
        sessionId,
        cookie: { secure: false },
        cookieName: '__Host-x',
      }),
    ).toThrow(/"cookieName"/);
  });
});
