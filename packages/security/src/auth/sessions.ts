import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { guardErrors } from '../connection.js';
import { describeValue, isPositiveInteger, resolveProduction } from '../edge.js';
import { optionError } from '../options.js';
import type { RedisCommandClient, SecurityLogger } from '../types.js';
import { createWarner, type WarningsOption, warnUnknownOptions } from '../warnings.js';
import type {
  CredentialCheck,
  CredentialSource,
  Principal,
  SessionRecord,
  SessionStore,
} from './types.js';

export interface CookieSessionsOptions {
  /** HMAC secret(s) signing the cookie, at least 32 characters; the first signs, all verify. */
  readonly secret: string | readonly string[];
  /** Where sessions live: `'memory'` (one process) or a shared store (`redisSessionStore`). @default 'memory' */
  readonly store?: 'memory' | SessionStore;
  /** @default '__Host-shipshape.sid' ('shipshape.sid' when not secure) */
  readonly cookieName?: string;
  /** Send the cookie over HTTPS only. @default production */
  readonly secure?: boolean;
  /** @default 'lax' */
  readonly sameSite?: 'lax' | 'strict';
  /** A session unused this long ends. @default 1800000 (30 minutes) */
  readonly idleTimeoutMs?: number;
  /** A session ends this long after sign-in, however active. @default 43200000 (12 hours) */
  readonly absoluteTimeoutMs?: number;
  /** How often the last-seen time is written back (bounds store writes). @default 60000 or idleTimeoutMs / 4 */
  readonly touchIntervalMs?: number;
  /** @default process.env.NODE_ENV === 'production' */
  readonly production?: boolean;
  readonly logger?: SecurityLogger;
  readonly warnings?: WarningsOption;
}

const knownOptions: { readonly [K in keyof Required<CookieSessionsOptions>]: true } = {
  secret: true,
  store: true,
  cookieName: true,
  secure: true,
  sameSite: true,
  idleTimeoutMs: true,
  absoluteTimeoutMs: true,
  touchIntervalMs: true,
  production: true,
  logger: true,
  warnings: true,
};

