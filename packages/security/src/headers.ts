import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet, { contentSecurityPolicy, type HelmetOptions } from 'helmet';
import { describeValue, resolveProduction } from './edge.js';
import {
  type HeaderMiddleware,
  type ReplayStep,
  recordHeaders,
  replayHeaders,
} from './header-replay.js';
import type { SecurityLogger } from './types.js';
import { createWarner, type WarningsOption, warnUnknownOptions } from './warnings.js';

/** CSP directives: kebab-case or camelCase names to source lists (`null` drops a default). */
export type CspDirectives = Readonly<Record<string, readonly string[] | null>>;

export interface HstsOptions {
  /** @default 31536000 (one year) */
  readonly maxAge?: number;
  /** @default true */
  readonly includeSubDomains?: boolean;
  /** @default false */
  readonly preload?: boolean;
}

export interface SecurityHeadersOptions {
  /**
   * `'api'`: the OWASP REST Security header set; helmet's headers that only matter to HTML in old
   * browsers (`X-XSS-Protection`, `X-Download-Options`, `X-DNS-Prefetch-Control`,
   * `X-Permitted-Cross-Domain-Policies`, `Origin-Agent-Cluster`) are not sent. `helmet` options
   * given explicitly still win.
   * @default 'default' (every header helmet sends by default)
   */
  readonly profile?: 'default' | 'api';
  /**
   * Production mode: HSTS on every response (not only secure ones).
   * @default process.env.NODE_ENV === 'production' (read when the factory is called)
   */
  readonly production?: boolean;
  /**
   * Content-Security-Policy directives, or `false` for none.
   * @default API policy `default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`
   * (with `cspNonce`: an HTML policy with the nonce in script-src and style-src)
   */
  readonly contentSecurityPolicy?: false | CspDirectives;
  /** Send CSP as `Content-Security-Policy-Report-Only`. @default false */
  readonly cspReportOnly?: boolean;
  /**
   * Generate a nonce per request in `res.locals.cspNonce` and add `'nonce-…'` to script-src and
   * style-src.
   * @default false
   */
  readonly cspNonce?: boolean;
  /**
   * Permissions-Policy features merged over the deny-all default (`camera: ['self']` →
   * `camera=(self)`; `[]` denies; `['*']` allows all); `false` omits the header.
   * @default every listed powerful feature denied
   */
  readonly permissionsPolicy?: false | Readonly<Record<string, readonly string[]>>;
  /**
   * Cache-Control value set before the route runs; a route opts out by setting its own
   * (`res.set('Cache-Control', 'public, max-age=60')`) or through `cacheControlSkip`.
   * @default 'no-store'
   */
  readonly cacheControl?: string | false;
  /** Requests for which Cache-Control is left alone (e.g. static assets). @default none */
  readonly cacheControlSkip?: (req: Request) => boolean;
  /** Strict-Transport-Security, sent in production or on secure requests; `false` never. @default {} */
  readonly hsts?: false | HstsOptions;
  /** Extra helmet options for the headers not covered above. @default API defaults */
  readonly helmet?: Omit<
    HelmetOptions,
    'contentSecurityPolicy' | 'strictTransportSecurity' | 'hsts'
  >;
  /** Receives coded warnings. @default process.emitWarning */
  readonly logger?: SecurityLogger;
  /** Switch coded warnings off (`false`) or some of them (a list of codes). @default true */
  readonly warnings?: WarningsOption;
}

const knownOptions: { readonly [K in keyof Required<SecurityHeadersOptions>]: true } = {
  profile: true,
  production: true,
  contentSecurityPolicy: true,
  cspReportOnly: true,
  cspNonce: true,
  permissionsPolicy: true,
  cacheControl: true,
  cacheControlSkip: true,
  hsts: true,
  helmet: true,
  logger: true,
  warnings: true,
};

/** Features denied by default: everything a JSON API never needs. */
export const DEFAULT_PERMISSIONS_POLICY: Readonly<Record<string, readonly string[]>> = {
  accelerometer: [],
  'ambient-light-sensor': [],
  autoplay: [],
  battery: [],
  bluetooth: [],
  camera: [],
  'display-capture': [],
  'document-domain': [],
  'encrypted-media': [],
  fullscreen: [],
  geolocation: [],
  gyroscope: [],
  hid: [],
  'idle-detection': [],
  magnetometer: [],
  microphone: [],
  midi: [],
  payment: [],
  'picture-in-picture': [],
  'publickey-credentials-get': [],
  'screen-wake-lock': [],
  serial: [],
  'sync-xhr': [],
  usb: [],
  'web-share': [],
  'xr-spatial-tracking': [],
};

