import corsPackage from 'cors';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { describeValue, requestPath } from './edge.js';
import { optionError } from './options.js';
import { SecurityError, sendProblem } from './problem.js';
import { emitSecurityEvent, type SecurityLogger } from './types.js';
import { createWarner, type WarningsOption, warnUnknownOptions } from './warnings.js';

/** One allowed origin: exact or wildcard string (see `origins`), or a RegExp tested against it. */
export type CorsOriginEntry = string | RegExp;

/** What a `cors`-package origin function passes to its callback. */
export type CorsOriginDecision = boolean | CorsOriginEntry | readonly CorsOriginEntry[] | undefined;

/**
 * The `cors` package's origin function: decides per request, e.g. from a database. `origin` is
 * `undefined` for requests without an Origin header.
 */
export type CorsOriginFunction = (
  origin: string | undefined,
  callback: (err: Error | null, allow?: CorsOriginDecision) => void,
) => void;

export interface CorsOptions {
  /**
   * Allowed origins: exact (`https://app.example.com`, `http://localhost:5173`), wildcard
   * subdomains (`https://*.example.com`, or `*.example.com` for https only), RegExps tested against
   * the Origin header, or `'*'` (any origin, never with credentials).
   * @default [] (no cross-origin access)
   */
  readonly origins?: readonly CorsOriginEntry[] | '*';
  /**
   * The `cors` package's option, accepted as it is (instead of `origins`): an origin string or
   * `'*'`, a RegExp, an array of those, `true` (any origin, reflected), `false` (none), or a
   * function `(origin, callback)`.
   * @default not set (`origins` applies)
   */
  readonly origin?: boolean | CorsOriginEntry | readonly CorsOriginEntry[] | CorsOriginFunction;
  /** Send `Access-Control-Allow-Credentials: true`. Refused together with `'*'`. @default false */
  readonly credentials?: boolean;
  /** @default ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE'] */
  readonly methods?: readonly string[];
  /** Request headers a cross-origin caller may send. @default ['Content-Type', 'Authorization', 'X-CSRF-Token', 'X-Request-Id'] */
  readonly allowedHeaders?: readonly string[];
  /** Response headers scripts may read. @default ['X-Request-Id', 'RateLimit', 'RateLimit-Policy', 'Retry-After'] */
  readonly exposedHeaders?: readonly string[];
  /** Preflight cache lifetime in seconds. @default 600 */
  readonly maxAge?: number;
  /** Answer preflights from unlisted origins with 403 problem+json (else 204 without CORS headers). @default true */
  readonly rejectUnlistedPreflight?: boolean;
  /** Logger for `cors_rejected` events and warnings. @default none */
  readonly logger?: SecurityLogger;
  /** Switch coded warnings off (`false`) or some of them. @default true */
  readonly warnings?: WarningsOption;
}

const knownOptions: { readonly [K in keyof Required<CorsOptions>]: true } = {
  origins: true,
  origin: true,
  credentials: true,
  methods: true,
  allowedHeaders: true,
  exposedHeaders: true,
  maxAge: true,
  rejectUnlistedPreflight: true,
  logger: true,
  warnings: true,
};

interface OriginPattern {
  readonly kind: 'pattern';
  readonly scheme: string;
  /** Host suffix including the leading dot, or the exact host. */
  readonly host: string;
  readonly port: string;
  readonly wildcard: boolean;
}

interface OriginRegExp {
  readonly kind: 'regexp';
  readonly re: RegExp;
}

type OriginRule = OriginPattern | OriginRegExp;

function parseRule(entry: unknown, option: string): OriginRule {
  // A copy without the g/y flags: their lastIndex would make test() alternate between calls.
  if (entry instanceof RegExp)
    return { kind: 'regexp', re: new RegExp(entry.source, entry.flags.replace(/[gy]/g, '')) };
  return parsePattern(entry, option);
}

