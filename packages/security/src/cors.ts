import corsPackage from 'cors';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { describeValue, requestPath } from './edge.js';
import { SecurityError, sendProblem } from './problem.js';
import { emitSecurityEvent, type SecurityLogger } from './types.js';
import { createWarner, type WarningsOption, warnUnknownOptions } from './warnings.js';

export interface CorsOptions {
  /**
   * Allowed origins: exact (`https://app.example.com`, `http://localhost:5173`), wildcard
   * subdomains (`https://*.example.com`, or `*.example.com` for https only), or `'*'` (any
   * origin, never with credentials).
   * @default [] (no cross-origin access)
   */
  readonly origins?: readonly string[] | '*';
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
  readonly scheme: string;
  /** Host suffix including the leading dot, or the exact host. */
  readonly host: string;
  readonly port: string;
  readonly wildcard: boolean;
}

function parsePattern(entry: unknown): OriginPattern {
  const bad = () =>
    new Error(
      `@shipshape/security: cors "origins" entries are origins like "https://app.example.com" or patterns like "https://*.example.com", got ${describeValue(entry)}`,
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
  return { scheme: url.protocol, host, port: url.port, wildcard };
}

function originMatches(origin: string, patterns: readonly OriginPattern[]): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  // An Origin header is exactly scheme://host[:port]; anything else is not a browser origin.
  if (url.origin !== origin.toLowerCase() || url.origin === 'null') return false;
  for (const p of patterns) {
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
    throw new Error(
      `@shipshape/security: cors "${option}" must be ${want}, got ${describeValue(got)}`,
    );
  };
  const credentials = options.credentials ?? false;
  if (typeof credentials !== 'boolean') fail('credentials', 'a boolean', credentials);
  const origins = options.origins ?? [];
  const any = origins === '*' || (Array.isArray(origins) && origins.includes('*'));
  if (any && credentials)
    throw new Error(
      '@shipshape/security: cors "origins" \'*\' with "credentials: true" would let every site make authenticated requests; list the trusted origins instead (e.g. ["https://app.example.com", "https://*.example.com"])',
    );
  if (!any && !Array.isArray(origins)) fail('origins', "an array of origins or '*'", origins);
  const patterns = any ? [] : (origins as readonly string[]).map(parsePattern);
  if (!any && patterns.length === 0)
    warner.warn(
      'SHIPSHAPE_SECURITY_CORS_NO_ORIGINS',
      'cors has no "origins"; every cross-origin request is refused',
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
  const logger = options.logger;

  const allowed = (origin: string | undefined): boolean =>
    origin !== undefined && origin !== 'null' && (any || originMatches(origin, patterns));

  const handler = corsPackage({
    origin: (origin, callback) => callback(null, any ? '*' : allowed(origin) ? origin : false),
    credentials,
    methods,
    allowedHeaders,
    exposedHeaders,
    maxAge,
    optionsSuccessStatus: 204,
  });

  return function corsMiddleware(req: Request, res: Response, next: NextFunction): void {
    const origin = req.headers.origin;
    const preflight =
      req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
    if (origin !== undefined && !allowed(origin)) {
      emitSecurityEvent(logger, 'cors_rejected', {
        origin,
        preflight,
        method: req.method,
        path: requestPath(req),
      });
      if (preflight && rejectPreflight) {
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
        return;
      }
    }
    handler(req, res, next);
  };
}
