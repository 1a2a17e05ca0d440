import type { AddressInfo } from 'node:net';
import type {
  CheckDefinition,
  Health,
  HealthOptions,
  HttpMetricsOptions,
  RouterOptions,
} from '@shipshape/health';
import type { Lifecycle, LifecycleOptions, ShutdownReport } from '@shipshape/lifecycle';
import type {
  AccessLogOptions,
  Logger,
  LoggerOptions,
  RequestContextOptions,
} from '@shipshape/logger';
import type {
  CorsOptions,
  CsrfOptions,
  ErrorHandlerOptions,
  IpFilterOptions,
  JsonBodyOptions,
  NotFoundOptions,
  RateLimitOptions,
  RedisCommandClient,
  SecurityHeadersOptions,
  ThreatMonitorOptions,
  TrustProxySetting,
  UrlencodedBodyOptions,
} from '@shipshape/security';
import type { Application } from 'express';

export type NodeEnv = 'development' | 'test' | 'staging' | 'production';

/** The `code` of the `TypeError`s `harden()` throws itself (each part's own errors keep theirs). */
export type UmbrellaErrorCode =
  | 'SHIPSHAPE_UMBRELLA_INVALID_OPTION'
  | 'SHIPSHAPE_UMBRELLA_INVALID_ARGUMENT';

/** What `harden()` does with one part: `false` turns it off, an object configures it. */
export type Part<T> = T | false;

/**
 * Options of `harden(app, options)`. Every part takes the options of the package that provides
 * it (see that package's README); `false` turns the part off. The umbrella fills in what it
 * composes itself (logger, metrics registry, health state, Redis stores, production flags).
 */
export interface HardenOptions {
  /** @default process.env.NODE_ENV, else 'development' */
  readonly env?: NodeEnv;
  /** Service name in logs, `/health/version` and metrics. @default 'app' */
  readonly service?: string;
  /**
   * Service version in logs and `/health/version`.
   * @default the `version` of the app's package.json: the nearest one above the main module
   * (`process.argv[1]`), else above `process.cwd()`; `'0.0.0'` when none can be read. Read once,
   * when `harden()` runs. (Not `npm_package_version`: npm sets it only under `npm run`.)
   */
  readonly version?: string;
  /**
   * A loaded `@shipshape/config` object (or any plain object). It is listed, secrets masked, in
   * the startup report and `/health/detailed`; its secret values are scrubbed from every log line.
   */
  readonly config?: object;
  /**
   * A Redis client shared by the rate limiter and the IP filter (`sendCommand(args)` as node-redis
   * v4+ offers). Without it both keep their state in process memory. It is registered as a
   * non-critical `redis` health check (an outage is `warn`, readiness stays 200); on a client that
   * emits events, `harden()` listens for `'error'` (so an outage never crashes the process) and logs
   * each outage once. `listen()` PINGs it for at most 1 s and starts degraded when it does not
   * answer. See the README for how to create the client.
   */
  readonly redis?: RedisCommandClient;
  /** Prefix of the Redis keys of the rate limiter (`<prefix>rl:`) and IP filter (`<prefix>ip:`). @default 'shipshape:' */
  readonly redisPrefix?: string;
  /** `app.set('trust proxy', …)` through the safe setter: a hop count, 'loopback' or CIDR list. */
  readonly trustProxy?: TrustProxySetting;
  /** A logger from `createLogger()`, or options to create one. Cannot be turned off. */
  readonly logger?: Logger | LoggerOptions;
  readonly requestContext?: Part<RequestContextOptions>;
  readonly securityHeaders?: Part<SecurityHeadersOptions>;
  /** Allowed Host names; off unless given. */
  readonly trustedHosts?: Part<readonly string[]>;
  /** A health registry from `createHealth()`, or options to create one. */
  readonly health?: Part<Health | HealthOptions>;
  /** Extra checks registered on the health registry (e.g. `postgresCheck(pool)`). */
  readonly checks?: readonly CheckDefinition[];
  readonly healthRouter?: RouterOptions;
  readonly httpMetrics?: Part<HttpMetricsOptions>;
  readonly accessLog?: Part<AccessLogOptions>;
  readonly ipFilter?: Part<IpFilterOptions>;
  /** Off unless given: CORS needs an explicit origin list. */
  readonly cors?: Part<CorsOptions>;
  /** @default rateLimit.api preset: 100 requests per minute per client */
  readonly rateLimit?: Part<RateLimitOptions>;
  readonly jsonBody?: Part<JsonBodyOptions>;
  readonly urlencodedBody?: Part<UrlencodedBodyOptions>;
  readonly csrf?: Part<CsrfOptions>;
  /** @default { mode: 'monitor' } */
  readonly threatMonitor?: Part<ThreatMonitorOptions>;
  readonly notFound?: Part<NotFoundOptions>;
  readonly errorHandler?: ErrorHandlerOptions;
  /** Graceful shutdown and readiness gating; `app`, `health` and `logger` are filled in. */
  readonly lifecycle?: Part<Omit<LifecycleOptions, 'app' | 'server' | 'health' | 'logger'>>;
  /** Whether to log the startup report line. @default true */
  readonly startupReport?: boolean;
  /** Warning codes not to report (or `false` for none). */
  readonly warnings?: boolean | readonly string[];
}

/** One line of the startup report: which parts are on, and the coded warnings. */
export interface StartupReport {
  readonly service: string;
  readonly env: NodeEnv;
  readonly parts: Readonly<Record<string, boolean>>;
  readonly stores: {
    readonly rateLimit: 'memory' | 'redis';
    readonly ipFilter: 'memory' | 'redis';
  };
  readonly config?: Readonly<Record<string, unknown>>;
  readonly warnings: readonly { readonly code: string; readonly message: string }[];
}

export interface HardenedService {
  readonly app: Application;
  readonly logger: Logger;
  readonly health: Health | undefined;
  readonly lifecycle: Lifecycle | undefined;
  /** The startup report; warnings found at listen time are added when `listen()` resolves. */
  readonly report: StartupReport;
  /**
   * Mounts `notFound` and `errorHandler` after the routes the app has so far. `listen()` calls it;
   * call it yourself when you hand the app to a test client instead of listening.
   */
  finish(): void;
  /**
   * Finishes the app, starts the lifecycle and resolves once the service is ready. The lifecycle's
   * SIGTERM/SIGINT, `uncaughtException` and `unhandledRejection` handlers are installed here, not
   * by `harden()`.
   */
  listen(port?: number, host?: string): Promise<AddressInfo>;
  /**
   * Undoes `harden()` without draining or exiting: removes the lifecycle's process handlers and
   * timers (`lifecycle.dispose()`) and the listeners on the Redis client, closes the stores it
   * created, the server `listen()` opened (open sockets included), and the health registry and
   * logger when `harden()` created them. Idempotent (every call returns the same promise). For
   * tests: `afterEach(() => service.dispose())`.
   */
  dispose(): Promise<void>;
  /**
   * Drains and stops, as SIGTERM would (exits the process unless `lifecycle.exit` is false); then
   * removes the listeners `harden()` added to the Redis client (the client stays yours to close).
   */
  shutdown(): Promise<ShutdownReport | undefined>;
}
