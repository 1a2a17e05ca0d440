import type { NextFunction, Request, RequestHandler, Response } from 'express';
import expressRateLimit, {
  type ClientRateLimitInfo,
  type Options as ErlOptions,
  type IncrementResponse,
  ipKeyGenerator,
  type RateLimitInfo,
  type Store,
} from 'express-rate-limit';
import { type RedisReply, RedisStore } from 'rate-limit-redis';
import { type Circuit, CircuitOpenError, createCircuit } from './circuit.js';
import { guardErrors } from './connection.js';
import {
  clientAddress,
  counterIn,
  createEventThrottle,
  DEFAULT_PROBE_PATHS,
  describeValue,
  isPositiveInteger,
  matchesPathPrefix,
  requestPath,
  resolveProduction,
} from './edge.js';
import { type LimiterClient, MemoryLimiter, partitionKey } from './memory-limiter.js';
import { optionError } from './options.js';
import { SecurityError, sendProblem } from './problem.js';
import { type AppSettings, assertSafeTrustProxy, checkProxy } from './proxy.js';
import {
  emitSecurityEvent,
  type MetricsRegistry,
  type RedisCommandClient,
  type SecurityLogger,
} from './types.js';
import { createWarner, type Warner, type WarningsOption, warnUnknownOptions } from './warnings.js';

/** A rate-limit store: express-rate-limit's `Store` interface. */
export type RateLimitStore = Store;

/** What `rateLimit` feeds on each limited request (an `ipFilter()` instance satisfies it). */
export interface LimitHitSink {
  recordLimitHit(ip: string): unknown;
}

export interface RateLimitOptions {
  /** Requests allowed per window per client. @default 100 */
  readonly limit?: number;
  /** Window length in milliseconds. @default 60000 */
  readonly windowMs?: number;
  /** Name used in the `RateLimit-Policy` header, the metric label and events. @default 'default' */
  readonly name?: string;
  /** `'memory'` (one process) or a shared store such as `redisRateLimitStore(client)`. @default 'memory' */
  readonly store?: 'memory' | RateLimitStore;
  /**
   * When the store fails or does not answer within `storeTimeoutMs`, and while its circuit is
   * open: `'allow'` lets the request through (fail open), `'deny'` answers 503 (fail closed).
   * @default 'allow' (with warning SHIPSHAPE_SECURITY_STORE_ERROR_POLICY in production, for a
   * store that can fail: not the memory store or another `localKeys` store)
   */
  readonly onStoreError?: 'allow' | 'deny';
  /**
   * How long a call to a shared store may take before it counts as failed. A healthy Redis on a
   * LAN answers in well under a millisecond; node-redis never times out a command it has written.
   * @default 100
   */
  readonly storeTimeoutMs?: number;
  /**
   * Consecutive store failures that open the circuit: the store is then not called (requests
   * follow `onStoreError` at once) until one probe after `storeCooldownMs` succeeds.
   * @default 3
   */
  readonly storeFailureThreshold?: number;
  /** Milliseconds the circuit stays open before one probe call. @default 2000 */
  readonly storeCooldownMs?: number;
  /** IPv6 prefix length one client key covers (`false`: the full address). @default 56 */
  readonly ipv6Subnet?: number | false;
  /** Custom client key (e.g. an API key); fall back to `ipKeyGenerator(req.ip)`. @default client IP (IPv6 masked) */
  readonly keyGenerator?: (req: Request, res: Response) => string | Promise<string>;
  /** Path prefixes never limited (probes). @default ['/health', '/healthz', '/livez', '/readyz', '/metrics'] */
  readonly probePaths?: readonly string[];
  /** Extra requests to leave unlimited. @default none */
  readonly skip?: (req: Request) => boolean;
  /** Receives each limited client IP, e.g. an `ipFilter()` with `autoBlock`. @default none */
  readonly ipFilter?: LimitHitSink;
  /** prom-client Registry for `shipshape_security_rate_limited_total{limiter}`. @default none */
  readonly registry?: MetricsRegistry;
  /** Logger for `rate_limited` events, store errors and warnings. @default process.emitWarning for warnings */
  readonly logger?: SecurityLogger;
  /** Production mode (store-policy warning). @default process.env.NODE_ENV === 'production' */
  readonly production?: boolean;
  /** When given, `trust proxy` = true is refused at factory time instead of at the first request. */
  readonly app?: AppSettings;
  /** Switch coded warnings off (`false`) or some of them. @default true */
  readonly warnings?: WarningsOption;
}

