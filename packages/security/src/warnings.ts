import { describeValue } from './edge.js';
import { optionError } from './options.js';
import type { SecurityLogger } from './types.js';

/** Every coded warning of `@shipshape/security` (documented in docs/errors.md). */
export type SecurityWarningCode =
  | 'SHIPSHAPE_SECURITY_TRUST_PROXY_ALL'
  | 'SHIPSHAPE_SECURITY_XFF_UNTRUSTED'
  | 'SHIPSHAPE_SECURITY_STORE_ERROR_POLICY'
  | 'SHIPSHAPE_SECURITY_STORE_ERROR'
  | 'SHIPSHAPE_SECURITY_HSTS_NO_TLS'
  | 'SHIPSHAPE_SECURITY_UNKNOWN_OPTION'
  | 'SHIPSHAPE_SECURITY_CORS_NO_ORIGINS'
  | 'SHIPSHAPE_SECURITY_CSRF_REPORT_ONLY'
  | (string & {});

/**
 * `false` silences every warning; an array silences the listed codes; `true`/undefined warns.
 * @default true
 */
export type WarningsOption = boolean | readonly SecurityWarningCode[];

export interface Warner {
  /** Logs `code` once for this warner (one per factory call); returns whether it was logged. */
  warn(code: SecurityWarningCode, message: string, meta?: Record<string, unknown>): boolean;
  /** Whether `code` is switched on. */
  enabled(code: SecurityWarningCode): boolean;
  /** Lets `code` be logged once more (e.g. the next outage after a recovery). */
  rearm(code: SecurityWarningCode): void;
}

/**
 * A warner scoped to one factory call: each code is logged at most once through the injected
 * logger (`logger.warn(message, { code, ... })`) or, without a logger, `process.emitWarning`.
 * Scoping to the factory (not the module) keeps two instances independent.
 */
export function createWarner(
  logger: SecurityLogger | undefined,
  option: WarningsOption | undefined,
): Warner {
  const seen = new Set<string>();
  const enabled = (code: SecurityWarningCode): boolean => {
    if (option === false) return false;
    if (Array.isArray(option)) return !option.includes(code);
    return true;
  };
  return {
    enabled,
    rearm(code) {
      seen.delete(code);
    },
    warn(code, message, meta) {
      if (!enabled(code) || seen.has(code)) return false;
      seen.add(code);
      const text = `@shipshape/security: ${message}`;
      try {
        if (logger) logger.warn(text, { code, ...meta });
        else process.emitWarning(text, { code, type: 'ShipshapeSecurityWarning' });
      } catch {
        // A broken logger must not break the factory or the request.
      }
      return true;
    },
  };
}

type Check = readonly [accepts: (value: unknown) => boolean, expected: string];

const isBoolean = (v: unknown) => typeof v === 'boolean';
const isFunction = (v: unknown) => typeof v === 'function';
const isName = (v: unknown) => typeof v === 'string' && v.trim() !== '';
const hasMethods =
  (...names: string[]) =>
  (v: unknown) =>
    // An Express app is a function with methods.
    (typeof v === 'object' || typeof v === 'function') &&
    v !== null &&
    names.every((n) => typeof (v as Record<string, unknown>)[n] === 'function');

/**
 * Options that mean the same in every factory that has them, checked here once (each factory
 * checks its own options): a factory only gets the checks of the options it knows.
 */
const COMMON_CHECKS: Readonly<Record<string, Check>> = {
  logger: [hasMethods('info', 'warn', 'error'), 'a logger with info, warn and error methods'],
  warnings: [
    (v) => typeof v === 'boolean' || (Array.isArray(v) && v.every((c) => typeof c === 'string')),
    'true, false or an array of warning codes',
  ],
  registry: [
    hasMethods('registerMetric', 'getSingleMetric'),
    'a prom-client Registry (registerMetric, getSingleMetric)',
  ],
  app: [hasMethods('get'), 'an Express app'],
  production: [isBoolean, 'a boolean'],
  cspNonce: [isBoolean, 'a boolean'],
  strict: [isBoolean, 'a boolean'],
  convert: [isBoolean, 'a boolean'],
  stripUnknown: [isBoolean, 'a boolean'],
  abortEarly: [isBoolean, 'a boolean'],
  autoRemove: [isBoolean, 'a boolean'],
  exposeStack: [isBoolean, 'a boolean'],
  optional: [isBoolean, 'a boolean'],
  secure: [isBoolean, 'a boolean'],
  sessionId: [isFunction, 'a function (req) => string'],
  details: [isFunction, 'a function (req, res) => object'],
  name: [isName, 'a non-empty string'],
  nameClaim: [isName, 'a non-empty string'],
  action: [isName, 'a non-empty string'],
  event: [isName, 'a non-empty string'],
  metricsPath: [(v) => typeof v === 'string' && v.startsWith('/'), 'a path starting with "/"'],
  cookieName: [isName, 'a non-empty string'],
  realm: [isName, 'a non-empty string'],
  expiresAt: [(v) => typeof v === 'number' && Number.isFinite(v), 'a time in milliseconds'],
};

/** Throws the option error for a common option (see COMMON_CHECKS) with a value it cannot take. */
function checkCommonOptions(
  factory: string,
  options: object,
  known: Readonly<Record<string, true>>,
): void {
  for (const [key, value] of Object.entries(options)) {
    const check = COMMON_CHECKS[key];
    if (value === undefined || check === undefined || !(key in known)) continue;
    if (!check[0](value))
      throw optionError(`${factory} "${key}" must be ${check[1]}, got ${describeValue(value)}`);
  }
}

/**
 * Checks the options every factory shares (logger, warnings, production, registry, app, …) and
 * warns (once) about option keys the factory does not know — typos from JavaScript callers, and
 * options that were renamed (`renamed`: old name → new name, named in the warning).
 */
export function warnUnknownOptions(
  warner: Warner,
  factory: string,
  options: object | undefined,
  known: Readonly<Record<string, true>>,
  renamed: Readonly<Record<string, string>> = {},
): void {
  if (!options) return;
  checkCommonOptions(factory, options, known);
  const unknown = Object.keys(options).filter((key) => !(key in known));
  if (unknown.length === 0) return;
  const hints = unknown
    .filter((key) => Object.hasOwn(renamed, key))
    .map((key) => `"${key}" is now "${renamed[key]}"`);
  warner.warn(
    'SHIPSHAPE_SECURITY_UNKNOWN_OPTION',
    `${factory} ignores unknown option(s) ${unknown.map((k) => JSON.stringify(k)).join(', ')}${hints.length > 0 ? ` (${hints.join(', ')})` : ''}`,
    { factory, options: unknown },
  );
}
