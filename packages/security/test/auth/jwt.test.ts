import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CryptoKey, exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachExpress, listen } from '../../../../test/helpers/index.js';
import { authenticate, requireRole } from '../../src/auth/authenticate.js';
import { jwtBearer } from '../../src/auth/jwt.js';
import { send } from '../helpers/http.js';
import { appWith, whoAmI } from './helpers.js';

const ISSUER = 'https://idp.example.test/realms/glass';
const AUDIENCE = 'glass-api';

let keys: Awaited<ReturnType<typeof generateKeyPair>>;
let other: Awaited<ReturnType<typeof generateKeyPair>>;
let jwks: { url: string; requests: number; close(): Promise<void> };

beforeAll(async () => {
  keys = await generateKeyPair('ES256');
  other = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const server = createServer((_req, res) => {
    state.requests++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  const state = { requests: 0 };
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  jwks = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/certs`,
    get requests() {
      return state.requests;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
});
afterAll(() => jwks.close());

function token(
  claims: Record<string, unknown>,
  options: { key?: CryptoKey; exp?: string | number; aud?: string } = {},
) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer(ISSUER)
    .setAudience(options.aud ?? AUDIENCE)
    .setSubject('user-42')
    .setIssuedAt()
    .setExpirationTime(options.exp ?? '5m')
    .sign(options.key ?? (keys.privateKey as CryptoKey));
}

describe('jwtBearer options', () => {
  it('needs issuer, audience and exactly one of jwksUrl / key; refuses HS* and none', () => {
    expect(() => jwtBearer({ issuer: ISSUER, audience: AUDIENCE } as never)).toThrow(
      /^@shipshape\/security: jwtBearer "jwksUrl" must be set, or "key" set/,
    );
    expect(() => jwtBearer({ jwksUrl: 'https://x/certs', issuer: ISSUER } as never)).toThrow(
      /jwtBearer "audience" must be/,
    );
    expect(() =>
      jwtBearer({
        jwksUrl: 'https://x/certs',
        issuer: ISSUER,
        audience: AUDIENCE,
        algorithms: ['HS256'],
      }),
    ).toThrow(/jwtBearer "algorithms" must be a list of asymmetric/);
  });
});

describeEachExpress('authenticate with jwtBearer (jose, JWKS over HTTP)', (express) => {
  async function serve(source: ReturnType<typeof jwtBearer>) {
    const app = appWith(express);
    app.use(
      authenticate({
        sources: [source],
        roleInheritance: { analyst: ['viewer'] },
        throttle: { limit: 100 },
      }),
    );
    whoAmI(app);
    app.get('/isolates', requireRole('analyst'), (_req, res) => {
      res.json({ ok: true });
    });
    return listen(app);
  }

  it('accepts a valid token: principal from sub, roles mapped from a nested claim', async () => {
    const server = await serve(
      jwtBearer({
        jwksUrl: jwks.url,
        issuer: ISSUER,
        audience: AUDIENCE,
        roles: 'realm_access.roles',
        roleMap: { 'glass-analyst': 'analyst', 'glass-viewer': 'viewer' },
      }),
    );
    try {
      const jwt = await token({
        name: 'Dr. Ada',
        realm_access: { roles: ['glass-analyst', 'offline_access'] },
      });
      const me = await send(`${server.url}/me`, { headers: { authorization: `Bearer ${jwt}` } });
      expect(me.status).toBe(200);
      expect(me.json()).toEqual({
        id: `jwt:${ISSUER}|user-42`,
        name: 'Dr. Ada',
        roles: ['analyst', 'viewer'],
        source: 'jwt',
        via: null,
      });
      expect(
        (await send(`${server.url}/isolates`, { headers: { authorization: `Bearer ${jwt}` } }))
          .status,
      ).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('refuses another audience, another signer, and expired tokens (beyond the clock tolerance)', async () => {
    const server = await serve(
      jwtBearer({ jwksUrl: jwks.url, issuer: ISSUER, audience: AUDIENCE, clockToleranceSec: 30 }),
    );
    try {
      const ask = async (jwt: string) => {
        const r = await send(`${server.url}/me`, { headers: { authorization: `Bearer ${jwt}` } });
        return { status: r.status, code: r.json<{ code?: string }>().code };
      };
      expect(await ask(await token({ roles: ['viewer'] }, { aud: 'another-app' }))).toEqual({
        status: 401,
        code: 'AUTH_INVALID',
      });
      expect(
        await ask(await token({ roles: ['viewer'] }, { key: other.privateKey as CryptoKey })),
      ).toEqual({
        status: 401,
        code: 'AUTH_INVALID',
      });
      const now = Math.floor(Date.now() / 1000);
      expect(await ask(await token({ roles: ['viewer'] }, { exp: now - 120 }))).toEqual({
        status: 401,
        code: 'AUTH_EXPIRED',
      });
      // Expired 10 s ago: inside the 30 s clock tolerance.
      expect((await ask(await token({ roles: ['viewer'] }, { exp: now - 10 }))).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('verifies with a local SPKI key; an unreachable JWKS endpoint is 503, not 401', async () => {
    const local = await serve(
      jwtBearer({
        key: await exportSPKI(keys.publicKey as CryptoKey),
        algorithms: ['ES256'],
        issuer: ISSUER,
        audience: AUDIENCE,
      }),
    );
    try {
      const jwt = await token({ roles: ['viewer'] });
      expect(
        (await send(`${local.url}/me`, { headers: { authorization: `Bearer ${jwt}` } })).status,
      ).toBe(200);
    } finally {
      await local.close();
    }
    const down = await serve(
      jwtBearer({
        jwksUrl: 'http://127.0.0.1:9/certs',
        issuer: ISSUER,
        audience: AUDIENCE,
        jwksTimeoutMs: 500,
      }),
    );
    try {
      const r = await send(`${down.url}/me`, {
        headers: { authorization: `Bearer ${await token({ roles: ['viewer'] })}` },
      });
      expect(r.status).toBe(503);
      expect(r.json()).toMatchObject({ code: 'AUTH_UNAVAILABLE' });
      expect(r.headers['retry-after']).toBe('5');
    } finally {
      await down.close();
    }
  });
});