const knownOptions: { readonly [K in keyof Required<RateLimitOptions>]: true } = {
  limit: true,
  windowMs: true,
  name: true,
  store: true,
  onStoreError: true,
  storeTimeoutMs: true,
  storeFailureThreshold: true,
  storeCooldownMs: true,
  ipv6Subnet: true,
  keyGenerator: true,
  probePaths: true,
  skip: true,
  ipFilter: true,
  registry: true,
  logger: true,
  production: true,
  app: true,
  warnings: true,
};

/** The middleware returned by `rateLimit()`. */
export interface RateLimitMiddleware extends RequestHandler {
  readonly limit: number;
  readonly windowMs: number;
  /** Forgets a client's count (key as produced by the key generator). */
  resetKey(key: string): Promise<void>;
  /** A client's current count and reset time. */
  getKey(key: string): Promise<ClientRateLimitInfo | undefined>;
  /** Stops the memory store's timer; shared stores are left to their owner. */
  close(): Promise<void>;
}

class StoreUnavailableError extends Error {
  constructor(cause: unknown) {
    super('rate limit store unavailable', { cause });
    this.name = 'StoreUnavailableError';
  }
}

/**
 * Wraps a shared store in a circuit breaker (timeout per call, fail fast while open, one probe per
 * cool-down), turns every failure into one recognisable error, and re-runs `init` after a failure
 * within the same time budget (rate-limit-redis keeps a rejected or never-answered script-load
 * promise forever otherwise, so a limiter started while Redis was down would never recover).
 */
class GuardedStore implements Store {
  readonly localKeys?: boolean;
  readonly prefix?: string;
  private initOptions: ErlOptions | undefined;
  private needsInit = false;

  constructor(
    readonly inner: Store,
    readonly circuit: Circuit,
  ) {
    if (inner.localKeys !== undefined) this.localKeys = inner.localKeys;
    if (inner.prefix !== undefined) this.prefix = inner.prefix;
  }

  init(options: ErlOptions): void | Promise<void> {
    this.initOptions = options;
    if (!this.inner.init) return;
    try {
      const result = this.inner.init(options);
      if (result instanceof Promise)
        return result.catch(() => {
          this.needsInit = true;
        });
    } catch {
      this.needsInit = true;
    }
  }

  private async call<T>(fn: () => T | Promise<T>): Promise<T> {
    try {
      return await this.circuit.run(async () => {
        if (this.needsInit && this.inner.init && this.initOptions) {
          await this.inner.init(this.initOptions);
          this.needsInit = false;
        }
        return fn();
      });
    } catch (error) {
      if (this.inner.init && !(error instanceof CircuitOpenError)) this.needsInit = true;
      throw new StoreUnavailableError(error);
    }
  }

  increment(key: string): Promise<IncrementResponse> {
    return this.call(() => this.inner.increment(key));
  }
  async decrement(key: string): Promise<void> {
    await this.call(() => this.inner.decrement(key));
  }
  async resetKey(key: string): Promise<void> {
    await this.call(() => this.inner.resetKey(key));
  }
  get(key: string): Promise<ClientRateLimitInfo | undefined> {
    const inner = this.inner;
    return this.call(() => (inner.get ? inner.get(key) : undefined));
  }
  async shutdown(): Promise<void> {
    await this.inner.shutdown?.();
  }
}

export interface RedisRateLimitStoreOptions {
  /** Key prefix in Redis. @default 'shipshape:rl:' */
  readonly prefix?: string;
}

/**
 * A shared rate-limit store in Redis (rate-limit-redis). `client` is anything with
 * `sendCommand(args: string[])` — a node-redis v4+ client as is. Use one store per limiter.
 */
