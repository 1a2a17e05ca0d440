import type { IncomingMessage } from 'node:http';
import {
  type CryptoKey,
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  importJWK,
  importSPKI,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  jwtVerify,
  type KeyObject,
} from 'jose';
import { describeValue, isPositiveInteger } from '../edge.js';
import { optionError } from '../options.js';
import { createWarner, warnUnknownOptions } from '../warnings.js';
import { bearerToken } from './keys.js';
import type { CredentialCheck, CredentialSource } from './types.js';

export interface JwtBearerOptions {
  /** The identity provider's JWKS endpoint (keys fetched, cached and rotated by jose). */
  readonly jwksUrl?: string | URL;
  /** A local verification key instead: a PEM public key (SPKI), a JWK, a JWK set, or a KeyObject. */
  readonly key?: string | JWK | JSONWebKeySet | KeyObject | CryptoKey;
  /** Expected `iss`; required. */
  readonly issuer: string | readonly string[];
  /** Expected `aud` (this API); required, so tokens minted for other apps are refused. */
  readonly audience: string | readonly string[];
  /** Accepted algorithms. @default ['RS256', 'ES256', 'PS256', 'EdDSA'] */
  readonly algorithms?: readonly string[];
  /** Seconds of clock skew tolerated on `exp`, `nbf`, `iat`. @default 30 */
  readonly clockToleranceSec?: number;
  /** Longest accepted token age from `iat`, in seconds. @default none (only `exp`) */
  readonly maxTokenAgeSec?: number;
  /**
   * Where the roles are: a claim name (array, or space-separated string, dotted path such as
   * `realm_access.roles`), or a function of the verified payload. @default 'roles'
   */
  readonly roles?: string | ((payload: JWTPayload) => readonly string[]);
  /** Maps identity-provider role/group names to this app's roles; unmapped names are dropped. @default names kept as they are */
  readonly roleMap?: Readonly<Record<string, string | readonly string[]>>;
  /** Claim shown as the principal's name. @default 'name', then 'preferred_username', then 'sub' */
  readonly nameClaim?: string;
  /** Milliseconds a JWKS fetch may take. @default 5000 */
  readonly jwksTimeoutMs?: number;
  /** Source name in principals and logs. @default 'jwt' */
  readonly name?: string;
}

const knownOptions: { readonly [K in keyof Required<JwtBearerOptions>]: true } = {
  jwksUrl: true,
  key: true,
  issuer: true,
  audience: true,
  algorithms: true,
  clockToleranceSec: true,
  maxTokenAgeSec: true,
  roles: true,
  roleMap: true,
  nameClaim: true,
  jwksTimeoutMs: true,
  name: true,
};

function fail(option: string, want: string, got: unknown): never {
  throw optionError(
    `@shipshape/security: jwtBearer "${option}" must be ${want}, got ${describeValue(got)}`,
  );
}

const stringList = (value: unknown): value is string | readonly string[] =>
  (typeof value === 'string' && value !== '') ||
  (Array.isArray(value) &&
    value.length > 0 &&
    value.every((v) => typeof v === 'string' && v !== ''));

