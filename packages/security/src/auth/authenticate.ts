import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator } from 'express-rate-limit';
import { createCircuit } from '../circuit.js';
import {
  clientAddress,
  createEventThrottle,
  describeValue,
  isPositiveInteger,
  resolveProduction,
} from '../edge.js';
import { type IpBlockStore, memoryIpStore } from '../ip-store.js';
import { optionError } from '../options.js';
import { type ProblemDetails, SecurityError } from '../problem.js';
import type { LimitHitSink } from '../rate-limit.js';
import { emitSecurityEvent, type SecurityLogger } from '../types.js';
import { createWarner, type Warner, type WarningsOption, warnUnknownOptions } from '../warnings.js';
import { type AuthorityHooks, type AuthState, authStateOf, setAuthState } from './context.js';
import type { CookieSessions } from './sessions.js';
import type { CredentialCheck, CredentialSource, Principal, PrincipalInit } from './types.js';

export interface AuthThrottleOptions {
  /** Failed attempts per client (IP) and per account within `windowMs` before they are refused. @default 10 */
  readonly limit?: number;
  /** @default 900000 (15 minutes) */
  readonly windowMs?: number;
  /** How long a throttled client or account is refused (429 `AUTH_THROTTLED`). @default windowMs */
  readonly blockMs?: number;
  /** Where failures are counted: `'memory'` or a shared `IpBlockStore` such as `redisIpStore(client, { prefix })`. @default 'memory' */
  readonly store?: 'memory' | IpBlockStore;
  /** A store call slower than this counts as failed (throttling then fails open). @default 100 */
  readonly storeTimeoutMs?: number;
  /** Count a valid principal's 403s (key misuse) towards its account's limit. @default true */
  readonly countForbidden?: boolean;
}

export interface AuthenticateOptions {
  /** Credential sources, tried in order; the first that recognises the request's credential decides. */
  readonly sources: readonly CredentialSource[];
  /** Cookie sessions for `signIn` / `signOut` (added to `sources`, first, when not listed). */
  readonly sessions?: CookieSessions;
  /** Roles each role includes, e.g. `{ admin: ['uploader'], uploader: ['analyst'] }` (transitive). @default {} */
  readonly roleInheritance?: Readonly<Record<string, readonly string[]>>;
  /** Let requests without any credential through as anonymous (`requireRole` then answers 401). @default false */
  readonly optional?: boolean;
  /** Brute-force throttling of failed attempts per client and per account; `false` turns it off. @default {} */
  readonly throttle?: false | AuthThrottleOptions;
  /** Receives each throttled client IP (an `ipFilter({ autoBlock })` blocks repeat offenders). @default none */
  readonly ipFilter?: LimitHitSink;
  /** `realm` of the `WWW-Authenticate` challenge. @default 'api' */
  readonly realm?: string;
  /** Security log: `auth_failed`, `auth_throttled`, `auth_forbidden`, `signed_in`, `signed_out`. */
  readonly logger?: SecurityLogger;
  /** @default process.env.NODE_ENV === 'production' */
  readonly production?: boolean;
  readonly warnings?: WarningsOption;
}

const knownOptions: { readonly [K in keyof Required<AuthenticateOptions>]: true } = {
  sources: true,
  sessions: true,
  roleInheritance: true,
  optional: true,
  throttle: true,
  ipFilter: true,
  realm: true,
  logger: true,
  production: true,
  warnings: true,
};

type Guard = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/** The middleware returned by `authenticate()`, with its sign-in API. */
export interface Authenticator extends RequestHandler {
  /**
   * Signs in with a credential typed into a form (an API key, a token): checks it like a request
   * would, with the same throttling and logging, then starts a cookie session. Rejects with a
   * `SecurityError` (401, 429, 503).
   */
  signIn(req: IncomingMessage, res: ServerResponse, credential: string): Promise<Principal>;
  /** Ends the request's session (server side) and clears its cookie. */
  signOut(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /**
   * A plain `(req, res, next)` guard that authenticates and requires one of `roles`, for
   * handlers outside the app's middleware chain (e.g. `health.router({ authorize })`).
   */
  guard(roles: string | readonly string[]): Guard;
  /** Roles a set of roles amounts to, inheritance applied. */
  expandRoles(roles: readonly string[]): readonly string[];
  readonly sessions: CookieSessions | undefined;
  close(): Promise<void>;
}

type Outcome =
  | {
      readonly kind: 'principal';
      readonly principal: Principal;
      readonly sessionId: string | undefined;
    }
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'refused'; readonly error: SecurityError };

