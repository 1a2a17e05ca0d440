import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type ContextStore, storage } from './context.js';
import { INTERNALS, type LoggerInternals } from './logger.js';
import { invalidOption, warnUnknownOptions } from './options.js';
import { Sanitizer } from './serialize.js';
import type { AccessLogOptions, AccessRequest, LoggerLike } from './types.js';

const knownOptions: { [K in keyof Required<AccessLogOptions>]: true } = {
  slowMs: true,
  slowRoutes: true,
  skip: true,
  message: true,
};

// Context fields never overwrite what the access line itself says.
const RESERVED = new Set([
  'timestamp',
  'level',
  'message',
  'service',
  'env',
  'version',
  'hostname',
  'pid',
  'requestId',
  'stream',
  'method',
  'route',
  'status',
  'durationMs',
  'bytesIn',
  'bytesOut',
  'ip',
  'userAgent',
  'aborted',
  'slow',
  'truncated',
]);

type AccessResponse = ServerResponse & { req: AccessRequest };

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/**
 * The paths the default `skip` leaves out of the access log: health probes and the Prometheus
 * scrape, plus everything under `/health/` (`/health/live`, `/health/ready`, ...). The one list
 * of this package; the README and `AccessLogOptions.skip` name the same paths.
 */
const PROBE_PATHS: ReadonlySet<string> = new Set([
  '/health',
  '/healthz',
  '/livez',
  '/readyz',
  '/metrics',
]);
const PROBE_PREFIX = '/health/';

/** The default skip: health probes and /metrics. */
export function isProbeRequest(req: AccessRequest): boolean {
  const path = pathOf(req.url ?? '');
  return PROBE_PATHS.has(path) || path.startsWith(PROBE_PREFIX);
}

function fail(message: string): never {
  return invalidOption(`accessLog ${message}`);
}

/** Non-empty path segments of a path, e.g. 3 for "/api/items/42/". */
function countSegments(path: string): number {
  let n = 0;
  let inSegment = false;
  for (let i = 0; i < path.length; i++) {
    if (path.charCodeAt(i) === 47 /* / */) inSegment = false;
    else if (!inSegment) {
      inSegment = true;
      n++;
    }
  }
  return n;
}

/** The first `n` non-empty segments of a path, with their leading slashes ("/api/v1" for 2). */
function leadingSegments(path: string, n: number): string {
  let seen = 0;
  let inSegment = false;
  for (let i = 0; i < path.length; i++) {
    if (path.charCodeAt(i) === 47) {
      if (inSegment && seen === n) return path.slice(0, i);
      inSegment = false;
    } else if (!inSegment) {
      inSegment = true;
      seen++;
    }
  }
  return path;
}

// Segment count of a route path whose every segment matches exactly one URL segment (literals and
// plain `:params`), or -1 for wildcards, optional groups and regular expressions.
const routeSegments = new WeakMap<object, number>();
function fixedSegments(route: { readonly path?: unknown }): number {
  let n = routeSegments.get(route);
  if (n === undefined) {
    n =
      typeof route.path === 'string' && !/[*?+(){}[\]]/.test(route.path)
        ? countSegments(route.path)
        : -1;
    routeSegments.set(route, n);
  }
  return n;
}

/**
 * The route template: mount prefix + matched route path, else the path without query string.
 *
 * Express restores `req.baseUrl` when a router hands an error (or a fall-through) back to its
 * parent, so when an app-level error handler answers, `req.route` is the mounted route but
 * `req.baseUrl` no longer holds its prefix. For routes of fixed shape the prefix is then the part
 * of the path in front of the route's segments; nothing is recorded per request for this.
 */
export function routeTemplate(req: AccessRequest): string {
  const route = req.route;
  const path = pathOf(req.originalUrl ?? req.url ?? '');
  if (route && route.path !== undefined) {
    const routePath = typeof route.path === 'string' ? route.path : String(route.path);
    let base = req.baseUrl ?? '';
    const own = fixedSegments(route);
    if (own >= 0) {
      const prefix = countSegments(path) - own;
      if (prefix >= 0 && prefix !== countSegments(base)) base = leadingSegments(path, prefix);
    }
    // router.get('/') mounted at /api/items is "/api/items", not "/api/items/".
    return base !== '' && routePath === '/' ? base : base + routePath;
  }
  return path;
}

