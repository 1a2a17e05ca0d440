import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { type CsrfTokenGeneratorRequestUtil, doubleCsrf } from 'csrf-csrf';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { describeValue, requestPath } from './edge.js';
import { optionError } from './options.js';
import { SecurityError, sendProblem } from './problem.js';
import { effectiveHost } from './trusted-hosts.js';
import { emitSecurityEvent, type SecurityLogger } from './types.js';
import { createWarner, type WarningsOption, warnUnknownOptions } from './warnings.js';

export interface CsrfCookieOptions {
  /** @default true (required by the `__Host-` prefix; with false the prefix is dropped) */
  readonly secure?: boolean;
  /** @default 'strict' */
  readonly sameSite?: 'strict' | 'lax';
  /** @default '/' */
  readonly path?: string;
}

export interface CsrfOptions {
  /** Origins allowed to make cross-origin unsafe requests, e.g. `https://sso.example.com`. @default [] */
  readonly trustedOrigins?: readonly string[];
  /**
   * Also require a signed double-submit token (csrf-csrf): `'fallback'` when the request carries
   * neither Sec-Fetch-Site nor Origin (old browsers, and non-browser clients), `'always'` for
   * every unsafe request; `false` for header checks only.
   * @default false
   */
  readonly token?: false | 'fallback' | 'always';
  /** HMAC secret(s) for tokens, at least 32 characters; the first signs, all verify (rotation). Required with `token`. */
  readonly secret?: string | readonly string[];
  /** The session the token is bound to (a stable, non-empty id per user session). Required with `token`. */
  readonly sessionId?: (req: Request) => string;
  /** Token cookie name. @default '__Host-shipshape.x-csrf-token' ('shipshape.x-csrf-token' when cookie.secure is false) */
  readonly cookieName?: string;
  /** Token cookie attributes (always HttpOnly). @default { secure: true, sameSite: 'strict', path: '/' } */
  readonly cookie?: CsrfCookieOptions;
  /** Request header carrying the token. @default 'x-csrf-token' */
  readonly headerName?: string;
  /** Parsed-body field carrying the token for HTML forms (never the query string). @default '_csrf' */
  readonly bodyField?: string;
  /** Log rejections as `csrf_rejected` events but let requests through (rollout). @default false */
  readonly reportOnly?: boolean;
  /** X-Forwarded-Host use when comparing Origin with the host. @default 'trusted' */
  readonly forwardedHost?: 'trusted' | boolean;
  /** Requests exempt from checks (e.g. webhooks authenticated otherwise). @default none */
  readonly skip?: (req: Request) => boolean;
  /** Logger for `csrf_rejected` events and warnings. @default none */
  readonly logger?: SecurityLogger;
  /** Switch coded warnings off (`false`) or some of them. @default true */
  readonly warnings?: WarningsOption;
}

const knownOptions: { readonly [K in keyof Required<CsrfOptions>]: true } = {
  trustedOrigins: true,
  token: true,
  secret: true,
  sessionId: true,
  cookieName: true,
  cookie: true,
  headerName: true,
  bodyField: true,
  reportOnly: true,
  forwardedHost: true,
  skip: true,
  logger: true,
  warnings: true,
};

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

type Verdict =
  | { readonly ok: true; readonly browser: boolean }
  | { readonly ok: false; readonly reason: string };

function normalizeOrigin(value: string): string | undefined {
  try {
    const url = new URL(value);
    if (url.username || url.password) return undefined;
    if (url.origin === 'null') return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}

function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    const name = part.slice(0, eq).trim();
    if (name === '' || name in out) continue;
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    try {
      out[name] = decodeURIComponent(value);
    } catch {
      out[name] = value;
    }
  }
  return out;
}

/**
 * csrf-csrf reads `req.cookies`. Without cookie-parser, hand it a view of the request with the
 * cookies parsed instead of setting `req.cookies`: a cookie-parser mounted later would see the
 * property and skip its own parsing (and signed cookies).
 */
function cookieView(req: Request): Request {
  const existing = (req as Request & { cookies?: unknown }).cookies;
  if (existing !== null && typeof existing === 'object') return req;
  const view = Object.create(req) as Request & { cookies: Record<string, string> };
  view.cookies = parseCookies(req.headers.cookie);
  return view;
}

function digestEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db) && a.length === b.length;
}

/**
 * `req.csrfToken(options?)` set by `csrf({ token })`: issues (or reuses) the signed token and sets
 * its cookie. Referencing csrf-csrf's type here makes its `Request` augmentation visible to users.
 */
export type CsrfTokenFunction = CsrfTokenGeneratorRequestUtil;

/** A `csrf()` middleware. */
export type CsrfMiddleware = RequestHandler;

/**
 * Cross-site request forgery protection with the algorithm of Go 1.25's
 * `http.CrossOriginProtection` (Sec-Fetch-Site, then Origin vs Host), optionally backed by a
 * signed, session-bound double-submit token (csrf-csrf).
 */