/** Browser sessions in a signed, HttpOnly cookie with server-side state. */
export interface CookieSessions extends CredentialSource {
  /** Starts a session for `principal` and sets the cookie; returns the session id. */
  create(req: IncomingMessage, res: ServerResponse, principal: Principal): Promise<string>;
  /** Ends the request's session on the server and clears the cookie; resolves whether one existed. */
  destroy(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /**
   * The session id of a correctly signed cookie, else `''`: the `sessionId` option of `csrf()`,
   * so its token is bound to the session.
   */
  sessionId(req: IncomingMessage): string;
  /** Whether the request carries a session cookie at all (signed or not). */
  hasCookie(req: IncomingMessage): boolean;
  /** Tells the browser to drop the cookie (an ended session). */
  clearCookie(res: ServerResponse): void;
  readonly cookieName: string;
  readonly idleTimeoutMs: number;
  readonly absoluteTimeoutMs: number;
  close(): Promise<void>;
}

/** Per-process session store; expired sessions are dropped on access and by size sweeps. */
export function memorySessionStore(): SessionStore {
  const sessions = new Map<string, { record: SessionRecord; until: number }>();
  const sweep = (now: number) => {
    for (const [k, v] of sessions) if (v.until <= now) sessions.delete(k);
  };
  return {
    get(key) {
      const entry = sessions.get(key);
      if (!entry) return undefined;
      if (entry.until <= Date.now()) {
        sessions.delete(key);
        return undefined;
      }
      return entry.record;
    },
    set(key, record, ttlMs) {
      const now = Date.now();
      if (sessions.size >= 10_000) sweep(now);
      sessions.set(key, { record, until: now + ttlMs });
    },
    delete(key) {
      sessions.delete(key);
    },
  };
}

export interface RedisSessionStoreOptions {
  /** @default 'shipshape:sess:' */
  readonly prefix?: string;
}

/** Sessions shared by every instance through Redis (`SET … PX`, `GET`, `DEL`). */
export function redisSessionStore(
  client: RedisCommandClient,
  options: RedisSessionStoreOptions = {},
): SessionStore {
  warnUnknownOptions(createWarner(undefined, undefined), 'redisSessionStore', options, {
    prefix: true,
  } satisfies { readonly [K in keyof Required<RedisSessionStoreOptions>]: true });
  if (!client || typeof client.sendCommand !== 'function')
    throw optionError(
      `@shipshape/security: redisSessionStore needs a client with sendCommand(args: string[]) (node-redis v4+), got ${describeValue(client)}`,
    );
  const prefix = options.prefix ?? 'shipshape:sess:';
  if (typeof prefix !== 'string')
    throw optionError(
      `@shipshape/security: redisSessionStore "prefix" must be a string, got ${describeValue(prefix)}`,
    );
  let release = guardErrors(client);
  return {
    async get(key) {
      const raw = await client.sendCommand(['GET', prefix + key]);
      if (raw === null || raw === undefined) return undefined;
      try {
        return JSON.parse(String(raw)) as SessionRecord;
      } catch {
        return undefined;
      }
    },
    async set(key, record, ttlMs) {
      await client.sendCommand([
        'SET',
        prefix + key,
        JSON.stringify(record),
        'PX',
        String(Math.max(1, Math.ceil(ttlMs))),
      ]);
    },
    async delete(key) {
      await client.sendCommand(['DEL', prefix + key]);
    },
    close() {
      release?.();
      release = undefined;
    },
  };
}

function parseCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

const storeKey = (sid: string) => createHash('sha256').update(sid).digest('base64url');

/**
 * Signed cookie sessions for browsers: a random 256-bit id in an HttpOnly cookie (Secure in
 * production, SameSite=Lax), HMAC-signed so forged ids are refused without a store lookup; the
 * principal, sign-in time and last activity live on the server, so logout and revocation take
 * effect at once. Idle and absolute timeouts are enforced on every request.
 */
export function cookieSessions(options: CookieSessionsOptions): CookieSessions {
  if (typeof options !== 'object' || options === null)
    throw optionError(
      `@shipshape/security: cookieSessions needs options with "secret", got ${describeValue(options)}`,
    );
  const warner = createWarner(options.logger, options.warnings);
  warnUnknownOptions(warner, 'cookieSessions', options, knownOptions);
  const fail = (option: string, want: string, got: unknown): never => {
    throw optionError(
      `@shipshape/security: cookieSessions "${option}" must be ${want}, got ${describeValue(got)}`,
    );
  };
  const secrets = typeof options.secret === 'string' ? [options.secret] : options.secret;
  if (
    !Array.isArray(secrets) ||
    secrets.length === 0 ||
    !secrets.every((s) => typeof s === 'string' && s.length >= 32)
  )
    throw optionError(
      `@shipshape/security: cookieSessions "secret" must be a string (or list of strings) of at least 32 random characters, got ${options.secret === undefined ? 'nothing' : 'a value that is too short or not a string'}`,
    );
  const production = resolveProduction(options.production);
  const secure = options.secure ?? production;
  if (typeof secure !== 'boolean') fail('secure', 'a boolean', secure);
  const sameSite = options.sameSite ?? 'lax';
  if (sameSite !== 'lax' && sameSite !== 'strict') fail('sameSite', "'lax' or 'strict'", sameSite);
  const cookieName = options.cookieName ?? (secure ? '__Host-shipshape.sid' : 'shipshape.sid');
  if (typeof cookieName !== 'string' || !/^[\w.!#$%&'*+^`|~-]+$/.test(cookieName))
    fail('cookieName', 'a cookie name', cookieName);
  if (cookieName.startsWith('__Host-') && !secure)
    fail('cookieName', "free of the '__Host-' prefix when the cookie is not Secure", cookieName);
  const idleTimeoutMs = options.idleTimeoutMs ?? 30 * 60_000;
  if (!isPositiveInteger(idleTimeoutMs))
    fail('idleTimeoutMs', 'a positive integer of ms', idleTimeoutMs);
  const absoluteTimeoutMs = options.absoluteTimeoutMs ?? 12 * 3_600_000;
  if (!isPositiveInteger(absoluteTimeoutMs) || absoluteTimeoutMs < idleTimeoutMs)
    fail(
      'absoluteTimeoutMs',
      'a positive integer of ms, at least idleTimeoutMs',
      absoluteTimeoutMs,
    );
  const touchIntervalMs =
    options.touchIntervalMs ?? Math.min(60_000, Math.floor(idleTimeoutMs / 4));
  if (!isPositiveInteger(touchIntervalMs) || touchIntervalMs > idleTimeoutMs)
    fail('touchIntervalMs', 'a positive integer of ms, at most idleTimeoutMs', touchIntervalMs);
  const store: SessionStore =
    options.store === undefined || options.store === 'memory'
      ? memorySessionStore()
      : options.store;
  if (
    typeof store?.get !== 'function' ||
    typeof store.set !== 'function' ||
    typeof store.delete !== 'function'
  )
    fail('store', "'memory' or a store with get, set and delete", options.store);
  if (production && !secure)
    warner.warn(
      'SHIPSHAPE_SECURITY_SESSION_COOKIE_INSECURE',
      'cookieSessions in production with "secure: false": the session cookie is also sent over plain HTTP',
    );

  const mac = (sid: string, secret: string) =>
    createHmac('sha256', secret).update(sid).digest('base64url');

  /** The session id of a correctly signed cookie value, or undefined. */
  const unsign = (value: string | undefined): string | undefined => {
    if (value === undefined) return undefined;
    const dot = value.indexOf('.');
    if (dot <= 0) return undefined;
    const sid = value.slice(0, dot);
    const given = Buffer.from(value.slice(dot + 1));
    let ok = false;
    for (const secret of secrets) {
      const expected = Buffer.from(mac(sid, secret));
      if (expected.length === given.length && timingSafeEqual(expected, given)) ok = true;
    }
    return ok ? sid : undefined;
  };

  const attributes = (maxAgeSec: number) =>
    `Path=/; HttpOnly; ${secure ? 'Secure; ' : ''}SameSite=${sameSite === 'lax' ? 'Lax' : 'Strict'}; Max-Age=${maxAgeSec}`;

  const appendCookie = (res: ServerResponse, cookie: string) => {
    const existing = res.getHeader('set-cookie');
    const list = Array.isArray(existing)
      ? existing.filter((c) => !c.startsWith(`${cookieName}=`))
      : typeof existing === 'string' && !existing.startsWith(`${cookieName}=`)
        ? [existing]
        : [];
    res.setHeader('set-cookie', [...list, cookie]);
  };

  const clear = (res: ServerResponse) => {
    if (!res.headersSent) appendCookie(res, `${cookieName}=; ${attributes(0)}`);
  };

  const sessions: CookieSessions = {
    name: 'session',
    interactive: false,
    cookieName,
    idleTimeoutMs,
    absoluteTimeoutMs,
    read: (req) => parseCookie(req.headers.cookie, cookieName),
    hasCookie: (req) => parseCookie(req.headers.cookie, cookieName) !== undefined,
    clearCookie: clear,
    sessionId: (req) => unsign(parseCookie(req.headers.cookie, cookieName)) ?? '',
    async verify(credential): Promise<CredentialCheck> {
      const sid = unsign(credential);
      if (sid === undefined) return { ok: false, reason: 'badly signed session cookie' };
      const key = storeKey(sid);
      let record: SessionRecord | undefined;
      try {
        record = await store.get(key);
      } catch (error) {
        return {
          ok: false,
          reason: `session store failed: ${error instanceof Error ? error.message : String(error)}`,
          count: false,
          unavailable: true,
        };
      }
      const now = Date.now();
      const expired = (reason: string): CredentialCheck => ({
        ok: false,
        reason,
        count: false,
        code: 'SESSION_EXPIRED',
        ...(record ? { account: record.principal.id } : {}),
      });
      if (!record) return expired('session ended or unknown');
      if (now >= record.expiresAt) {
        await Promise.resolve(store.delete(key)).catch(() => undefined);
        return expired('session reached its absolute timeout');
      }
      if (now - record.lastSeenAt >= idleTimeoutMs) {
        await Promise.resolve(store.delete(key)).catch(() => undefined);
        return expired('session idle too long');
      }
      if (now - record.lastSeenAt >= touchIntervalMs) {
        const touched: SessionRecord = { ...record, lastSeenAt: now };
        const ttl = Math.min(idleTimeoutMs, record.expiresAt - now);
        await Promise.resolve(store.set(key, touched, ttl)).catch(() => undefined);
      }
      return {
        ok: true,
        principal: {
          id: record.principal.id,
          name: record.principal.name,
          roles: record.principal.roles,
          via: record.principal.via,
          expiresAt: record.expiresAt,
        },
      };
    },
    async create(_req, res, principal) {
      const sid = randomBytes(32).toString('base64url');
      const now = Date.now();
      const expiresAt = Math.min(
        now + absoluteTimeoutMs,
        principal.expiresAt ?? Number.POSITIVE_INFINITY,
      );
      const record: SessionRecord = {
        principal: {
          id: principal.id,
          name: principal.name,
          roles: [...principal.roles],
          via: principal.via ?? principal.source,
        },
        createdAt: now,
        lastSeenAt: now,
        expiresAt,
      };
      await store.set(storeKey(sid), record, Math.min(idleTimeoutMs, expiresAt - now));
      appendCookie(
        res,
        `${cookieName}=${sid}.${mac(sid, secrets[0] as string)}; ${attributes(Math.ceil((expiresAt - now) / 1000))}`,
      );
      return sid;
    },
    async destroy(req, res) {
      const sid = unsign(parseCookie(req.headers.cookie, cookieName));
      clear(res);
      if (sid === undefined) return false;
      const key = storeKey(sid);
      const existed = (await store.get(key)) !== undefined;
      await store.delete(key);
      return existed;
    },
    async close() {
      await store.close?.();
    },
  };
  return sessions;
}