/**
 * One line per request when it finishes or is aborted by the client (`aborted: true`), on the
 * access stream: method, route template, status, durationMs, bytesIn, bytesOut, ip, userAgent,
 * requestId. Level: 5xx error, 4xx warn, slower than `slowMs` warn with `slow: true`, else info.
 * Mount it after `requestContext`.
 */
export function accessLog(logger: LoggerLike, options: AccessLogOptions = {}) {
  if (!logger || typeof logger.info !== 'function')
    fail('needs a logger (createLogger() or any object with info/warn/error)');
  if (typeof options !== 'object' || options === null)
    fail(`options must be an object, got ${String(options)}`);
  warnUnknownOptions('accessLog', options, knownOptions, logger);
  const slowMs = options.slowMs ?? 1000;
  if (typeof slowMs !== 'number' || !(slowMs >= 0))
    fail(`"slowMs" must be a non-negative number of milliseconds, got ${String(slowMs)}`);
  const slowRoutes = new Map<string, number>();
  for (const [key, value] of Object.entries(options.slowRoutes ?? {})) {
    if (typeof value !== 'number' || !(value >= 0))
      fail(
        `"slowRoutes" value for ${JSON.stringify(key)} must be a non-negative number, got ${String(value)}`,
      );
    slowRoutes.set(key, value);
  }
  const skip = options.skip ?? isProbeRequest;
  if (skip !== false && typeof skip !== 'function')
    fail(`"skip" must be a function or false, got ${typeof skip}`);
  const message = options.message ?? 'request';
  if (typeof message !== 'string') fail(`"message" must be a string, got ${typeof message}`);

  const internals = (logger as { [INTERNALS]?: LoggerInternals })[INTERNALS];
  const redactor = internals?.redactor;
  const maxLength = redactor?.maxStringLength ?? 8192;
  const needsRedaction = (redactor?.secrets.length ?? 0) > 0;
  const hasSlowRoutes = slowRoutes.size > 0;
  const messageJson = JSON.stringify(message);

  // Requests finishing in the same millisecond share one formatted timestamp; within a second
  // only the milliseconds change, so the rest is formatted once per second (toISOString per
  // millisecond showed up in profiles at a few thousand requests per second).
  let lastMs = 0;
  let lastIso = '';
  let lastSecond = Number.NaN;
  let secondPrefix = '';
  function isoNow(): string {
    const now = Date.now();
    if (now !== lastMs) {
      lastMs = now;
      const ms = now % 1000;
      if (now - ms !== lastSecond || ms < 0) {
        lastSecond = now - ms;
        secondPrefix = new Date(now).toISOString().slice(0, -4); // "2026-11-27T10:00:00."
      }
      lastIso =
        ms >= 0
          ? `${secondPrefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z`
          : new Date(now).toISOString();
    }
    return lastIso;
  }

  function clean(value: string, sanitizer: Sanitizer | undefined): string {
    if (sanitizer) return sanitizer.string(value);
    return value.length > maxLength
      ? `${value.slice(0, maxLength)}…[+${value.length - maxLength} chars]`
      : value;
  }

  function logAccess(
    res: AccessResponse,
    start: number,
    store: ContextStore | undefined,
    bytesBefore: number,
    template?: string,
  ): void {
    const req = res.req;
    const durationMs = Math.round((performance.now() - start) * 100) / 100;
    const aborted = !res.writableFinished;
    const status = aborted && !res.headersSent ? 499 : res.statusCode;
    const method = req.method ?? 'GET';
    const sanitizer =
      internals && (needsRedaction || store?.fields)
        ? new Sanitizer(internals.redactor, internals.keyCache)
        : undefined;
    const route = clean(template ?? routeTemplate(req), sanitizer);
    let threshold = slowMs;
    if (hasSlowRoutes)
      threshold = slowRoutes.get(`${method} ${route}`) ?? slowRoutes.get(route) ?? slowMs;
    const slow = durationMs > threshold;
    const level = status >= 500 ? 'error' : status >= 400 || slow ? 'warn' : 'info';
    const contentLength = req.headers['content-length'];
    const declared = contentLength === undefined ? 0 : Number(contentLength);
    const bytesIn = Number.isFinite(declared) ? declared : 0;
    const socket = req.socket as Socket | null;
    const bytesOut = socket ? socket.bytesWritten - bytesBefore : 0;
    const requestId = req.id ?? store?.requestId;
    const ua = req.headers['user-agent'];

    // req.ip runs Express's trust-proxy evaluation (it parses X-Forwarded-For); with 'trust proxy'
    // off, Express's default, it is the socket's address.
    const ip =
      (req as { app?: { settings?: Record<string, unknown> } }).app?.settings?.['trust proxy'] ===
      false
        ? socket?.remoteAddress
        : (req.ip ?? socket?.remoteAddress);
    const userAgent = ua === undefined ? undefined : clean(ua, sanitizer);
    const fields = store?.fields;

    if (internals) {
      // Hot path: every value is a known type, so the line is concatenated directly around the
      // pre-serialised constant fields; only strings from the client go through JSON.stringify.
      let json = `{"timestamp":"${isoNow()}","level":"${level}","message":${messageJson}${internals.baseJson}`;
      if (requestId !== undefined) json += `,"requestId":${JSON.stringify(requestId)}`;
      json += `,"stream":"access","method":${JSON.stringify(method)},"route":${JSON.stringify(route)},"status":${status},"durationMs":${durationMs},"bytesIn":${bytesIn},"bytesOut":${bytesOut}`;
      if (ip !== undefined) json += `,"ip":${JSON.stringify(ip)}`;
      if (userAgent !== undefined) json += `,"userAgent":${JSON.stringify(userAgent)}`;
      if (aborted) json += ',"aborted":true';
      if (slow) json += ',"slow":true';
      if (fields && sanitizer) {
        const extra: Record<string, unknown> = {};
        for (const key in fields)
          if (!RESERVED.has(key)) sanitizer.assign(extra, key, fields[key], 0);
        const extraJson = JSON.stringify(extra);
        if (extraJson.length > 2) json += `,${extraJson.slice(1, -1)}`;
      }
      if (sanitizer?.truncated) json += ',"truncated":true';
      json += '}';
      internals.dispatch(level, message, json);
      return;
    }
    // Any other logger: a plain call with the fields as meta.
    const meta: Record<string, unknown> = {
      requestId,
      stream: 'access',
      method,
      route,
      status,
      durationMs,
      bytesIn,
      bytesOut,
      ip,
      userAgent,
      ...(aborted ? { aborted: true } : {}),
      ...(slow ? { slow: true } : {}),
      ...fields,
    };
    (logger as unknown as Record<string, (m: string, meta: object) => void>)[level]?.call(
      logger,
      message,
      meta,
    );
  }

  const middleware = function accessLogMiddleware(
    req: AccessRequest,
    res: ServerResponse,
    next: (err?: unknown) => void,
  ): void {
    if (skip !== false && skip(req, res)) {
      next();
      return;
    }
    // Per-request state stays in this closure: adding properties to req/res (or an accessor on
    // the request prototype) measurably slowed every later middleware's property access.
    const start = performance.now();
    const store = storage.getStore();
    const bytesBefore = req.socket?.bytesWritten ?? 0;
    // 'close' fires after 'finish' and also when the client goes away first.
    res.on('close', () => logAccess(res as AccessResponse, start, store, bytesBefore));
    next();
  };

  // For a composer that shares one 'close' listener, one clock reading and one route template
  // with other per-response work (harden() with httpMetrics): `begin` where the middleware would
  // run (undefined: skipped), `end` once the response has closed.
  const begin = (req: AccessRequest, res: ServerResponse): AccessState | undefined => {
    if (skip !== false && skip(req, res)) return undefined;
    return { store: storage.getStore(), bytesBefore: req.socket?.bytesWritten ?? 0 };
  };
  const end = (res: ServerResponse, state: AccessState, start: number, template?: string) => {
    logAccess(res as AccessResponse, start, state.store, state.bytesBefore, template);
  };
  return Object.assign(middleware, { begin, end });
}

/** @internal what `begin` hands to `end`: the request's context and the socket's byte count. */
export interface AccessState {
  readonly store: ContextStore | undefined;
  readonly bytesBefore: number;
}