export function redisRateLimitStore(
  client: RedisCommandClient,
  options: RedisRateLimitStoreOptions = {},
): RateLimitStore {
  warnUnknownOptions(createWarner(undefined, undefined), 'redisRateLimitStore', options, {
    prefix: true,
  } satisfies { readonly [K in keyof Required<RedisRateLimitStoreOptions>]: true });
  if (!client || typeof client.sendCommand !== 'function')
    throw optionError(
      `@shipshape/security: redisRateLimitStore needs a client with sendCommand(args: string[]) (node-redis v4+), got ${describeValue(client)}`,
    );
  const prefix = options.prefix ?? 'shipshape:rl:';
  if (typeof prefix !== 'string')
    throw optionError(
      `@shipshape/security: redisRateLimitStore "prefix" must be a string, got ${describeValue(prefix)}`,
    );
  const store: RateLimitStore = new RedisStore({
    prefix,
    sendCommand: (...args: string[]) => client.sendCommand(args) as Promise<RedisReply>,
  });
  // A node-redis client without an 'error' listener would crash the process when its connection
  // drops; the limiter reports outages itself. shutdown() removes the listener (never the client).
  let release = guardErrors(client);
  store.shutdown = () => {
    release?.();
    release = undefined;
  };
  return store;
}

function isStore(value: unknown): value is Store {
  const s = value as Partial<Store> | null;
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof s.increment === 'function' &&
    typeof s.decrement === 'function' &&
    typeof s.resetKey === 'function'
  );
}

