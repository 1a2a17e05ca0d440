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
import { optionError } from './options.js';
import type { SecurityLogger } from './types.js';
import { createWarner, type WarningsOption, warnUnknownOptions } from './warnings.js';

/** A CSP source computed per request, as in helmet: `(req, res) => "'nonce-…'"`. */
export type CspSourceFunction = (req: IncomingMessage, res: ServerResponse) => string;

/**
 * One directive's value: a list (array or any iterable) of sources and source functions, a single
 * source string, or one source function.
 */
export type CspDirectiveValue = string | CspSourceFunction | Iterable<string | CspSourceFunction>;

/**
 * CSP directives: kebab-case or camelCase names to sources (`null` drops a default; helmet's
 * `dangerouslyDisableDefaultSrc` for `default-src` sends no default-src).
 */
export type CspDirectives = Readonly<
  Record<
    string,
    CspDirectiveValue | null | typeof contentSecurityPolicy.dangerouslyDisableDefaultSrc
  >
>;

/**
 * helmet's own CSP options, accepted as they are: `directives` over helmet's default policy
 * (`useDefaults`, default `true`), `reportOnly`. The header equals what helmet sends for them.
 */
export interface HelmetCspOptions {
  /** Start from helmet's default directives (HTML-oriented). @default true */
  readonly useDefaults?: boolean;
  /** @default {} */
  readonly directives?: CspDirectives;
  /** @default false */
  readonly reportOnly?: boolean;
}

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
   * `X-Permitted-Cross-Domain-Policies`, `Origin-Agent-Cluster`) and `Permissions-Policy` (which
   * restricts a document's scripts; a JSON answer under `default-src 'none'` runs none) are not
   * sent. `helmet` options and `permissionsPolicy` given explicitly still win.
   * @default 'default' (every header helmet sends by default)
   */
  readonly profile?: 'default' | 'api';
  /**
   * Production mode: HSTS on every response (not only secure ones).
   * @default process.env.NODE_ENV === 'production' (read when the factory is called)
   */
  readonly production?: boolean;
  /**
   * Content-Security-Policy: directives (they replace the default policy), helmet's options
   * `{ useDefaults, directives, reportOnly }` (directives over helmet's defaults, as helmet does),
   * `true` for the default policy, or `false` for none.
   * @default API policy `default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`
   * (with `cspNonce`: an HTML policy with the nonce in script-src and style-src)
   */
  readonly contentSecurityPolicy?: boolean | CspDirectives | HelmetCspOptions;
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
  /**
   * helmet's options for the headers not covered above. helmet's `contentSecurityPolicy` and
   * `strictTransportSecurity`/`hsts` are accepted here too (as if given as `contentSecurityPolicy`
   * and `hsts`), so `helmet(options)` can become `securityHeaders({ helmet: options })`.
   * @default `frameguard: { action: 'deny' }` over helmet's defaults
   */
  readonly helmet?: HelmetOptions;
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

type CspSource = string | CspSourceFunction;
type NormalizedDirectives = Record<
  string,
  CspSource[] | null | typeof contentSecurityPolicy.dangerouslyDisableDefaultSrc
>;

const HELMET_CSP_KEYS = new Set(['useDefaults', 'directives', 'reportOnly']);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Directive values in every shape helmet takes (iterables of strings and functions, a single
 * string) plus a lone function, as arrays; anything else is an option error naming the directive.
 */
function normalizeDirectives(given: unknown, where: string): NormalizedDirectives {
  if (!isPlainObject(given))
    throw optionError(
      `securityHeaders "${where}" must be an object of directives like { defaultSrc: ["'self'"] }, got ${describeValue(given)}`,
    );
  const out: NormalizedDirectives = {};
  for (const [name, value] of Object.entries(given)) {
    const key = kebab(name);
    const bad = () =>
      optionError(
        `securityHeaders "${where}.${name}" must be a source string, a function (req, res) => string, an array of those, or null, got ${describeValue(value)}`,
      );
    if (Object.hasOwn(out, key))
      throw optionError(
        `securityHeaders "${where}" has the directive ${JSON.stringify(key)} twice (${JSON.stringify(name)} is the same directive)`,
      );
    if (value === null || value === contentSecurityPolicy.dangerouslyDisableDefaultSrc)
      out[key] = value;
    else if (typeof value === 'string' || typeof value === 'function')
      out[key] = [value as CspSource];
    else if (
      typeof value === 'object' &&
      typeof (value as Iterable<unknown>)[Symbol.iterator] === 'function'
    ) {
      const list = [...(value as Iterable<unknown>)];
      if (!list.every((v) => typeof v === 'string' || typeof v === 'function')) throw bad();
      out[key] = list as CspSource[];
    } else throw bad();
  }
  return out;
}

interface ResolvedCsp {
  readonly directives: NormalizedDirectives;
  readonly reportOnly: boolean | undefined;
}

/**
 * The CSP option in either shape, as the directives to send (helmet's defaults merged the way
 * helmet merges them: a given directive replaces a default in place, new ones follow, `null`
 * removes one), or `undefined` for the built-in default policy.
 */
function resolveCsp(given: unknown): ResolvedCsp | false | undefined {
  if (given === undefined || given === true) return undefined;
  if (given === false) return false;
  if (!isPlainObject(given))
    throw optionError(
      `securityHeaders "contentSecurityPolicy" must be an object of directives, helmet's { useDefaults, directives, reportOnly }, true or false, got ${describeValue(given)}`,
    );
  const keys = Object.keys(given);
  const helmetKeys = keys.filter((k) => HELMET_CSP_KEYS.has(k));
  if (helmetKeys.length === 0)
    return {
      directives: normalizeDirectives(given, 'contentSecurityPolicy'),
      reportOnly: undefined,
    };
  if (helmetKeys.length !== keys.length)
    throw optionError(
      `securityHeaders "contentSecurityPolicy" is either directives or helmet's { useDefaults, directives, reportOnly }, not both: got the keys ${keys.map((k) => JSON.stringify(k)).join(', ')}`,
    );
  const { useDefaults = true, directives = {}, reportOnly } = given;
  if (typeof useDefaults !== 'boolean')
    throw optionError(
      `securityHeaders "contentSecurityPolicy.useDefaults" must be a boolean, got ${describeValue(useDefaults)}`,
    );
  if (reportOnly !== undefined && typeof reportOnly !== 'boolean')
    throw optionError(
      `securityHeaders "contentSecurityPolicy.reportOnly" must be a boolean, got ${describeValue(reportOnly)}`,
    );
  const own = normalizeDirectives(directives, 'contentSecurityPolicy.directives');
  if (!useDefaults) return { directives: own, reportOnly };
  const merged: NormalizedDirectives = {};
  for (const [name, value] of Object.entries(contentSecurityPolicy.getDefaultDirectives()))
    merged[name] = [...value];
  for (const [name, value] of Object.entries(own)) {
    if (value === null && name === 'default-src')
      merged[name] = null; // helmet's error, below
    else if (value === null) delete merged[name];
    else merged[name] = value;
  }
  return { directives: merged, reportOnly };
}

/** Runs a helmet factory, turning its option errors into ours (named option, coded). */
function fromHelmet<T>(option: string, build: () => T): T {
  try {
    return build();
  } catch (error) {
    throw optionError(
      `securityHeaders "${option}" was refused by helmet: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

function permissionsPolicyHeader(features: Readonly<Record<string, readonly string[]>>): string {
  const parts: string[] = [];
  for (const [feature, allow] of Object.entries(features)) {
    if (!/^[a-z][a-z0-9-]*$/.test(feature))
      throw optionError(
        `@shipshape/security: securityHeaders "permissionsPolicy" feature names are lowercase words with dashes, got ${describeValue(feature)}`,
      );
    if (!Array.isArray(allow))
      throw optionError(
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
        throw optionError(
          `@shipshape/security: securityHeaders "permissionsPolicy.${feature}" entries are 'self', '*' or an origin like "https://example.com", got ${describeValue(entry)}`,
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
    throw optionError(
      `@shipshape/security: securityHeaders "cacheControl" must be a non-empty string or false, got ${describeValue(cacheControl)}`,
    );
  const cacheControlSkip = options.cacheControlSkip;
  if (cacheControlSkip !== undefined && typeof cacheControlSkip !== 'function')
    throw optionError(
      `@shipshape/security: securityHeaders "cacheControlSkip" must be a function (req) => boolean, got ${describeValue(cacheControlSkip)}`,
    );

  // JavaScript callers moving from `helmet(options)` may pass helmet's CSP and HSTS options inside
  // `helmet`: they mean the same as ours, so they are used unless ours are set too.
  const helmetGiven = (options.helmet ?? {}) as Record<string, unknown>;
  if (!isPlainObject(helmetGiven))
    throw optionError(
      `securityHeaders "helmet" must be an object of helmet options, got ${describeValue(helmetGiven)}`,
    );
  const {
    contentSecurityPolicy: helmetCsp,
    strictTransportSecurity: helmetHstsLong,
    hsts: helmetHstsShort,
    ...helmetRest
  } = helmetGiven;
  if (helmetHstsLong !== undefined && helmetHstsShort !== undefined)
    throw optionError(
      'securityHeaders got "helmet.strictTransportSecurity" and "helmet.hsts" (the same header); keep one',
    );
  const helmetHsts = helmetHstsLong ?? helmetHstsShort;
  if (helmetHsts !== undefined && options.hsts !== undefined)
    throw optionError('securityHeaders got "hsts" and "helmet.strictTransportSecurity"; keep one');
  if (helmetCsp !== undefined && options.contentSecurityPolicy !== undefined)
    throw optionError(
      'securityHeaders got "contentSecurityPolicy" and "helmet.contentSecurityPolicy"; keep one',
    );
  const hstsOption = (options.hsts ?? (helmetHsts === true ? {} : helmetHsts)) as unknown;
  if (hstsOption !== undefined && hstsOption !== false && !isPlainObject(hstsOption))
    throw optionError(
      `securityHeaders "hsts" must be { maxAge?, includeSubDomains?, preload? } or false, got ${describeValue(hstsOption)}`,
    );
  let hstsValue: string | undefined;
  if (hstsOption !== false) {
    const hsts = (hstsOption ?? {}) as HstsOptions;
    const maxAge = hsts.maxAge ?? 31_536_000;
    if (!Number.isInteger(maxAge) || maxAge < 0)
      throw optionError(
        `@shipshape/security: securityHeaders "hsts.maxAge" must be a non-negative integer of seconds, got ${describeValue(maxAge)}`,
      );
    hstsValue = `max-age=${maxAge}`;
    if (hsts.includeSubDomains ?? true) hstsValue += '; includeSubDomains';
    if (hsts.preload ?? false) hstsValue += '; preload';
  }

  if (
    options.permissionsPolicy !== undefined &&
    options.permissionsPolicy !== false &&
    !isPlainObject(options.permissionsPolicy)
  )
    throw optionError(
      `securityHeaders "permissionsPolicy" must be an object of features like { camera: ['self'] } or false, got ${describeValue(options.permissionsPolicy)}`,
    );
  const profile = options.profile ?? 'default';
  if (profile !== 'default' && profile !== 'api')
    throw optionError(
      `@shipshape/security: securityHeaders "profile" must be 'default' or 'api', got ${describeValue(profile)}`,
    );
  // The api profile leaves Permissions-Policy out unless it is configured: it restricts what a
  // document's scripts and frames may use, and a JSON answer under `default-src 'none'` runs none
  // (OWASP's REST list counts it among the headers for HTML responses).
  const permissions =
    options.permissionsPolicy === false ||
    (profile === 'api' && options.permissionsPolicy === undefined)
      ? undefined
      : permissionsPolicyHeader({
          ...DEFAULT_PERMISSIONS_POLICY,
          ...(options.permissionsPolicy ?? {}),
        });

  const resolved = resolveCsp(options.contentSecurityPolicy ?? helmetCsp);
  const cspReportOnly = options.cspReportOnly;
  if (cspReportOnly !== undefined && typeof cspReportOnly !== 'boolean')
    throw optionError(
      `securityHeaders "cspReportOnly" must be a boolean, got ${describeValue(cspReportOnly)}`,
    );
  if (
    resolved &&
    resolved.reportOnly !== undefined &&
    cspReportOnly !== undefined &&
    resolved.reportOnly !== cspReportOnly
  )
    throw optionError(
      `securityHeaders "cspReportOnly" (${cspReportOnly}) contradicts "contentSecurityPolicy.reportOnly" (${resolved.reportOnly}); keep one`,
    );

  let csp: HelmetOptions['contentSecurityPolicy'] = false;
  if (resolved !== false) {
    const directives: NormalizedDirectives = resolved
      ? resolved.directives
      : Object.fromEntries(
          Object.entries(cspNonce ? HTML_CSP : API_CSP).map(([k, v]) => [k, [...(v as string[])]]),
        );
    if (cspNonce) {
      const nonceSource = (_req: IncomingMessage, res: ServerResponse) =>
        `'nonce-${(res as Response).locals.cspNonce as string}'`;
      const fallback = directives['default-src'];
      for (const name of ['script-src', 'style-src']) {
        const current = directives[name] ?? (Array.isArray(fallback) ? fallback : ["'self'"]);
        if (!Array.isArray(current)) continue;
        directives[name] = [...current.filter((v) => v !== "'none'"), nonceSource];
      }
    }
    csp = {
      useDefaults: false,
      directives: directives as Record<string, CspSource[] | null>,
      reportOnly: resolved?.reportOnly ?? cspReportOnly ?? false,
    };
  }

  const helmetOptions = {
    frameguard: { action: 'deny' },
    ...(profile === 'api' ? apiProfile(helmetRest) : {}),
    ...helmetRest,
    contentSecurityPolicy: csp,
    strictTransportSecurity: false,
  } as HelmetOptions;
  // helmet is the policy: it is validated and run once here against a recording response, and
  // what it set is replayed per request (the same headers, values and order, without a dozen
  // chained calls). CSP comes first in helmet's order; with a nonce or function directives it is
  // the one part that still runs per request.
  const cspMiddleware =
    csp === false
      ? undefined
      : fromHelmet('contentSecurityPolicy', () => contentSecurityPolicy(csp));
  const helmetMiddleware = fromHelmet('helmet', () =>
    helmet({ ...helmetOptions, contentSecurityPolicy: false }),
  );
  const steps: ReplayStep[] = [
    ...(cspMiddleware ? recordHeaders(cspMiddleware as HeaderMiddleware) : []),
    ...recordHeaders(helmetMiddleware as HeaderMiddleware),
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
