import type { RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { redact, secretValues } from '@shipshape/config';
import { createHealth, type Health, redisCheck } from '@shipshape/health';
import { createLifecycle, type Lifecycle } from '@shipshape/lifecycle';
import { accessLog, createLogger, type Logger, requestContext } from '@shipshape/logger';
import {
  cors,
  csrf,
  errorHandler,
  ipFilter,
  jsonBody,
  notFound,
  type RedisCommandClient,
  rateLimit,
  redisIpStore,
  redisRateLimitStore,
  securityHeaders,
  threatMonitor,
  trustedHosts,
  trustProxy,
  urlencodedBody,
} from '@shipshape/security';
import type { Application, Request, RequestHandler, Response } from 'express';
import { appVersion } from './app-version.js';
import type {
  HardenedService,
  HardenOptions,
  NodeEnv,
  StartupReport,
  UmbrellaErrorCode,
} from './types.js';

const PKG = 'shipshape';
const NODE_ENVS: readonly NodeEnv[] = ['development', 'test', 'staging', 'production'];

const knownOptions: { readonly [K in keyof Required<HardenOptions>]: true } = {
  env: true,
  service: true,
  version: true,
  config: true,
  redis: true,
  redisPrefix: true,
  trustProxy: true,
  logger: true,
  requestContext: true,
  securityHeaders: true,
  trustedHosts: true,
  health: true,
  checks: true,
  healthRouter: true,
  httpMetrics: true,
  accessLog: true,
  ipFilter: true,
  cors: true,
  rateLimit: true,
  jsonBody: true,
  urlencodedBody: true,
  csrf: true,
  threatMonitor: true,
  notFound: true,
  errorHandler: true,
  lifecycle: true,
  startupReport: true,
  warnings: true,
};

type Warning = { code: string; message: string };

/** How long `listen()` waits for Redis at startup (connecting, then PING) before going on degraded. */
const REDIS_START_TIMEOUT_MS = 1000;

/** The connection events `harden()` uses, on clients that emit them (node-redis). */
interface RedisConnection {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off?(event: string, listener: (...args: unknown[]) => void): unknown;
  removeListener?(event: string, listener: (...args: unknown[]) => void): unknown;
  readonly isOpen?: boolean;
  readonly isReady?: boolean;
}

function asConnection(client: unknown): RedisConnection | undefined {
  return typeof (client as RedisConnection | null)?.on === 'function'
    ? (client as RedisConnection)
    : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message || error.name : String(error);
}

/**
 * PING within `ms`. A node-redis client that is still connecting gets that long to become ready
 * first (its offline queue, or `disableOfflineQueue`, would otherwise decide the answer).
 */
async function pingWithin(client: RedisCommandClient, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  const connection = asConnection(client);
  if (connection?.isOpen === false)
    throw new Error('the client is not connected; call client.connect() (without awaiting it)');
  let timer: NodeJS.Timeout | undefined;
  let onReady: (() => void) | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  try {
    if (connection && connection.isReady === false) {
      await Promise.race([
        new Promise<void>((resolve) => {
          onReady = resolve;
          connection.on('ready', onReady);
        }),
        expired,
      ]);
    }
    if (Date.now() >= deadline) throw new Error(`no answer within ${ms} ms`);
    await Promise.race([client.sendCommand(['PING']), expired]);
  } finally {
    clearTimeout(timer);
    expired.catch(() => undefined);
    if (onReady)
      (connection?.off ?? connection?.removeListener)?.call(connection, 'ready', onReady);
  }
}

/**
 * `req.ip` worked out once per request for this app: Express's getter parses X-Forwarded-For and
 * walks the trust-proxy function on every read. The value is kept in a WeakMap (no property on the
 * request); the getter is this app's own, so mounted sub-apps (own `trust proxy`) still use theirs.
 */
function memoizeClientIp(app: Application): void {
  const request = (app as { request?: object }).request;
  if (typeof request !== 'object' || request === null || Object.hasOwn(request, 'ip')) return;
  let descriptor: PropertyDescriptor | undefined;
  for (let p: object | null = request; p !== null && !descriptor; p = Object.getPrototypeOf(p))
    descriptor = Object.getOwnPropertyDescriptor(p, 'ip');
  const compute = descriptor?.get;
  if (compute === undefined) return;
  const ips = new WeakMap<object, string>();
  Object.defineProperty(request, 'ip', {
    configurable: true,
    enumerable: descriptor?.enumerable ?? true,
    get(this: object): string | undefined {
      let ip = ips.get(this);
      if (ip === undefined) {
        ip = compute.call(this) as string | undefined;
        if (ip !== undefined) ips.set(this, ip);
      }
      return ip;
    },
  });
}

/** httpMetrics()'s composition hooks (structural: the umbrella does not reach into health). */
interface MetricsObserver {
  begin(req: Request): boolean;
  route(req: Request): string | undefined;
  end(res: Response, start: number, route: string | undefined): void;
}

/** accessLog()'s composition hooks. */
interface AccessObserver {
  begin(req: Request, res: Response): object | undefined;
  end(res: Response, state: object, start: number, route?: string): void;
}

const hasHooks = <T>(value: unknown, names: readonly string[]): value is T =>
  names.every((n) => typeof (value as Record<string, unknown>)[n] === 'function');

/**
 * httpMetrics and accessLog as one middleware: one clock reading, one `close` listener and one
 * route template per response instead of two of each. The metric is recorded before the access
 * line, as with the two middlewares in that order.
 */
function observeResponses(
  metrics: RequestHandler,
  access: RequestHandler,
): RequestHandler | undefined {
  if (
    !hasHooks<MetricsObserver>(metrics, ['begin', 'route', 'end']) ||
    !hasHooks<AccessObserver>(access, ['begin', 'end'])
  )
    return undefined;
  return function shipshapeObserve(req, res, next) {
    const counted = metrics.begin(req);
    const state = access.begin(req, res);
    if (counted || state !== undefined) {
      const start = performance.now();
      res.on('close', () => {
        const route = metrics.route(req);
        if (counted) metrics.end(res, start, route);
        if (state !== undefined) access.end(res, state, start, route);
      });
    }
    next();
  };
}

function isLogger(value: unknown): value is Logger {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Logger).security === 'function' &&
    typeof (value as Logger).flush === 'function'
  );
}