export function csrf(options: CsrfOptions = {}): CsrfMiddleware {
  const warner = createWarner(options.logger, options.warnings);
  warnUnknownOptions(warner, 'csrf', options, knownOptions);
  const fail = (option: string, want: string, got: unknown): never => {
    throw optionError(
      `@shipshape/security: csrf "${option}" must be ${want}, got ${describeValue(got)}`,
    );
  };
  const trustedList = options.trustedOrigins ?? [];
  if (!Array.isArray(trustedList)) fail('trustedOrigins', 'an array of origins', trustedList);
  const trusted = new Set<string>();
  for (const entry of trustedList) {
    const origin = typeof entry === 'string' ? normalizeOrigin(entry) : undefined;
    if (origin === undefined || (entry as string).replace(/\/$/, '').toLowerCase() !== origin)
      fail(
        'trustedOrigins',
        'origins like "https://sso.example.com" (scheme://host[:port], no path)',
        entry,
      );
    trusted.add(origin as string);
  }
  const tokenMode = options.token ?? false;
  if (tokenMode !== false && tokenMode !== 'fallback' && tokenMode !== 'always')
    fail('token', "false, 'fallback' or 'always'", tokenMode);
  const reportOnly = options.reportOnly ?? false;
  if (typeof reportOnly !== 'boolean') fail('reportOnly', 'a boolean', reportOnly);
  if (options.skip !== undefined && typeof options.skip !== 'function')
    fail('skip', 'a function', options.skip);
  const forwarded = options.forwardedHost ?? 'trusted';
  if (forwarded !== 'trusted' && typeof forwarded !== 'boolean')
    fail('forwardedHost', "'trusted', true or false", forwarded);
  const headerNameOption = options.headerName ?? 'x-csrf-token';
  if (typeof headerNameOption !== 'string' || !/^[A-Za-z0-9-]+$/.test(headerNameOption))
    fail('headerName', 'a header name', options.headerName);
  const headerName = headerNameOption.toLowerCase();
  const bodyField = options.bodyField ?? '_csrf';
  if (typeof bodyField !== 'string' || bodyField === '')
    fail('bodyField', 'a non-empty string', bodyField);
  const logger = options.logger;
  const skip = options.skip;
  if (reportOnly)
    warner.warn(
      'SHIPSHAPE_SECURITY_CSRF_REPORT_ONLY',
      'csrf runs in reportOnly mode: forged requests are logged as csrf_rejected but NOT blocked',
    );

  let token:
    | {
        readonly cookieName: string;
        readonly secrets: readonly string[];
        readonly sessionId: (req: Request) => string;
        readonly lib: ReturnType<typeof doubleCsrf>;
      }
    | undefined;

  const tokenFromRequest = (req: Request): string | undefined => {
    const header = req.headers[headerName];
    if (typeof header === 'string') return header;
    if (header !== undefined) return undefined;
    const body = req.body as unknown;
    if (body && typeof body === 'object' && !Array.isArray(body)) {
      const value = Object.hasOwn(body, bodyField)
        ? (body as Record<string, unknown>)[bodyField]
        : undefined;
      if (typeof value === 'string') return value;
    }
    return undefined;
  };

  if (tokenMode !== false) {
    const secretOption = options.secret;
    const secrets = typeof secretOption === 'string' ? [secretOption] : secretOption;
    if (
      !Array.isArray(secrets) ||
      secrets.length === 0 ||
      !secrets.every((s) => typeof s === 'string' && s.length >= 32)
    )
      throw optionError(
        `@shipshape/security: csrf "secret" must be a string (or list of strings) of at least 32 random characters when "token" is '${tokenMode}', got ${secretOption === undefined ? 'nothing' : 'a value that is too short or not a string'}`,
      );
    if (typeof options.sessionId !== 'function')
      fail(
        'sessionId',
        'a function (req) => session id string when "token" is set',
        options.sessionId,
      );
    const cookie = options.cookie ?? {};
    if (typeof cookie !== 'object' || cookie === null)
      fail('cookie', '{ secure?, sameSite?, path? }', cookie);
    const secure = cookie.secure ?? true;
    const sameSite = cookie.sameSite ?? 'strict';
    if (sameSite !== 'strict' && sameSite !== 'lax')
      fail('cookie.sameSite', "'strict' or 'lax'", sameSite);
    const cookieName =
      options.cookieName ?? (secure ? '__Host-shipshape.x-csrf-token' : 'shipshape.x-csrf-token');
    if (typeof cookieName !== 'string' || !/^[\w.!#$%&'*+^`|~-]+$/.test(cookieName))
      fail('cookieName', 'a cookie name', cookieName);
    if (cookieName.startsWith('__Host-') && (!secure || (cookie.path ?? '/') !== '/'))
      fail(
        'cookieName',
        "free of the '__Host-' prefix when the cookie is not Secure with path '/'",
        cookieName,
      );
    const sessionId = options.sessionId as (req: Request) => string;
    const lib = doubleCsrf({
      getSecret: () => [...(secrets as readonly string[])],
      getSessionIdentifier: (req) => {
        const id = sessionId(req);
        if (typeof id !== 'string' || id === '')
          throw new Error(
            '@shipshape/security: csrf "sessionId" returned no session id for this request',
          );
        return id;
      },
      cookieName,
      cookieOptions: { secure, sameSite, path: cookie.path ?? '/', httpOnly: true },
      getCsrfTokenFromRequest: (req) => tokenFromRequest(req),
      size: 32,
    });
    token = { cookieName, secrets: secrets as readonly string[], sessionId, lib };
  }

  /** Constant-time check of the double-submit token; csrf-csrf's own check runs only after it passed. */
  const validToken = (req: Request): boolean => {
    if (!token) return false;
    const view = cookieView(req);
    const fromCookie = (view as Request & { cookies: Record<string, unknown> }).cookies[
      token.cookieName
    ];
    const fromRequest = tokenFromRequest(req);
    if (typeof fromCookie !== 'string' || typeof fromRequest !== 'string') return false;
    if (fromCookie === '' || !digestEqual(fromCookie, fromRequest)) return false;
    const [mac, random, extra] = fromCookie.split('.');
    if (!mac || !random || extra !== undefined) return false;
    let sid: string;
    try {
      sid = token.sessionId(req);
    } catch {
      return false;
    }
    if (typeof sid !== 'string' || sid === '') return false;
    const message = [sid.length, sid, random.length, random].join('!');
    const received = Buffer.from(mac, 'utf8');
    let ok = false;
    for (const secret of token.secrets) {
      const expected = Buffer.from(
        createHmac('sha256', secret).update(message).digest('hex'),
        'utf8',
      );
      if (expected.length === received.length && timingSafeEqual(expected, received)) ok = true;
    }
    if (!ok) return false;
    try {
      return token.lib.validateRequest(view);
    } catch {
      return false;
    }
  };

  const check = (req: Request): Verdict => {
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== '') {
      if (site === 'same-origin' || site === 'none') return { ok: true, browser: true };
      const origin =
        typeof req.headers.origin === 'string' ? normalizeOrigin(req.headers.origin) : undefined;
      if (origin !== undefined && trusted.has(origin)) return { ok: true, browser: true };
      return { ok: false, reason: `Sec-Fetch-Site: ${String(site).slice(0, 40)}` };
    }
    const rawOrigin = req.headers.origin;
    if (rawOrigin === undefined || rawOrigin === '') return { ok: true, browser: false };
    if (rawOrigin === 'null') return { ok: false, reason: 'Origin: null' };
    let url: URL;
    try {
      url = new URL(rawOrigin);
    } catch {
      return { ok: false, reason: 'malformed Origin' };
    }
    if (url.username || url.password) return { ok: false, reason: 'Origin with userinfo' };
    const host = effectiveHost(req, forwarded)?.toLowerCase();
    if (host !== undefined && url.host === host) return { ok: true, browser: true };
    if (trusted.has(url.origin)) return { ok: true, browser: true };
    return { ok: false, reason: 'Origin does not match Host' };
  };

  const reject = (
    req: Request,
    res: Response,
    next: NextFunction,
    code: string,
    reason: string,
    detail: string,
  ) => {
    emitSecurityEvent(logger, 'csrf_rejected', {
      code,
      reason,
      reportOnly,
      method: req.method,
      path: requestPath(req),
      origin: typeof req.headers.origin === 'string' ? req.headers.origin.slice(0, 200) : undefined,
      secFetchSite: req.headers['sec-fetch-site'],
    });
    if (reportOnly) {
      next();
      return;
    }
    sendProblem(req, res, new SecurityError({ status: 403, code, detail }));
  };

  return function csrfMiddleware(req: Request, res: Response, next: NextFunction): void {
    res.vary('Sec-Fetch-Site');
    res.vary('Origin');
    if (token) {
      const lib = token.lib;
      req.csrfToken = (generateOptions) =>
        lib.generateCsrfToken(cookieView(req), res, generateOptions);
    }
    if (SAFE_METHODS.has(req.method) || skip?.(req)) {
      next();
      return;
    }
    const verdict = check(req);
    if (!verdict.ok) {
      reject(
        req,
        res,
        next,
        'CROSS_ORIGIN_REQUEST',
        verdict.reason,
        'Cross-origin request refused.',
      );
      return;
    }
    const needsToken = token !== undefined && (tokenMode === 'always' || !verdict.browser);
    if (needsToken && !validToken(req)) {
      reject(
        req,
        res,
        next,
        'EBADCSRFTOKEN',
        'invalid or missing CSRF token',
        'Invalid or missing CSRF token.',
      );
      return;
    }
    next();
  };
}