/**
 * helmet headers left out by the `api` profile (not in the OWASP REST Security header list), with
 * helmet's legacy alias of each option (a caller's option under either name wins).
 */
const API_PROFILE: readonly (readonly [option: string, alias: string | undefined])[] = [
  ['xXssProtection', 'xssFilter'],
  ['xDownloadOptions', 'ieNoOpen'],
  ['xDnsPrefetchControl', 'dnsPrefetchControl'],
  ['xPermittedCrossDomainPolicies', 'permittedCrossDomainPolicies'],
  ['originAgentCluster', undefined],
];

function apiProfile(given: object | undefined): Record<string, false> {
  const off: Record<string, false> = {};
  for (const [option, alias] of API_PROFILE)
    if (!(given && (option in given || (alias !== undefined && alias in given))))
      off[option] = false;
  return off;
}

const API_CSP: CspDirectives = {
  'default-src': ["'none'"],
  'base-uri': ["'none'"],
  'form-action': ["'none'"],
  'frame-ancestors': ["'none'"],
};

const HTML_CSP: CspDirectives = {
  'default-src': ["'self'"],
  'base-uri': ["'self'"],
  'font-src': ["'self'", 'https:', 'data:'],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
  'img-src': ["'self'", 'data:'],
  'object-src': ["'none'"],
  'script-src': ["'self'"],
  'script-src-attr': ["'none'"],
  'style-src': ["'self'"],
};

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function permissionsPolicyHeader(features: Readonly<Record<string, readonly string[]>>): string {
  const parts: string[] = [];
  for (const [feature, allow] of Object.entries(features)) {
    if (!/^[a-z][a-z0-9-]*$/.test(feature))
      throw new Error(
        `@shipshape/security: securityHeaders "permissionsPolicy" feature names are lowercase words with dashes, got ${JSON.stringify(feature)}`,
      );
    if (!Array.isArray(allow))
      throw new Error(
        `@shipshape/security: securityHeaders "permissionsPolicy.${feature}" must be an array of allowlist entries ('self', '*' or origins), got ${describeValue(allow)}`,
      );
    if (allow.includes('*')) {
      parts.push(`${feature}=*`);
      continue;
    }
    const items = allow.map((entry) => {
      if (entry === 'self' || entry === "'self'") return 'self';
      if (entry === 'src' || entry === "'src'") return 'src';
      let origin: string;
      try {
        origin = new URL(entry).origin;
      } catch {
        origin = 'null';
      }
      if (origin === 'null')
        throw new Error(
          `@shipshape/security: securityHeaders "permissionsPolicy.${feature}" entries are 'self', '*' or an origin like "https://example.com", got ${JSON.stringify(entry)}`,
        );
      return `"${origin}"`;
    });
    parts.push(`${feature}=(${items.join(' ')})`);
  }
  return parts.join(', ');
}

/** A `securityHeaders()` middleware. */
export type SecurityHeadersMiddleware = RequestHandler;

/**
 * helmet with API defaults plus Permissions-Policy, Cache-Control `no-store`, HSTS only where it
 * is meaningful and an optional per-request CSP nonce. Mount it first so every response —
 * including errors produced by later middleware — carries the same headers.
 */