function isHealth(value: unknown): value is Health {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Health).router === 'function' &&
    typeof (value as Health).setState === 'function'
  );
}

function coded(code: UmbrellaErrorCode, message: string): TypeError {
  return Object.assign(new TypeError(`${PKG}: ${message}`), { code });
}

const invalidOption = (message: string) => coded('SHIPSHAPE_UMBRELLA_INVALID_OPTION', message);

function resolveEnv(env: unknown): NodeEnv {
  const value = env ?? process.env.NODE_ENV ?? 'development';
  if (!NODE_ENVS.includes(value as NodeEnv))
    throw invalidOption(
      `harden() "env" must be one of ${NODE_ENVS.join(', ')}, got ${JSON.stringify(value)}`,
    );
  return value as NodeEnv;
}

function optionalString(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '')
    throw invalidOption(
      `harden() "${name}" must be a non-empty string, got ${JSON.stringify(value)}`,
    );
  return value;
}

/**
 * The logger handed to every part: the real logger, plus a record of each coded warning
 * (`meta.code` starting with SHIPSHAPE_) so the startup report can list them.
 */
function reportingLogger(logger: Logger, warnings: Warning[]): Logger {
  return new Proxy(logger, {
    get(target, property, receiver) {
      if (property === 'warn')
        return (message: unknown, meta?: unknown) => {
          const code = (meta as { code?: unknown } | undefined)?.code;
          if (typeof code === 'string' && code.startsWith('SHIPSHAPE_'))
            warnings.push({ code, message: String(message) });
          return target.warn(message as string, meta as Record<string, unknown>);
        };
      return Reflect.get(target, property, receiver);
    },
  });
}