function createRateLimit(options: RateLimitOptions = {}): RateLimitMiddleware {
  const warner = createWarner(options.logger, options.warnings);
  warnUnknownOptions(warner, 'rateLimit', options, knownOptions, { metrics: 'registry' });
  const fail = (option: string, want: string, got: unknown): never => {
    throw optionError(
      `@shipshape/security: rateLimit "${option}" must be ${want}, got ${describeValue(got)}`,
    );
  };

  const limit = options.limit ?? 100;
  if (!isPositiveInteger(limit)) fail('limit', 'a positive integer', limit);
  const windowMs = options.windowMs ?? 60_000;
  if (!isPositiveInteger(windowMs) || windowMs > 2 ** 31 - 1)
    fail('windowMs', 'a positive integer of milliseconds (at most 2147483647)', windowMs);
  const name = options.name ?? 'default';
  if (typeof name !== 'string' || !/^[\w.-]{1,64}$/.test(name))
    fail('name', 'letters, digits, "_", "." or "-" (1-64 characters)', name);
  const storeTimeoutMs = options.storeTimeoutMs ?? 100;
  if (!isPositiveInteger(storeTimeoutMs))
    fail('storeTimeoutMs', 'a positive integer of milliseconds', storeTimeoutMs);
  const storeFailureThreshold = options.storeFailureThreshold ?? 3;
  if (!isPositiveInteger(storeFailureThreshold))
    fail('storeFailureThreshold', 'a positive integer', storeFailureThreshold);
  const storeCooldownMs = options.storeCooldownMs ?? 2000;
  if (!isPositiveInteger(storeCooldownMs))
    fail('storeCooldownMs', 'a positive integer of milliseconds', storeCooldownMs);
  const ipv6Subnet = options.ipv6Subnet ?? 56;
  if (ipv6Subnet !== false && (!Number.isInteger(ipv6Subnet) || ipv6Subnet < 1 || ipv6Subnet > 128))
    fail('ipv6Subnet', 'an integer from 1 to 128, or false', ipv6Subnet);
  const onStoreError = options.onStoreError;
  if (onStoreError !== undefined && onStoreError !== 'allow' && onStoreError !== 'deny')
    fail('onStoreError', "'allow' or 'deny'", onStoreError);
  const storeOption = options.store ?? 'memory';
  if (storeOption !== 'memory' && !isStore(storeOption))
    fail(
      'store',
      "'memory' or a Store (increment/decrement/resetKey), e.g. redisRateLimitStore(client)",
      storeOption,
    );
  const probePaths = options.probePaths ?? DEFAULT_PROBE_PATHS;
  if (
    !Array.isArray(probePaths) ||
    !probePaths.every((p) => typeof p === 'string' && p.startsWith('/'))
  )
    fail('probePaths', 'an array of paths starting with "/"', probePaths);
  for (const fn of ['keyGenerator', 'skip'] as const)
    if (options[fn] !== undefined && typeof options[fn] !== 'function')
      fail(fn, 'a function', options[fn]);
  if (options.ipFilter !== undefined && typeof options.ipFilter?.recordLimitHit !== 'function')
    fail(
      'ipFilter',
      'an object with recordLimitHit(ip), such as ipFilter({ autoBlock })',
      options.ipFilter,
    );
  if (options.app) assertSafeTrustProxy(options.app);

  const production = resolveProduction(options.production);
  const policy = onStoreError ?? 'allow';
  // Only a store that can fail needs a failure policy: the memory store (and any store that says
  // it keeps its keys in this process, express-rate-limit's `localKeys`) never does.
  const storeCanFail = storeOption !== 'memory' && storeOption.localKeys !== true;
  if (onStoreError === undefined && production && storeCanFail)
    warner.warn(
      'SHIPSHAPE_SECURITY_STORE_ERROR_POLICY',
      `rateLimit "${name}" has no "onStoreError"; it fails open ('allow') when the store is down. Set onStoreError: 'allow' or 'deny' explicitly`,
      { limiter: name },
    );

  const logger = options.logger;
  const counter = counterIn(
    options.registry,
    'shipshape_security_rate_limited_total',
    'Requests rejected with 429 by a rate limiter',
    ['limiter'],
  );
  const storeErrors = counterIn(
    options.registry,
    'shipshape_security_rate_limit_store_errors_total',
    'Rate limiter store calls that failed or timed out',
    ['limiter', 'policy'],
  );
  // The in-process store answers synchronously and cannot hang or lose a connection, so it is not
  // wrapped: the guard costs a promise and a timer per request.
  const circuit =
    storeOption === 'memory'
      ? undefined
      : createCircuit(
          {
            label: `rateLimit "${name}" store`,
            timeoutMs: storeTimeoutMs,
            failureThreshold: storeFailureThreshold,
            cooldownMs: storeCooldownMs,
          },
          {
            onClose() {
              logger?.info(
                `@shipshape/security: rateLimit "${name}" store is back; limiting again`,
                {
                  limiter: name,
                },
              );
              // The next outage is news again.
              warner.rearm('SHIPSHAPE_SECURITY_STORE_ERROR');
            },
          },
        );
  const userKey = options.keyGenerator;
  const skipUser = options.skip;
  const sink = options.ipFilter;
  const shouldLog = createEventThrottle();

  const clientKey = (req: Request, res: Response): string | Promise<string> => {
    if (userKey) return userKey(req, res);
    const ip = clientAddress(req);
    if (ip === undefined) return 'unknown';
    // ipKeyGenerator changes only IPv6 addresses (masked to the subnet); an address without ':'
    // is returned as is, so skip its IPv6 regular expression (~1.3 µs per request in profiles).
    return ip.includes(':') ? ipKeyGenerator(ip, ipv6Subnet) : ip;
  };

  /** The 429: counter, event, auto-block feed and problem+json with Retry-After. */
  const refuse = (req: Request, res: Response, key: string | undefined, resetMs: number) => {
    const retryAfter = Math.max(1, Math.ceil(resetMs / 1000));
    const ip = clientAddress(req);
    counter?.inc({ limiter: name });
    if (shouldLog(key ?? ip ?? 'unknown'))
      emitSecurityEvent(logger, 'rate_limited', {
        limiter: name,
        ip,
        key,
        method: req.method,
        path: requestPath(req),
        limit,
        windowMs,
      });
    if (sink && ip !== undefined) {
      try {
        Promise.resolve(sink.recordLimitHit(ip)).catch(() => undefined);
      } catch {
        // The auto-block feed must not break the 429.
      }
    }
    sendProblem(
      req,
      res,
      new SecurityError({
        status: 429,
        code: 'RATE_LIMITED',
        detail: `Rate limit of ${limit} requests per ${windowMs / 1000} s exceeded; retry after ${retryAfter} s.`,
        headers: { 'Retry-After': String(retryAfter) },
      }),
    );
  };

  if (storeOption === 'memory') {
    const memory = new MemoryLimiter(windowMs);
    return finishMiddleware(
      memoryRateLimit({
        memory,
        limit,
        windowMs,
        name,
        probePaths,
        skipUser,
        clientKey,
        refuse,
        warner,
        logger,
      }),
      {
        resetKey: async (key) => memory.resetKey(key),
        getKey: async (key) => memory.get(key),
        close: async () => memory.close(),
      },
    );
  }

  const store: Store = new GuardedStore(storeOption, circuit as Circuit);
  const erl = expressRateLimit({
    limit,
    windowMs,
    store,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    identifier: name,
    passOnStoreError: false,
    validate: { trustProxy: false, xForwardedForHeader: false, forwardedHeader: false, ip: false },
    logger: {
      warn: (error, message) =>
        logger?.warn(`@shipshape/security: ${message ?? 'rate limiter'}`, { error }),
      error: (error, message) =>
        logger?.error(`@shipshape/security: ${message ?? 'rate limiter'}`, { error }),
    },
    skip: (req) => matchesPathPrefix(requestPath(req), probePaths) || (skipUser?.(req) ?? false),
    keyGenerator: clientKey,
    handler: (req, res) => {
      const info = (req as Request & { rateLimit?: RateLimitInfo }).rateLimit;
      const resetMs = info?.resetTime ? info.resetTime.getTime() - Date.now() : windowMs;
      refuse(req, res, info?.key, resetMs);
    },
  });

  const storeFailed = (req: Request, res: Response, next: NextFunction, cause: unknown) => {
    storeErrors?.inc({ limiter: name, policy });
    warner.warn(
      'SHIPSHAPE_SECURITY_STORE_ERROR',
      `rateLimit "${name}" store failed (${cause instanceof Error ? cause.message : String(cause)}); requests are ${policy === 'allow' ? 'allowed without limiting' : 'refused with 503'} until it recovers (after ${storeFailureThreshold} failures in a row the store is not called for ${storeCooldownMs} ms at a time)`,
      { limiter: name, policy },
    );
    if (policy === 'allow') {
      next();
      return;
    }
    sendProblem(
      req,
      res,
      new SecurityError({
        status: 503,
        code: 'RATE_LIMIT_STORE_UNAVAILABLE',
        detail: 'The rate limiter cannot reach its store; try again shortly.',
        headers: { 'Retry-After': String(Math.max(1, Math.ceil(storeCooldownMs / 1000))) },
      }),
    );
  };

  const middleware = function rateLimitMiddleware(
    req: Request,
    res: Response,
    next: NextFunction,
  ): void {
    if (matchesPathPrefix(requestPath(req), probePaths)) {
      next();
      return;
    }
    const proxyError = checkProxy(req, warner);
    if (proxyError) {
      logger?.error((proxyError.cause as Error).message, { code: 'TRUST_PROXY_ALL' });
      sendProblem(req, res, proxyError);
      return;
    }
    // Circuit open: answer by the policy at once, without a store call, promise or timer.
    const refused = circuit?.refuse();
    if (refused) {
      storeFailed(req, res, next, refused);
      return;
    }
    erl(req, res, (err?: unknown) => {
      if (err instanceof StoreUnavailableError) {
        storeFailed(req, res, next, err.cause);
        return;
      }
      if (err !== undefined) next(err);
      else next();
    });
  } as RateLimitMiddleware;

  return finishMiddleware(middleware, {
    resetKey: async (key) => {
      await store.resetKey(key);
    },
    getKey: async (key) => store.get?.(key),
    // A shared store belongs to its owner.
    close: async () => undefined,
  });

  function finishMiddleware(
    handler: RequestHandler,
    methods: Pick<RateLimitMiddleware, 'resetKey' | 'getKey' | 'close'>,
  ): RateLimitMiddleware {
    const m = handler as RateLimitMiddleware;
    Object.defineProperties(m, {
      limit: { value: limit, enumerable: true },
      windowMs: { value: windowMs, enumerable: true },
    });
    return Object.assign(m, methods);
  }
}