function claimAt(payload: JWTPayload, path: string): unknown {
  let value: unknown = payload;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

type VerifyKey = Parameters<typeof jwtVerify>[1];

/**
 * Bearer JWTs from an identity provider (OIDC access or ID tokens), verified with `jose`: the
 * signature against the JWKS (or a local key), `iss`, `aud`, `exp`/`nbf` with clock tolerance, and
 * the algorithm allowlist. A JWKS endpoint that does not answer gives 503, not 401.
 */
export function jwtBearer(options: JwtBearerOptions): CredentialSource {
  if (typeof options !== 'object' || options === null)
    fail('options', 'an object with "issuer", "audience" and "jwksUrl" or "key"', options);
  warnUnknownOptions(createWarner(undefined, undefined), 'jwtBearer', options, knownOptions);
  if ((options.jwksUrl === undefined) === (options.key === undefined))
    fail('jwksUrl', 'set, or "key" set (exactly one of them)', options.jwksUrl);
  if (!stringList(options.issuer))
    fail('issuer', 'the expected "iss" (string or list)', options.issuer);
  if (!stringList(options.audience))
    fail('audience', 'the expected "aud" (string or list)', options.audience);
  const algorithms = options.algorithms ?? ['RS256', 'ES256', 'PS256', 'EdDSA'];
  if (
    !Array.isArray(algorithms) ||
    algorithms.length === 0 ||
    algorithms.some((a) => typeof a !== 'string' || /^(none|HS\d+)$/i.test(a))
  )
    fail('algorithms', "a list of asymmetric JWS algorithms (not 'none' or HS*)", algorithms);
  const clockTolerance = options.clockToleranceSec ?? 30;
  if (typeof clockTolerance !== 'number' || !(clockTolerance >= 0) || clockTolerance > 600)
    fail('clockToleranceSec', 'a number of seconds from 0 to 600', clockTolerance);
  if (options.maxTokenAgeSec !== undefined && !isPositiveInteger(options.maxTokenAgeSec))
    fail('maxTokenAgeSec', 'a positive integer of seconds', options.maxTokenAgeSec);
  const jwksTimeoutMs = options.jwksTimeoutMs ?? 5000;
  if (!isPositiveInteger(jwksTimeoutMs)) fail('jwksTimeoutMs', 'a positive integer', jwksTimeoutMs);
  const rolesOption = options.roles ?? 'roles';
  if (typeof rolesOption !== 'string' && typeof rolesOption !== 'function')
    fail('roles', 'a claim name or a function (payload) => roles', rolesOption);
  const roleMap = options.roleMap;
  if (roleMap !== undefined && (typeof roleMap !== 'object' || roleMap === null))
    fail('roleMap', 'an object mapping provider roles to app roles', roleMap);
  const name = options.name ?? 'jwt';

  let jwksUrl: URL | undefined;
  if (options.jwksUrl !== undefined) {
    try {
      jwksUrl = new URL(String(options.jwksUrl));
    } catch {
      fail('jwksUrl', 'an absolute https:// (or http:// for tests) URL', options.jwksUrl);
    }
    if (jwksUrl.protocol !== 'https:' && jwksUrl.protocol !== 'http:')
      fail('jwksUrl', 'an https:// URL', options.jwksUrl);
  }

  // Keys are resolved lazily, at the first token: nothing is fetched or imported at factory time.
  let keyPromise: Promise<VerifyKey> | undefined;
  const resolveKey = (): Promise<VerifyKey> => {
    if (keyPromise) return keyPromise;
    if (jwksUrl) {
      keyPromise = Promise.resolve(
        createRemoteJWKSet(jwksUrl, { timeoutDuration: jwksTimeoutMs, cooldownDuration: 30_000 }),
      );
    } else {
      const key = options.key;
      if (typeof key === 'string') {
        keyPromise = importSPKI(key, algorithms[0] as string);
      } else if (key && typeof key === 'object' && Array.isArray((key as JSONWebKeySet).keys)) {
        keyPromise = Promise.resolve(createLocalJWKSet(key as JSONWebKeySet));
      } else if (key && typeof key === 'object' && 'kty' in key) {
        keyPromise = importJWK(
          key as JWK,
          (key as JWK).alg ?? (algorithms[0] as string),
        ) as Promise<VerifyKey>;
      } else {
        keyPromise = Promise.resolve(key as KeyObject);
      }
      keyPromise.catch(() => {
        keyPromise = undefined;
      });
    }
    return keyPromise;
  };

  const rolesOf = (payload: JWTPayload): string[] => {
    const raw =
      typeof rolesOption === 'function' ? rolesOption(payload) : claimAt(payload, rolesOption);
    const names =
      typeof raw === 'string'
        ? raw.split(/\s+/).filter(Boolean)
        : Array.isArray(raw)
          ? raw.filter((r): r is string => typeof r === 'string')
          : [];
    if (!roleMap) return names;
    const out = new Set<string>();
    for (const n of names) {
      const mapped = Object.hasOwn(roleMap, n) ? roleMap[n] : undefined;
      if (typeof mapped === 'string') out.add(mapped);
      else if (Array.isArray(mapped)) for (const m of mapped) out.add(m);
    }
    return [...out];
  };

  return {
    name,
    read: (req: IncomingMessage) => bearerToken(req),
    async verify(credential): Promise<CredentialCheck | undefined> {
      if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(credential)) return undefined;
      try {
        const key = await resolveKey();
        const { payload } = await jwtVerify(
          credential,
          key as Parameters<typeof jwtVerify>[1] & CryptoKey,
          {
            issuer: options.issuer as string | string[],
            audience: options.audience as string | string[],
            algorithms: [...algorithms],
            clockTolerance,
            ...(options.maxTokenAgeSec !== undefined
              ? { maxTokenAge: options.maxTokenAgeSec }
              : {}),
          },
        );
        if (typeof payload.sub !== 'string' || payload.sub === '')
          return { ok: false, reason: 'token without "sub"' };
        const nameClaim = options.nameClaim;
        const display =
          (nameClaim ? claimAt(payload, nameClaim) : undefined) ??
          payload.name ??
          payload.preferred_username ??
          payload.sub;
        return {
          ok: true,
          principal: {
            id: `jwt:${payload.iss ?? ''}|${payload.sub}`,
            name: String(display),
            roles: rolesOf(payload),
            ...(typeof payload.exp === 'number' ? { expiresAt: payload.exp * 1000 } : {}),
          },
        };
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (error instanceof errors.JWKSTimeout || code === 'ERR_JWKS_TIMEOUT')
          return { ok: false, reason: 'JWKS endpoint timed out', count: false, unavailable: true };
        if (
          error instanceof errors.JOSEError &&
          !(error instanceof errors.JWKSNoMatchingKey) &&
          code === 'ERR_JOSE_GENERIC'
        )
          return {
            ok: false,
            reason: `JWKS unavailable: ${error.message}`,
            count: false,
            unavailable: true,
          };
        if (error instanceof errors.JWTExpired)
          return { ok: false, reason: 'token expired', code: 'AUTH_EXPIRED', count: false };
        if (error instanceof errors.JOSEError)
          return { ok: false, reason: `${code}: ${error.message}`.slice(0, 200) };
        // A fetch that failed (connection refused, DNS) is not the client's fault.
        return {
          ok: false,
          reason: `token check failed: ${error instanceof Error ? error.message : String(error)}`,
          count: false,
          unavailable: true,
        };
      }
    },
  };
}