/** When a part may be passed over: it would only call `next()` for such a request. */
enum Entry {
  Always,
  /** Body parsers: a request without Content-Length or Transfer-Encoding has no body to read. */
  WithBody,
  /** csrf without tokens on GET/HEAD/OPTIONS: it only adds `Vary: Sec-Fetch-Site, Origin`. */
  UnsafeMethod,
}

interface Part {
  readonly handler: RequestHandler;
  readonly entry: Entry;
}

const hasBody = (req: Request) =>
  req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;

const isSafeMethod = (method: string) =>
  method === 'GET' || method === 'HEAD' || method === 'OPTIONS';

/**
 * Runs middleware in order as one; an error (or a rejected promise) skips the rest and goes to
 * Express's `next(err)`, as it would between separate layers. Parts that would do nothing for a
 * request are not entered (see `Entry`); the response is the same.
 */
function runInOrder(parts: readonly Part[]): RequestHandler {
  const handlers = parts.map((p) => p.handler);
  const entries = parts.map((p) => p.entry);
  return function shipshapeStack(req, res, next) {
    let index = 0;
    const step = (err?: unknown): void => {
      if (err !== undefined && err !== null) {
        next(err);
        return;
      }
      let handler = handlers[index];
      let entry = entries[index++];
      while (entry !== Entry.Always && handler !== undefined) {
        if (entry === Entry.WithBody ? hasBody(req) : !isSafeMethod(req.method)) break;
        if (entry === Entry.UnsafeMethod) {
          // What csrf() does for a safe method, in one call when Vary is not set yet.
          if (res.getHeader('Vary') === undefined) res.setHeader('Vary', 'Sec-Fetch-Site, Origin');
          else break;
        }
        handler = handlers[index];
        entry = entries[index++];
      }
      if (handler === undefined) {
        next();
        return;
      }
      try {
        const result: unknown = handler(req, res, step);
        if (result instanceof Promise) result.then(undefined, next);
      } catch (error) {
        next(error);
      }
    };
    step();
  };
}

/**
 * Applies the whole shipshape stack to an Express app, in the order of ARCHITECTURE.md, from one
 * options object. Call it right after `express()`, add your routes, then `service.listen(port)`.
 */