interface MemoryRateLimitConfig {
  readonly memory: MemoryLimiter;
  readonly limit: number;
  readonly windowMs: number;
  readonly name: string;
  readonly probePaths: readonly string[];
  readonly skipUser: ((req: Request) => boolean) | undefined;
  readonly clientKey: (req: Request, res: Response) => string | Promise<string>;
  readonly refuse: (req: Request, res: Response, key: string, resetMs: number) => void;
  readonly warner: Warner;
  readonly logger: SecurityLogger | undefined;
}

/**
 * The memory-store limiter without express-rate-limit's per-request machinery (an async handler
 * with five awaits, a SHA-256 of the key, a `req.rateLimit` object): the same count, the same
 * draft-8 `RateLimit` / `RateLimit-Policy` bytes, the same `Retry-After` and 429, answered
 * synchronously. The partition key is hashed once per client window, not per request.
 */
function memoryRateLimit(config: MemoryRateLimitConfig) {
  const { memory, limit, windowMs, name, probePaths, skipUser, clientKey, refuse } = config;
  const quotedName = `"${name}"; `;
  const policyTail = `; w=${Math.ceil(windowMs / 1000)}; pk=:`;

  // res.append() (express-rate-limit's call) concatenates with a value already set by another
  // limiter; the first limiter of a response sets the header directly, which is the same bytes.
  const append = (res: Response, header: string, value: string) => {
    if (res.getHeader(header) === undefined) res.setHeader(header, value);
    else res.append(header, value);
  };

  const count = (req: Request, res: Response, next: NextFunction, key: string) => {
    const now = Date.now();
    const client: LimiterClient = memory.hit(key, now);
    const hits = client.totalHits;
    const resetSeconds = Math.max(0, Math.ceil((client.resetMs - now) / 1000));
    if (!res.headersSent) {
      if (client.policy === undefined)
        client.policy = `${quotedName}q=${limit}${policyTail}${partitionKey(key)}:`;
      append(
        res,
        'RateLimit',
        `${quotedName}r=${limit > hits ? limit - hits : 0}; t=${resetSeconds}`,
      );
      append(res, 'RateLimit-Policy', client.policy);
    }
    if (hits > limit) {
      if (!res.headersSent) res.setHeader('Retry-After', String(resetSeconds));
      refuse(req, res, key, client.resetMs - Date.now());
      return;
    }
    next();
  };

  return function rateLimitMiddleware(req: Request, res: Response, next: NextFunction): void {
    if (matchesPathPrefix(requestPath(req), probePaths)) {
      next();
      return;
    }
    const proxyError = checkProxy(req, config.warner);
    if (proxyError) {
      config.logger?.error((proxyError.cause as Error).message, { code: 'TRUST_PROXY_ALL' });
      sendProblem(req, res, proxyError);
      return;
    }
    let key: string | Promise<string>;
    try {
      if (skipUser?.(req)) {
        next();
        return;
      }
      key = clientKey(req, res);
    } catch (error) {
      next(error);
      return;
    }
    if (typeof key === 'string') count(req, res, next, key);
    else key.then((k) => count(req, res, next, k), next);
  };
}

/** express-rate-limit v8 with problem+json 429s, draft-8 headers and an explicit store policy. */
export const rateLimit: typeof createRateLimit & {
  /** General API preset: 100 requests per minute (override any option). */
  api(options?: RateLimitOptions): RateLimitMiddleware;
  /** Strict preset for login, uploads and other costly routes: 10 requests per minute. */
  strict(options?: RateLimitOptions): RateLimitMiddleware;
} = Object.assign(createRateLimit, {
  api: (options: RateLimitOptions = {}) =>
    createRateLimit({ limit: 100, windowMs: 60_000, name: 'api', ...options }),
  strict: (options: RateLimitOptions = {}) =>
    createRateLimit({ limit: 10, windowMs: 60_000, name: 'strict', ...options }),
});