export function securityHeaders(options: SecurityHeadersOptions = {}): SecurityHeadersMiddleware {
  const warner = createWarner(options.logger, options.warnings);
  warnUnknownOptions(warner, 'securityHeaders', options, knownOptions);
  const production = resolveProduction(options.production);
  const cspNonce = options.cspNonce ?? false;

  const cacheControl = options.cacheControl ?? 'no-store';
  if (cacheControl !== false && (typeof cacheControl !== 'string' || cacheControl.trim() === ''))
    throw new Error(
      `@shipshape/security: securityHeaders "cacheControl" must be a non-empty string or false, got ${describeValue(cacheControl)}`,
    );
  const cacheControlSkip = options.cacheControlSkip;
  if (cacheControlSkip !== undefined && typeof cacheControlSkip !== 'function')
    throw new Error(
      `@shipshape/security: securityHeaders "cacheControlSkip" must be a function (req) => boolean, got ${describeValue(cacheControlSkip)}`,
    );

  let hstsValue: string | undefined;
  if (options.hsts !== false) {
    const hsts = options.hsts ?? {};
    const maxAge = hsts.maxAge ?? 31_536_000;
    if (!Number.isInteger(maxAge) || maxAge < 0)
      throw new Error(
        `@shipshape/security: securityHeaders "hsts.maxAge" must be a non-negative integer of seconds, got ${describeValue(maxAge)}`,
      );
    hstsValue = `max-age=${maxAge}`;
    if (hsts.includeSubDomains ?? true) hstsValue += '; includeSubDomains';
    if (hsts.preload ?? false) hstsValue += '; preload';
  }

  const permissions =
    options.permissionsPolicy === false
      ? undefined
      : permissionsPolicyHeader({
          ...DEFAULT_PERMISSIONS_POLICY,
          ...(options.permissionsPolicy ?? {}),
        });

  let csp: HelmetOptions['contentSecurityPolicy'] = false;
  if (options.contentSecurityPolicy !== false) {
    const given = options.contentSecurityPolicy;
    if (
      given !== undefined &&
      (typeof given !== 'object' || given === null || Array.isArray(given))
    )
      throw new Error(
        `@shipshape/security: securityHeaders "contentSecurityPolicy" must be an object of directives or false, got ${describeValue(given)}`,
      );
    const source = given ?? (cspNonce ? HTML_CSP : API_CSP);
    const directives: Record<
      string,
      Array<string | ((req: IncomingMessage, res: ServerResponse) => string)> | null
    > = {};
    for (const [name, values] of Object.entries(source))
      directives[kebab(name)] = values === null ? null : [...values];
    if (cspNonce) {
      const nonceSource = (_req: IncomingMessage, res: ServerResponse) =>
        `'nonce-${(res as Response).locals.cspNonce as string}'`;
      for (const name of ['script-src', 'style-src']) {
        const current = directives[name] ?? [...(directives['default-src'] ?? ["'self'"])];
        directives[name] = [...current.filter((v) => v !== "'none'"), nonceSource];
      }
    }
    csp = { useDefaults: false, directives, reportOnly: options.cspReportOnly ?? false };
  }

  const profile = options.profile ?? 'default';
  if (profile !== 'default' && profile !== 'api')
    throw new Error(
      `@shipshape/security: securityHeaders "profile" must be 'default' or 'api', got ${describeValue(profile)}`,
    );
  const helmetOptions = {
    frameguard: { action: 'deny' },
    ...(profile === 'api' ? apiProfile(options.helmet) : {}),
    ...(options.helmet ?? {}),
    contentSecurityPolicy: csp,
    strictTransportSecurity: false,
  } as HelmetOptions;
  // helmet is the policy: it is validated and run once here against a recording response, and
  // what it set is replayed per request (the same headers, values and order, without a dozen
  // chained calls). CSP comes first in helmet's order; with a nonce or function directives it is
  // the one part that still runs per request.
  const steps: ReplayStep[] = [
    ...(csp === false ? [] : recordHeaders(contentSecurityPolicy(csp) as HeaderMiddleware)),
    ...recordHeaders(
      helmet({ ...helmetOptions, contentSecurityPolicy: false }) as HeaderMiddleware,
    ),
  ];

  let hstsWarned = !warner.enabled('SHIPSHAPE_SECURITY_HSTS_NO_TLS');
  return function securityHeadersMiddleware(req: Request, res: Response, next: NextFunction): void {
    if (cspNonce) res.locals.cspNonce = randomBytes(16).toString('base64');
    if (permissions !== undefined) res.setHeader('Permissions-Policy', permissions);
    if (cacheControl !== false && !cacheControlSkip?.(req))
      res.setHeader('Cache-Control', cacheControl);
    if (hstsValue !== undefined && (production || req.secure)) {
      res.setHeader('Strict-Transport-Security', hstsValue);
      // req.secure runs Express's trust-proxy evaluation; ask only until the warning is out.
      if (!hstsWarned && !req.secure)
        hstsWarned = warner.warn(
          'SHIPSHAPE_SECURITY_HSTS_NO_TLS',
          "securityHeaders sends HSTS (production) on a request that Express does not see as HTTPS; if TLS ends at a proxy, set 'trust proxy' so req.secure is true, otherwise serve over HTTPS",
        );
    }
    // Skipped when the app has `app.disable('x-powered-by')` (harden() does): removing a header
    // deletes a property of the response's header object, which then stays slow to write.
    if (res.hasHeader('X-Powered-By')) res.removeHeader('X-Powered-By');
    replayHeaders(steps, req, res, next);
  };
}