export function harden(app: Application, options: HardenOptions = {}): HardenedService {
  if (typeof app?.use !== 'function' || typeof app?.set !== 'function')
    throw coded(
      'SHIPSHAPE_UMBRELLA_INVALID_ARGUMENT',
      'harden() needs an Express app as its first argument',
    );
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw invalidOption(`harden() options must be an object, got ${String(options)}`);
  const unknown = Object.keys(options).filter((key) => !(key in knownOptions));

  const env = resolveEnv(options.env);
  const production = env === 'production';
  const service = optionalString('service', options.service) ?? 'app';
  const version = optionalString('version', options.version) ?? appVersion();
  const warnings: Warning[] = [];
  const redisPrefix = options.redisPrefix ?? 'shipshape:';

  // Logger first: every other part logs through it.
  const baseLogger = isLogger(options.logger)
    ? options.logger
    : createLogger({
        service,
        env,
        version,
        format: production ? 'json' : 'pretty',
        ...(options.config ? { secretValues: secretValues(options.config) } : {}),
        ...(options.logger ?? {}),
      });
  const logger = reportingLogger(baseLogger, warnings);

  if (options.trustProxy !== undefined) trustProxy(app, options.trustProxy);
  // securityHeaders() removes X-Powered-By from every response; not setting it is cheaper than
  // deleting it (a deleted header leaves the response's header object slow for the rest).
  if (options.securityHeaders !== false) app.disable('x-powered-by');
  // The client address is asked for by the access log, the IP filter and the rate limiter.
  memoizeClientIp(app);

  const ignored = (code: string) =>
    options.warnings === false ||
    (Array.isArray(options.warnings) && options.warnings.includes(code));

  // Codes logged as harden() runs: the startup report lists them without logging them again.
  const loggedEarly = new Set<string>();
  if (unknown.length > 0) {
    const code = 'SHIPSHAPE_UMBRELLA_UNKNOWN_OPTION';
    const message = `${PKG}: harden() ignores unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')} (known: ${Object.keys(knownOptions).join(', ')})`;
    warnings.push({ code, message });
    loggedEarly.add(code);
    if (!ignored(code)) {
      try {
        baseLogger.warn(message, { code, options: unknown });
      } catch {
        // A broken logger must not break harden().
      }
    }
  }

  // Redis: a node-redis client emits 'error' on every failed (re)connect, and one without a
  // listener crashes the process. The outage is a state: logged once when it starts (after the
  // startup PING, which reports an outage at start itself) and once when it ends.
  const redisState = { checked: false, down: false };
  let releaseRedis: (() => void) | undefined;
  const redisConnection = options.redis ? asConnection(options.redis) : undefined;
  if (redisConnection) {
    const onError = (error: unknown) => {
      if (!redisState.checked || redisState.down) return;
      redisState.down = true;
      if (!ignored('SHIPSHAPE_UMBRELLA_REDIS_CONNECTION_LOST'))
        baseLogger.warn(
          `${PKG}: lost the Redis connection (${messageOf(error)}); rate limits and IP blocks follow their onStoreError policy and /health/ready reports Redis degraded until it is back`,
          { code: 'SHIPSHAPE_UMBRELLA_REDIS_CONNECTION_LOST' },
        );
    };
    const onReady = () => {
      if (!redisState.down) return;
      redisState.down = false;
      baseLogger.info(`${PKG}: the Redis connection is back`);
    };
    redisConnection.on('error', onError);
    redisConnection.on('ready', onReady);
    releaseRedis = () => {
      const off = (redisConnection.off ?? redisConnection.removeListener)?.bind(redisConnection);
      off?.('error', onError);
      off?.('ready', onReady);
      releaseRedis = undefined;
    };
  }

  // Health and metrics: one registry for every counter the other parts record.
  let health: Health | undefined;
  if (options.health !== false) {
    health = isHealth(options.health)
      ? options.health
      : createHealth({ service, version, logger, ...(options.health ?? {}) });
    for (const check of options.checks ?? []) health.register(check);
    if (options.redis) health.register(redisCheck(options.redis, { critical: false }));
  }
  const registry = health?.registry;

  const stores = {
    rateLimit: options.redis && options.rateLimit !== false ? 'redis' : 'memory',
    ipFilter: options.redis && options.ipFilter !== false ? 'redis' : 'memory',
  } as const;

  // The parts run as one app-level middleware: one router layer instead of a dozen (each layer
  // costs Express a path match and a next() hop per request).
  const stack: Part[] = [];
  const use = (handler: RequestHandler, entry = Entry.Always) => {
    stack.push({ handler, entry });
  };
  const parts: Record<string, boolean> = {};
  const on = <T>(name: string, value: T | false | undefined): value is T | undefined => {
    parts[name] = value !== false;
    return value !== false;
  };

  if (on('requestContext', options.requestContext))
    use(requestContext(options.requestContext ?? {}) as RequestHandler);
  if (on('securityHeaders', options.securityHeaders))
    use(securityHeaders({ production, logger, ...(options.securityHeaders ?? {}) }));
  // Probes and scrapes come before the Host check: kubelet and Prometheus address the pod by
  // its IP (`Host: 10.1.2.3:3000`), which no allowlist of public names contains.
  parts.health = health !== undefined;
  if (health) use(health.router(options.healthRouter ?? {}) as RequestHandler);
  parts.trustedHosts = Array.isArray(options.trustedHosts);
  if (Array.isArray(options.trustedHosts))
    use(trustedHosts({ hosts: options.trustedHosts as readonly string[], logger }));
  const metrics =
    health && on('httpMetrics', options.httpMetrics)
      ? (health.httpMetrics(options.httpMetrics ?? {}) as RequestHandler)
      : undefined;
  if (!metrics) parts.httpMetrics = false;
  const access = on('accessLog', options.accessLog)
    ? (accessLog(logger, options.accessLog ?? {}) as RequestHandler)
    : undefined;
  const observed = metrics && access ? observeResponses(metrics, access) : undefined;
  if (observed) use(observed);
  else {
    if (metrics) use(metrics);
    if (access) use(access);
  }
  // Stores created here are closed at shutdown (they only hold an 'error' listener, if any).
  const ownStores: { close?(): unknown; shutdown?(): unknown }[] = [];
  const own = <T extends { close?(): unknown; shutdown?(): unknown }>(store: T): T => {
    ownStores.push(store);
    return store;
  };
  const filter = on('ipFilter', options.ipFilter)
    ? ipFilter({
        logger,
        app,
        ...(registry ? { registry } : {}),
        ...(options.redis
          ? { store: own(redisIpStore(options.redis, { prefix: `${redisPrefix}ip:` })) }
          : {}),
        ...(options.ipFilter ?? {}),
      })
    : undefined;
  if (filter) use(filter);
  parts.cors = options.cors !== undefined && options.cors !== false;
  if (options.cors) use(cors({ logger, ...options.cors }) as RequestHandler);
  if (on('rateLimit', options.rateLimit))
    use(
      rateLimit.api({
        logger,
        app,
        production,
        ...(registry ? { registry } : {}),
        ...(filter ? { ipFilter: filter } : {}),
        ...(options.redis
          ? { store: own(redisRateLimitStore(options.redis, { prefix: `${redisPrefix}rl:` })) }
          : {}),
        ...(options.rateLimit ?? {}),
      }),
    );
  if (on('jsonBody', options.jsonBody))
    use(jsonBody({ logger, ...(options.jsonBody ?? {}) }), Entry.WithBody);
  if (on('urlencodedBody', options.urlencodedBody))
    use(urlencodedBody({ logger, ...(options.urlencodedBody ?? {}) }), Entry.WithBody);
  if (on('csrf', options.csrf)) {
    const tokens = options.csrf !== undefined && (options.csrf.token ?? false) !== false;
    use(
      csrf({ logger, ...(options.csrf ?? {}) }) as RequestHandler,
      tokens ? Entry.Always : Entry.UnsafeMethod,
    );
  }
  if (on('threatMonitor', options.threatMonitor))
    use(
      threatMonitor({
        logger,
        mode: 'monitor',
        ...(registry ? { registry } : {}),
        ...(filter ? { ipFilter: filter } : {}),
        ...(options.threatMonitor ?? {}),
      }),
    );
  app.use(runInOrder(stack));
  parts.notFound = options.notFound !== false;
  parts.errorHandler = true;

  // Listeners harden() added to the Redis client, and the stores it created. Run once everything
  // else has stopped: the app's own hook may still be closing the client.
  const release = () => {
    releaseRedis?.();
    for (const store of ownStores.splice(0)) {
      try {
        void Promise.resolve(store.close?.() ?? store.shutdown?.()).catch(() => undefined);
      } catch {
        // Releasing a listener cannot usefully fail.
      }
    }
  };

  let lifecycle: Lifecycle | undefined;
  parts.lifecycle = options.lifecycle !== false;
  if (options.lifecycle !== false) {
    lifecycle = createLifecycle({
      app: app as unknown as RequestListener,
      logger,
      ...(health ? { health } : {}),
      readinessDelayMs: production ? 5000 : 0,
      ...(options.lifecycle ?? {}),
    });
    // Registered first so it runs last: every other hook can still log. The lifecycle flushes
    // again after its report line; the logger is closed once everything has stopped (only
    // reached with `exit: false` — otherwise the process has exited by then).
    lifecycle.onShutdown('logger flush', () => baseLogger.flush());
    lifecycle.stopped
      .then(async () => {
        release();
        // Only a logger harden() made; one passed in stays the caller's (as with dispose()).
        if (!isLogger(options.logger)) await baseLogger.close();
      })
      .catch((error: unknown) => {
        // The logger is what failed: say it on stderr rather than leave an unhandled rejection.
        process.emitWarning(
          `${PKG}: closing the logger after the lifecycle stopped failed: ${error instanceof Error ? error.message : String(error)}`,
          { code: 'SHIPSHAPE_UMBRELLA_LOGGER_CLOSE_FAILED' },
        );
      });
    if (health && !isHealth(options.health)) {
      const owned = health;
      lifecycle.onShutdown('health', () => owned.close());
    }
  }

  const report: StartupReport = {
    service,
    env,
    parts,
    stores,
    ...(options.config ? { config: redact(options.config) as Record<string, unknown> } : {}),
    warnings,
  };
  if (production && parts.securityHeaders && options.trustProxy === undefined)
    warnings.push({
      code: 'SHIPSHAPE_UMBRELLA_HSTS_WITHOUT_TLS',
      message: `${PKG}: HSTS is on in production but no proxy is trusted, so requests to this plain-HTTP server never look secure; terminate TLS here or set "trustProxy" for the proxy that does`,
    });

  health?.setInfo('config', report);

  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    if (options.notFound !== false) app.use(notFound(options.notFound ?? {}));
    app.use(errorHandler({ production, logger, ...(options.errorHandler ?? {}) }));
  };

  const reported = (): void => {
    const shown = warnings.filter((w) => !ignored(w.code));
    if (options.startupReport !== false)
      baseLogger.info(`${service} ready`, {
        event: 'startup_report',
        parts,
        stores,
        ...(report.config ? { config: report.config } : {}),
        warnings: shown.map((w) => w.code),
      });
    for (const w of shown.filter(
      (w) => w.code.startsWith('SHIPSHAPE_UMBRELLA_') && !loggedEarly.has(w.code),
    ))
      baseLogger.warn(w.message, { code: w.code });
  };

  const listen = async (port = 3000, host?: string): Promise<AddressInfo> => {
    finish();
    if (options.redis) {
      try {
        await pingWithin(options.redis, REDIS_START_TIMEOUT_MS);
      } catch (error) {
        redisState.down = true;
        warnings.push({
          code: 'SHIPSHAPE_UMBRELLA_REDIS_UNREACHABLE',
          message: `${PKG}: Redis did not answer PING at startup (${messageOf(error)}); starting degraded: rate limits and IP blocks follow their onStoreError policy and /health/ready reports Redis degraded until it is back`,
        });
      } finally {
        redisState.checked = true;
      }
    }
    if (!lifecycle) throw new Error(`${PKG}: listen() needs the lifecycle; it was turned off`);
    const address = await lifecycle.listen(port, host);
    if (!address) throw new Error(`${PKG}: the lifecycle did not report a listening address`);
    reported();
    return address;
  };

  // Undoes harden() without draining or exiting: for tests (afterEach) and embedding.
  let disposing: Promise<void> | undefined;
  const dispose = (): Promise<void> => {
    disposing ??= (async () => {
      lifecycle?.dispose();
      release();
      const server = lifecycle?.server;
      if (server?.listening) {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      }
      // Only what harden() made itself; a health registry or logger passed in stays the caller's.
      if (health && !isHealth(options.health)) await health.close();
      if (!isLogger(options.logger)) await baseLogger.close();
    })();
    return disposing;
  };

  return {
    app,
    logger: baseLogger,
    health,
    lifecycle,
    report,
    finish,
    listen,
    dispose,
    shutdown: async () => {
      if (lifecycle) return lifecycle.shutdown();
      release();
      return undefined;
    },
  };
}