function fail(option: string, want: string, got: unknown): never {
  throw optionError(
    `@shipshape/security: authenticate "${option}" must be ${want}, got ${describeValue(got)}`,
  );
}

function pathOf(req: IncomingMessage): string {
  const url = (req as Partial<Request>).originalUrl ?? req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/**
 * Writes a problem with node's API only, so the guards also work outside Express (a health
 * router, a plain `http` handler).
 */
export function writeProblem(req: IncomingMessage, res: ServerResponse, err: SecurityError): void {
  if (res.headersSent) return;
  if (err.headers)
    for (const [name, value] of Object.entries(err.headers)) res.setHeader(name, value);
  const body: ProblemDetails = {
    type: 'about:blank',
    title: err.title,
    status: err.status,
    code: err.code,
    instance: pathOf(req),
  };
  if (err.detail !== undefined) body.detail = err.detail;
  const requestId = res.getHeader('x-request-id');
  if (typeof requestId === 'string') body.requestId = requestId;
  res.statusCode = err.status;
  res.setHeader('Content-Type', 'application/problem+json; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(JSON.stringify(body));
}

interface Throttle {
  blockedUntil(key: string): Promise<number | undefined>;
  /** Counts a failure; resolves the time the key is blocked until when this one tripped it. */
  fail(key: string): Promise<number | undefined>;
  close(): Promise<void>;
}

function createThrottle(
  options: AuthThrottleOptions,
  warner: Warner,
  logger: SecurityLogger | undefined,
): Throttle {
  const limit = options.limit ?? 10;
  if (!isPositiveInteger(limit)) fail('throttle.limit', 'a positive integer', limit);
  const windowMs = options.windowMs ?? 15 * 60_000;
  if (!isPositiveInteger(windowMs)) fail('throttle.windowMs', 'a positive integer of ms', windowMs);
  const blockMs = options.blockMs ?? windowMs;
  if (!isPositiveInteger(blockMs)) fail('throttle.blockMs', 'a positive integer of ms', blockMs);
  const timeoutMs = options.storeTimeoutMs ?? 100;
  if (!isPositiveInteger(timeoutMs))
    fail('throttle.storeTimeoutMs', 'a positive integer of ms', timeoutMs);
  const own = options.store === undefined || options.store === 'memory';
  const store: IpBlockStore = own ? memoryIpStore() : (options.store as IpBlockStore);
  if (
    typeof store?.hit !== 'function' ||
    typeof store.blocked !== 'function' ||
    typeof store.block !== 'function'
  )
    fail(
      'throttle.store',
      "'memory' or an IpBlockStore (memoryIpStore(), redisIpStore(client))",
      options.store,
    );
  const circuit = createCircuit(
    { label: 'auth throttle store', timeoutMs, failureThreshold: 3, cooldownMs: 2000 },
    {
      onClose: () => {
        warner.rearm('SHIPSHAPE_SECURITY_STORE_ERROR');
        logger?.info('@shipshape/security: auth throttle store is back');
      },
    },
  );
  // Throttling fails open: a store outage must not lock every user out.
  async function call<T>(fn: () => T | Promise<T>, fallback: T): Promise<T> {
    try {
      return await circuit.run(fn);
    } catch (error) {
      warner.warn(
        'SHIPSHAPE_SECURITY_STORE_ERROR',
        `auth throttle store failed (${error instanceof Error ? error.message : String(error)}); failed sign-ins are not counted until it is back`,
      );
      return fallback;
    }
  }
  return {
    async blockedUntil(key) {
      const block = await call(() => store.blocked(key), undefined);
      return block && block.until > Date.now() ? block.until : undefined;
    },
    async fail(key) {
      const count = await call(() => store.hit(key, windowMs), 0);
      if (count < limit) return undefined;
      await call(() => store.block(key, blockMs, 'auth-failures'), undefined);
      return Date.now() + blockMs;
    },
    async close() {
      if (own) await store.close?.();
    },
  };
}

/**
 * Authentication middleware: finds the request's credential (session cookie, API key, bearer
 * JWT…), verifies it with the source that recognises it, and records the principal for
 * `principalOf(req)` and `requireRole()`. Failures answer 401 problem+json, are written to the
 * security log, and are counted per client and per account (429 `AUTH_THROTTLED` past the limit,
 * fed to `ipFilter` for auto-blocking).
 */
export function authenticate(options: AuthenticateOptions): Authenticator {
  if (typeof options !== 'object' || options === null)
    fail('options', 'an object with "sources"', options);
  const warner = createWarner(options.logger, options.warnings);
  warnUnknownOptions(warner, 'authenticate', options, knownOptions);
  const logger = options.logger;
  const production = resolveProduction(options.production);
  const sessions = options.sessions;
  if (sessions !== undefined && typeof sessions?.create !== 'function')
    fail('sessions', 'a cookieSessions() instance', sessions);
  const given = options.sources;
  if (
    !Array.isArray(given) ||
    !given.every(
      (s) =>
        typeof s?.read === 'function' &&
        typeof s.verify === 'function' &&
        typeof s.name === 'string',
    )
  )
    fail(
      'sources',
      'an array of credential sources (apiKeys(), jwtBearer(), cookieSessions())',
      given,
    );
  const sources: readonly CredentialSource[] =
    sessions && !given.includes(sessions) ? [sessions, ...given] : [...given];
  if (sources.length === 0) fail('sources', 'a non-empty array', given);
  const byName = new Map(sources.map((s) => [s.name, s] as const));
  const optional = options.optional ?? false;
  if (typeof optional !== 'boolean') fail('optional', 'a boolean', optional);
  const realm = options.realm ?? 'api';
  if (typeof realm !== 'string' || !/^[\w .-]*$/.test(realm)) fail('realm', 'plain text', realm);
  const inheritance = options.roleInheritance ?? {};
  if (typeof inheritance !== 'object' || inheritance === null)
    fail('roleInheritance', 'an object { role: [included roles] }', inheritance);
  for (const [role, included] of Object.entries(inheritance))
    if (!Array.isArray(included) || !included.every((r) => typeof r === 'string'))
      fail(`roleInheritance.${role}`, 'an array of role names', included);
  const throttleOption = options.throttle ?? {};
  if (throttleOption !== false && (typeof throttleOption !== 'object' || throttleOption === null))
    fail('throttle', 'false or { limit, windowMs, blockMs, store }', throttleOption);
  const throttle =
    throttleOption === false ? undefined : createThrottle(throttleOption, warner, logger);
  const countForbidden = throttleOption !== false && (throttleOption.countForbidden ?? true);
  if (throttleOption === false && production)
    warner.warn(
      'SHIPSHAPE_SECURITY_AUTH_THROTTLE_OFF',
      'authenticate() in production with "throttle: false": credentials can be guessed without limit',
    );
  const ipFilter = options.ipFilter;
  if (ipFilter !== undefined && typeof ipFilter?.recordLimitHit !== 'function')
    fail('ipFilter', 'an object with recordLimitHit(ip) (an ipFilter())', ipFilter);
  const throttledEvents = createEventThrottle();

  const expanded = new Map<string, readonly string[]>();
  const expandRoles = (roles: readonly string[]): readonly string[] => {
    const cacheKey = roles.join('\n');
    const cached = expanded.get(cacheKey);
    if (cached) return cached;
    const out = new Set<string>();
    const queue = [...roles];
    for (let role = queue.shift(); role !== undefined; role = queue.shift()) {
      if (out.has(role)) continue;
      out.add(role);
      const more = Object.hasOwn(inheritance, role) ? inheritance[role] : undefined;
      if (more) queue.push(...more);
    }
    const result = Object.freeze([...out]);
    if (expanded.size >= 1000) expanded.clear();
    expanded.set(cacheKey, result);
    return result;
  };

  const principalFrom = (init: PrincipalInit, source: string): Principal => ({
    id: init.id,
    name: init.name ?? init.id,
    roles: expandRoles(init.roles),
    source,
    via: init.via,
    expiresAt: init.expiresAt,
  });

  const clientKey = (ip: string | undefined) =>
    `auth:client:${ip === undefined ? 'unknown' : ipKeyGenerator(ip, 56)}`;
  const accountKey = (account: string) => `auth:account:${account}`;

  const challenge = (error?: string): Record<string, string> => ({
    'WWW-Authenticate': `Bearer realm="${realm}"${error ? `, error="${error}"` : ''}`,
  });

  const throttled = (
    req: IncomingMessage,
    scope: 'client' | 'account',
    key: string,
    until: number,
  ): SecurityError => {
    const ip = clientAddress(req as Request);
    if (throttledEvents(`${scope}:${key}`))
      emitSecurityEvent(logger, 'auth_throttled', {
        scope,
        key,
        ip,
        until: new Date(until).toISOString(),
        path: pathOf(req),
      });
    if (scope === 'client' && ip !== undefined && ipFilter)
      void Promise.resolve()
        .then(() => ipFilter.recordLimitHit(ip))
        .catch(() => undefined);
    return new SecurityError({
      status: 429,
      code: 'AUTH_THROTTLED',
      detail: 'too many failed sign-in attempts; try again later',
      headers: { 'Retry-After': String(Math.max(1, Math.ceil((until - Date.now()) / 1000))) },
    });
  };

  const refusal = async (
    req: IncomingMessage,
    res: ServerResponse,
    source: CredentialSource,
    check: Extract<CredentialCheck, { ok: false }>,
  ): Promise<SecurityError> => {
    const ip = clientAddress(req as Request);
    if (check.unavailable) {
      logger?.warn('@shipshape/security: authentication backend unavailable', {
        source: source.name,
        reason: check.reason,
      });
      return new SecurityError({
        status: 503,
        code: 'AUTH_UNAVAILABLE',
        detail: 'credentials cannot be checked right now; retry shortly',
        headers: { 'Retry-After': '5' },
      });
    }
    emitSecurityEvent(logger, 'auth_failed', {
      source: source.name,
      reason: check.reason,
      account: check.account,
      ip,
      method: req.method,
      path: pathOf(req),
    });
    if (source === sessions && sessions) sessions.clearCookie(res);
    if (throttle && check.count !== false) {
      const [client, account] = await Promise.all([
        throttle.fail(clientKey(ip)),
        check.account !== undefined ? throttle.fail(accountKey(check.account)) : undefined,
      ]);
      if (client !== undefined) return throttled(req, 'client', clientKey(ip), client);
      if (account !== undefined && check.account !== undefined)
        return throttled(req, 'account', accountKey(check.account), account);
    }
    const code = check.code ?? 'AUTH_INVALID';
    const session = source === sessions;
    return new SecurityError({
      status: 401,
      code,
      detail:
        code === 'SESSION_EXPIRED'
          ? 'your session has ended; sign in again'
          : code === 'AUTH_EXPIRED'
            ? 'the credential has expired'
            : code === 'AUTH_REVOKED'
              ? 'the credential has been revoked'
              : 'the credential is not valid',
      headers: session ? {} : challenge('invalid_token'),
    });
  };

  /** Verifies `credential` with `candidates`; the shared path of requests and sign-ins. */
  const check = async (
    req: IncomingMessage,
    res: ServerResponse,
    credential: string,
    candidates: readonly CredentialSource[],
  ): Promise<Outcome> => {
    const ip = clientAddress(req as Request);
    if (throttle) {
      const until = await throttle.blockedUntil(clientKey(ip));
      if (until !== undefined)
        return { kind: 'refused', error: throttled(req, 'client', clientKey(ip), until) };
    }
    for (const source of candidates) {
      const result = await source.verify(credential, req);
      if (result === undefined) continue;
      if (!result.ok) return { kind: 'refused', error: await refusal(req, res, source, result) };
      const principal = principalFrom(result.principal, source.name);
      if (throttle) {
        const until = await throttle.blockedUntil(accountKey(principal.id));
        if (until !== undefined)
          return {
            kind: 'refused',
            error: throttled(req, 'account', accountKey(principal.id), until),
          };
      }
      // A session outlives nothing it was signed in with: a key revoked since ends it.
      const origin = principal.via !== undefined ? byName.get(principal.via) : undefined;
      if (source === sessions && origin?.active && !(await origin.active(principal.id))) {
        await sessions.destroy(req, res).catch(() => undefined);
        return {
          kind: 'refused',
          error: await refusal(req, res, source, {
            ok: false,
            reason: 'the credential this session was signed in with has been revoked',
            account: principal.id,
            code: 'AUTH_REVOKED',
          }),
        };
      }
      const sessionId = source === sessions ? sessions.sessionId(req) : undefined;
      return { kind: 'principal', principal, sessionId };
    }
    return {
      kind: 'refused',
      error: await refusal(req, res, candidates[0] ?? (sources[0] as CredentialSource), {
        ok: false,
        reason: 'credential of no known kind',
      }),
    };
  };

  const identify = async (req: IncomingMessage, res: ServerResponse): Promise<Outcome> => {
    for (let i = 0; i < sources.length; i++) {
      const source = sources[i] as CredentialSource;
      const credential = source.read(req);
      if (credential === undefined) continue;
      // Sources after this one that read the same credential (a bearer token is an API key or a JWT).
      const candidates = [source];
      for (const other of sources.slice(i + 1))
        if (other.read(req) === credential) candidates.push(other);
      return check(req, res, credential, candidates);
    }
    return { kind: 'anonymous' };
  };

  const authority: AuthorityHooks = {
    forbidden(req, res, principal, roles) {
      emitSecurityEvent(logger, 'auth_forbidden', {
        principal: principal.id,
        roles: principal.roles,
        required: roles,
        ip: clientAddress(req as Request),
        method: req.method,
        path: pathOf(req),
      });
      const answer = (until: number | undefined) =>
        writeProblem(
          req,
          res,
          until !== undefined
            ? throttled(req, 'account', accountKey(principal.id), until)
            : new SecurityError({
                status: 403,
                code: 'ROLE_REQUIRED',
                detail: `this needs the role ${roles.map((r) => `"${r}"`).join(' or ')}`,
              }),
        );
      if (throttle && countForbidden)
        throttle.fail(accountKey(principal.id)).then(answer, () => answer(undefined));
      else answer(undefined);
    },
  };

  const remember = (req: IncomingMessage, outcome: Outcome): AuthState => {
    const state: AuthState = {
      principal: outcome.kind === 'principal' ? outcome.principal : undefined,
      sessionId: outcome.kind === 'principal' ? outcome.sessionId : undefined,
      authority,
    };
    setAuthState(req, state);
    return state;
  };

  const required = () =>
    new SecurityError({
      status: 401,
      code: 'AUTH_REQUIRED',
      detail: 'sign in, or send an API key or bearer token',
      headers: challenge(),
    });

  const middleware = function authenticateMiddleware(
    req: Request,
    res: Response,
    next: NextFunction,
  ): void {
    identify(req, res).then((outcome) => {
      if (outcome.kind === 'refused') return writeProblem(req, res, outcome.error);
      if (outcome.kind === 'anonymous' && !optional) return writeProblem(req, res, required());
      remember(req, outcome);
      next();
    }, next);
  } as Authenticator;

  const rolesList = (roles: string | readonly string[], where: string): readonly string[] => {
    const list = typeof roles === 'string' ? [roles] : roles;
    if (
      !Array.isArray(list) ||
      list.length === 0 ||
      !list.every((r) => typeof r === 'string' && r !== '')
    )
      throw optionError(
        `@shipshape/security: ${where} needs one or more role names, got ${describeValue(roles)}`,
      );
    return list;
  };

  middleware.guard = (roles) => {
    const needed = rolesList(roles, 'authenticate().guard');
    return function authGuard(req, res, next) {
      identify(req, res).then((outcome) => {
        if (outcome.kind === 'refused') return writeProblem(req, res, outcome.error);
        if (outcome.kind === 'anonymous') return writeProblem(req, res, required());
        remember(req, outcome);
        if (!needed.some((r) => outcome.principal.roles.includes(r)))
          return authority.forbidden(req, res, outcome.principal, needed);
        next();
      }, next);
    };
  };

  middleware.signIn = async (req, res, credential) => {
    if (!sessions)
      throw new Error(
        '@shipshape/security: authenticate().signIn needs the "sessions" option (cookieSessions())',
      );
    const interactive = sources.filter((s) => s.interactive !== false);
    if (typeof credential !== 'string' || credential === '' || credential.length > 8192)
      throw await refusal(req, res, interactive[0] ?? (sources[0] as CredentialSource), {
        ok: false,
        reason: 'empty or oversized credential',
      });
    const outcome = await check(req, res, credential, interactive);
    if (outcome.kind === 'refused') throw outcome.error;
    if (outcome.kind !== 'principal') throw required();
    // Signing in again ends the session the browser had (a fresh id every time).
    if (sessions.hasCookie(req)) await sessions.destroy(req, res).catch(() => false);
    const sessionId = await sessions.create(req, res, outcome.principal);
    const principal: Principal = {
      ...outcome.principal,
      via: outcome.principal.source,
      source: sessions.name,
    };
    setAuthState(req, { principal, sessionId, authority });
    emitSecurityEvent(logger, 'signed_in', {
      principal: principal.id,
      roles: principal.roles,
      via: principal.via,
      ip: clientAddress(req as Request),
    });
    return principal;
  };

  middleware.signOut = async (req, res) => {
    if (!sessions) return false;
    const principal = authStateOf(req)?.principal;
    const ended = await sessions.destroy(req, res);
    if (ended)
      emitSecurityEvent(logger, 'signed_out', {
        principal: principal?.id,
        ip: clientAddress(req as Request),
      });
    return ended;
  };

  middleware.expandRoles = expandRoles;
  Object.defineProperty(middleware, 'sessions', { value: sessions, enumerable: true });
  middleware.close = async () => {
    await throttle?.close();
  };
  return middleware;
}

/**
 * Lets a request through when its principal holds at least one of `roles` (after inheritance):
 * 401 `AUTH_REQUIRED` for anonymous requests, 403 `ROLE_REQUIRED` (an `auth_forbidden` event,
 * counted as misuse) otherwise. Mount `authenticate()` before it.
 */
export function requireRole(...roles: (string | readonly string[])[]): RequestHandler {
  const needed = roles.flat();
  if (needed.length === 0 || !needed.every((r) => typeof r === 'string' && r !== ''))
    throw optionError(
      `@shipshape/security: requireRole needs one or more role names, got ${describeValue(roles)}`,
    );
  return function requireRoleMiddleware(req: Request, res: Response, next: NextFunction): void {
    const state = authStateOf(req);
    if (!state) {
      next(
        new Error(
          '@shipshape/security: requireRole() ran before authenticate(); mount authenticate() first',
        ),
      );
      return;
    }
    const principal = state.principal;
    if (!principal) {
      writeProblem(
        req,
        res,
        new SecurityError({
          status: 401,
          code: 'AUTH_REQUIRED',
          detail: 'sign in, or send an API key or bearer token',
          headers: { 'WWW-Authenticate': 'Bearer' },
        }),
      );
      return;
    }
    if (needed.some((r) => principal.roles.includes(r))) {
      next();
      return;
    }
    state.authority.forbidden(req, res, principal, needed);
  };
}

export interface AuditLogOptions {
  /** Where the events go (`logger.security(event, details)` when it has that channel). */
  readonly logger: SecurityLogger;
  /** What the route does, e.g. `download_isolates`. @default the method and route */
  readonly action?: string;
  /** Event name. @default 'data_access' */
  readonly event?: string;
  /** Extra fields (ids of what was accessed; never contents). */
  readonly details?: (req: Request, res: Response) => Record<string, unknown>;
}

/**
 * Writes one audit event per request once the response is finished (or the client went away):
 * the principal, its roles, the route template, the status and the duration.
 */
export function auditLog(options: AuditLogOptions): RequestHandler {
  if (typeof options?.logger?.warn !== 'function')
    throw optionError(
      `@shipshape/security: auditLog "logger" must be a logger with info, warn and error methods, got ${describeValue(options?.logger)}`,
    );
  warnUnknownOptions(createWarner(options.logger, undefined), 'auditLog', options, {
    logger: true,
    action: true,
    event: true,
    details: true,
  } satisfies { readonly [K in keyof Required<AuditLogOptions>]: true });
  const { logger, details } = options;
  const event = options.event ?? 'data_access';
  return function auditLogMiddleware(req: Request, res: Response, next: NextFunction): void {
    const route = `${req.baseUrl ?? ''}${typeof req.route?.path === 'string' ? req.route.path : ''}`;
    const started = Date.now();
    let done = false;
    const write = () => {
      if (done) return;
      done = true;
      const principal = principalOf(req);
      let extra: Record<string, unknown> = {};
      try {
        extra = details?.(req, res) ?? {};
      } catch {
        // An audit detail must not break the response.
      }
      emitSecurityEvent(logger, event, {
        action: options.action ?? `${req.method} ${route}`,
        principal: principal?.id ?? 'anonymous',
        roles: principal?.roles ?? [],
        method: req.method,
        route,
        status: res.headersSent ? res.statusCode : 499,
        aborted: !res.writableFinished,
        ip: clientAddress(req),
        durationMs: Date.now() - started,
        ...extra,
      });
    };
    res.once('finish', write);
    res.once('close', write);
    next();
  };
}

function principalOf(req: object): Principal | undefined {
  return authStateOf(req)?.principal;
}

export interface GuardHealthOptions {
  /** The `authenticate()` instance whose sources and throttle are used. */
  readonly authenticator: Authenticator;
  /** Roles allowed to read `/health/detailed`, `/health/history` and `/metrics`. @default 'admin' */
  readonly role?: string | readonly string[];
  /** Static tokens a scraper may send as `Authorization: Bearer <token>` for the metrics path only. @default [] */
  readonly scrapeTokens?: readonly string[];
  /** `'protected'` or `'open'` (anyone may scrape). @default 'protected' in production, 'open' otherwise */
  readonly metrics?: 'protected' | 'open';
  /** @default '/metrics' */
  readonly metricsPath?: string;
  /** @default process.env.NODE_ENV === 'production' */
  readonly production?: boolean;
  readonly logger?: SecurityLogger;
  readonly warnings?: WarningsOption;
}

/**
 * `authorize` and `authorizeMetrics` for `@shipshape/health`'s `router()` (any `(req, res, next)`
 * guard works): the detailed health and history need `role`; metrics need `role` or a scrape
 * token, unless left open — which production reports as `SHIPSHAPE_SECURITY_METRICS_OPEN`.
 */
export function guardHealth(options: GuardHealthOptions): {
  authorize: Guard;
  authorizeMetrics: boolean;
} {
  const warner = createWarner(options?.logger, options?.warnings);
  warnUnknownOptions(warner, 'guardHealth', options, {
    authenticator: true,
    role: true,
    scrapeTokens: true,
    metrics: true,
    metricsPath: true,
    production: true,
    logger: true,
    warnings: true,
  } satisfies { readonly [K in keyof Required<GuardHealthOptions>]: true });
  const authenticator = options?.authenticator;
  if (typeof authenticator?.guard !== 'function')
    throw optionError(
      `@shipshape/security: guardHealth "authenticator" must be an authenticate() instance, got ${describeValue(authenticator)}`,
    );
  const production = resolveProduction(options.production);
  const metrics = options.metrics ?? (production ? 'protected' : 'open');
  if (metrics !== 'protected' && metrics !== 'open')
    throw optionError(
      `@shipshape/security: guardHealth "metrics" must be 'protected' or 'open', got ${describeValue(metrics)}`,
    );
  const metricsPath = options.metricsPath ?? '/metrics';
  const scrapeTokens = options.scrapeTokens ?? [];
  if (!Array.isArray(scrapeTokens))
    throw optionError(
      `@shipshape/security: guardHealth "scrapeTokens" must be an array of strings of at least 16 characters, got ${describeValue(scrapeTokens)}`,
    );
  const tokens = scrapeTokens.map((token) => {
    if (typeof token !== 'string' || token.length < 16)
      throw optionError(
        '@shipshape/security: guardHealth "scrapeTokens" must be strings of at least 16 characters',
      );
    return createHash('sha256').update(`Bearer ${token}`).digest();
  });
  if (metrics === 'open' && production)
    warner.warn(
      'SHIPSHAPE_SECURITY_METRICS_OPEN',
      `guardHealth: ${metricsPath} is open to anyone who reaches the service in production; protect it with a scrape token or the admin role, or keep it unreachable from outside`,
    );
  const guard = authenticator.guard(options.role ?? 'admin');
  const authorize: Guard = function healthGuard(req, res, next) {
    const path = (req.url ?? '').split('?')[0];
    if (tokens.length > 0 && path === metricsPath) {
      const given = createHash('sha256')
        .update(req.headers.authorization ?? '')
        .digest();
      let ok = false;
      for (const token of tokens) if (timingSafeEqual(given, token)) ok = true;
      if (ok) {
        next();
        return;
      }
    }
    guard(req, res, next);
  };
  return { authorize, authorizeMetrics: metrics === 'protected' };
}