function parsePattern(entry: unknown, option: string): OriginPattern {
  const bad = () =>
    optionError(
      `@shipshape/security: cors "${option}" entries are origins like "https://app.example.com", patterns like "https://*.example.com" or RegExps, got ${describeValue(entry)}`,
    );
  if (typeof entry !== 'string' || entry.trim() === '') throw bad();
  const raw = entry.trim().toLowerCase();
  const withScheme = raw.includes('://') ? raw : `https://${raw}`;
  const wildcard = withScheme.includes('://*.');
  const probe = wildcard ? withScheme.replace('://*.', '://wildcard.') : withScheme;
  let url: URL;
  try {
    url = new URL(probe);
  } catch {
    throw bad();
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad();
  if (url.origin !== probe.replace(/\/$/, '') || url.username || url.password) throw bad();
  if (wildcard && url.hostname.split('.').length < 3) throw bad();
  const host = wildcard ? url.hostname.slice('wildcard'.length) : url.hostname;
  return { kind: 'pattern', scheme: url.protocol, host, port: url.port, wildcard };
}

function originMatches(origin: string, rules: readonly OriginRule[]): boolean {
  for (const rule of rules) if (rule.kind === 'regexp' && rule.re.test(origin)) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  // An Origin header is exactly scheme://host[:port]; anything else is not a browser origin.
  if (url.origin !== origin.toLowerCase() || url.origin === 'null') return false;
  for (const p of rules) {
    if (p.kind !== 'pattern') continue;
    if (url.protocol !== p.scheme || url.port !== p.port) continue;
    if (
      p.wildcard
        ? url.hostname.endsWith(p.host) && url.hostname.length > p.host.length
        : url.hostname === p.host
    )
      return true;
  }
  return false;
}

/** A `cors()` middleware. */
export type CorsMiddleware = RequestHandler;

/**
 * CORS with an explicit allowlist (the `cors` package underneath). `'*'` with credentials is
 * refused at startup; preflights from unlisted origins get 403.
 */
export function cors(options: CorsOptions = {}): CorsMiddleware {
  const warner = createWarner(options.logger, options.warnings);
  warnUnknownOptions(warner, 'cors', options, knownOptions);
  const fail = (option: string, want: string, got: unknown): never => {
    throw optionError(
      `@shipshape/security: cors "${option}" must be ${want}, got ${describeValue(got)}`,
    );
  };
  const credentials = options.credentials ?? false;
  if (typeof credentials !== 'boolean') fail('credentials', 'a boolean', credentials);
  if (options.origin !== undefined && options.origins !== undefined)
    throw optionError(
      '@shipshape/security: cors got "origin" (the cors package\'s name) and "origins"; keep one',
    );
  const originOption = options.origin !== undefined ? 'origin' : 'origins';
  const given: unknown = options.origin ?? options.origins ?? [];
  const decideFn = typeof given === 'function' ? (given as CorsOriginFunction) : undefined;
  let any = false;
  let explicitNone = false;
  let rules: readonly OriginRule[] = [];
  if (decideFn === undefined) {
    if (given === true || given === '*') any = true;
    else if (given === false) explicitNone = true;
    else if (typeof given === 'string' || given instanceof RegExp)
      rules = [parseRule(given, originOption)];
    else if (Array.isArray(given)) {
      any = given.includes('*');
      if (!any) rules = given.map((entry) => parseRule(entry, originOption));
    } else
      fail(
        originOption,
        originOption === 'origin'
          ? "an origin string or '*', a RegExp, an array of those, true, false or a function (origin, callback)"
          : "an array of origins (strings or RegExps) or '*'",
        given,
      );
  }
  if (any && credentials)
    throw optionError(
      `@shipshape/security: cors "${originOption}" ${given === true ? 'true' : "'*'"} with "credentials: true" would let every site make authenticated requests; list the trusted origins instead (e.g. ["https://app.example.com", "https://*.example.com"])`,
    );
  const list = (
    option: 'methods' | 'allowedHeaders' | 'exposedHeaders',
    fallback: readonly string[],
  ) => {
    const value = options[option] ?? fallback;
    if (
      !Array.isArray(value) ||
      !value.every((v) => typeof v === 'string' && /^[!#$%&'*+.^_`|~\w-]+$/.test(v))
    )
      fail(option, 'an array of header/method tokens', value);
    return [...value];
  };
  const methods = list('methods', ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE']);
  const allowedHeaders = list('allowedHeaders', [
    'Content-Type',
    'Authorization',
    'X-CSRF-Token',
    'X-Request-Id',
  ]);
  const exposedHeaders = list('exposedHeaders', [
    'X-Request-Id',
    'RateLimit',
    'RateLimit-Policy',
    'Retry-After',
  ]);
  const maxAge = options.maxAge ?? 600;
  if (!Number.isInteger(maxAge) || maxAge < 0)
    fail('maxAge', 'a non-negative integer of seconds', maxAge);
  const rejectPreflight = options.rejectUnlistedPreflight ?? true;
  if (typeof rejectPreflight !== 'boolean')
    fail('rejectUnlistedPreflight', 'a boolean', rejectPreflight);
  // Warned only once every option is known to be valid.
  if (!any && !explicitNone && decideFn === undefined && rules.length === 0)
    warner.warn(
      'SHIPSHAPE_SECURITY_CORS_NO_ORIGINS',
      'cors has no "origins"; every cross-origin request is refused',
    );
  const logger = options.logger;

  const allowed = (origin: string | undefined): boolean =>
    origin !== undefined && origin !== 'null' && (any || originMatches(origin, rules));

  const common = {
    credentials,
    methods,
    allowedHeaders,
    exposedHeaders,
    maxAge,
    optionsSuccessStatus: 204,
  };
  // The decision is ours; the cors package writes the headers (and answers preflights) for it.
  const allowAny = corsPackage({ ...common, origin: '*' });
  const allowThis = corsPackage({
    ...common,
    origin: (origin, callback) => callback(null, origin ?? false),
  });

  const reject = (req: Request, res: Response, origin: string, preflight: boolean): boolean => {
    emitSecurityEvent(logger, 'cors_rejected', {
      origin,
      preflight,
      method: req.method,
      path: requestPath(req),
    });
    if (!(preflight && rejectPreflight)) return false;
    res.vary('Origin');
    sendProblem(
      req,
      res,
      new SecurityError({
        status: 403,
        code: 'CORS_ORIGIN_NOT_ALLOWED',
        detail: `Origin ${JSON.stringify(origin.slice(0, 200))} is not allowed.`,
      }),
    );
    return true;
  };

  const isPreflight = (req: Request): boolean =>
    req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;

  if (decideFn !== undefined)
    return function corsMiddleware(req: Request, res: Response, next: NextFunction): void {
      const origin = req.headers.origin;
      if (origin === undefined) {
        next();
        return;
      }
      let settled = false;
      const decided = (err: Error | null, allow?: CorsOriginDecision): void => {
        if (settled) return;
        settled = true;
        if (err) {
          next(err);
          return;
        }
        let ok = false;
        try {
          ok = origin !== 'null' && decisionAllows(allow, origin);
        } catch (error) {
          next(error);
          return;
        }
        if (ok) {
          if (allow === '*' && !credentials) allowAny(req, res, next);
          else allowThis(req, res, next);
        } else if (!reject(req, res, origin, isPreflight(req))) next();
      };
      try {
        decideFn(origin, decided);
      } catch (error) {
        decided(error instanceof Error ? error : new Error(String(error)));
      }
    };

  return function corsMiddleware(req: Request, res: Response, next: NextFunction): void {
    const origin = req.headers.origin;
    if (any) {
      if (origin === 'null') {
        if (!reject(req, res, origin, isPreflight(req))) next();
      } else if (given === true && origin !== undefined) allowThis(req, res, next);
      else allowAny(req, res, next);
      return;
    }
    if (origin === undefined) {
      next();
      return;
    }
    if (allowed(origin)) allowThis(req, res, next);
    else if (!reject(req, res, origin, isPreflight(req))) next();
  };
}

/** What an origin function's answer means for this origin (as the cors package reads it). */
function decisionAllows(allow: CorsOriginDecision, origin: string): boolean {
  if (allow === true || allow === '*') return true;
  if (allow === false || allow === undefined || allow === null || allow === '') return false;
  const entries = Array.isArray(allow) ? allow : [allow];
  return originMatches(
    origin,
    entries.map((entry) => parseRule(entry, 'origin callback')),
  );
}
