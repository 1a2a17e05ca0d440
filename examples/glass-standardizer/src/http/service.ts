import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  type Cache,
  cacheAdminRouter,
  createCache,
  memoryStore,
  redisStore,
  tieredStore,
} from '@shipshape/cache';
import { type AlertRule, diskCheck } from '@shipshape/health';
import { loggerAdminRouter } from '@shipshape/logger';
import {
  ipFilter,
  memoryIpStore,
  principalOf,
  rateLimit,
  redisIpStore,
  redisRateLimitStore,
  requireRole,
  SecurityError,
  type SecurityLogger,
} from '@shipshape/security';
import express, { type Application, type ErrorRequestHandler, type Request } from 'express';
import { createClient } from 'redis';
import { type HardenedService, harden } from 'shipshape';
import { type Access, createAccess } from '../auth/access.js';
import type { GlassConfig } from '../config.js';
import { openApiDocument } from '../openapi.js';
import { createProcessor, type Processor } from '../processing/processor.js';
import { workerRunner } from '../processing/runner.js';
import { guardStorage, StorageError, storageFault } from '../storage/errors.js';
import { openStorage, type StorageDescriptor } from '../storage/open.js';
import { sweepOrphanUploads } from '../storage/uploads.js';
import type { GlassStorage } from '../types.js';
import { consoleRouter } from './console.js';
import { createGlassMetrics } from './metrics.js';
import { createMonitoring, type Monitoring } from './monitoring.js';
import { datasetsRouter, datasetTag } from './routes.js';

// The service's version, from its own package.json (src/http → ../../package.json, same from dist/).
const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

export interface GlassServiceOptions {
  readonly config: GlassConfig;
  /** Overrides `lifecycle` options (tests use `{ exit: false }`). */
  readonly lifecycle?: { readonly exit?: boolean; readonly signals?: readonly NodeJS.Signals[] };
  /** Log to stdout as well as to the rotated files. @default true */
  readonly console?: boolean;
  /**
   * Process datasets in a worker thread (the HTTP thread stays free). Off, they run in this
   * thread: for embedders whose code cannot be loaded in a worker. @default true
   */
  readonly workers?: boolean;
  /** Where a generated development admin key is shown. @default stdout */
  readonly announce?: (text: string) => void;
}

export interface GlassService {
  readonly app: Application;
  readonly service: HardenedService;
  readonly storage: GlassStorage;
  readonly processor: Processor;
  readonly cache: Cache;
  readonly access: Access;
  readonly monitoring: Monitoring;
  /** Removes orphaned uploads, queues the datasets left unfinished, then starts listening. */
  listen(): Promise<{ port: number; address: string }>;
}

type RedisClient = ReturnType<typeof createClient>;

/**
 * A logger for the parts made before `harden()` creates the real one: calls are kept and
 * replayed once it exists (factory-time coded warnings included), then forwarded.
 */
function lateLogger(): SecurityLogger & { attach(target: SecurityLogger): void } {
  let target: SecurityLogger | undefined;
  const queue: [keyof SecurityLogger, string, Record<string, unknown> | undefined][] = [];
  const call =
    (level: keyof SecurityLogger) => (message: string, meta?: Record<string, unknown>) => {
      if (!target) {
        queue.push([level, message, meta]);
        return;
      }
      const fn = target[level] ?? target.warn;
      fn.call(target, message, meta);
    };
  return {
    info: call('info'),
    warn: call('warn'),
    error: call('error'),
    debug: call('debug'),
    security: call('security'),
    attach(logger) {
      target = logger;
      for (const [level, message, meta] of queue.splice(0)) call(level)(message, meta);
    },
  };
}

/** The console's policy: same-origin scripts, styles, images and requests only; no inline code. */
const CONSOLE_CSP = {
  'default-src': ["'none'"],
  'script-src': ["'self'"],
  'style-src': ["'self'"],
  'img-src': ["'self'", 'data:'],
  'connect-src': ["'self'"],
  'font-src': ["'self'"],
  'form-action': ["'self'"],
  'base-uri': ["'none'"],
  'frame-ancestors': ["'none'"],
};

/** Retry-After of a 503 while the storage is down: about how long a restart takes. */
const STORAGE_RETRY_AFTER_S = 5;

/**
 * Storage faults (`StorageError`, and ENOSPC/EIO… raised while an upload is written) as
 * problem+json: 503 `STORAGE_UNAVAILABLE` with Retry-After, or 507 `STORAGE_FULL`. Never the
 * driver's code: that is logged by the error handler with the cause.
 */
function storageErrors(): ErrorRequestHandler {
  return function storageErrorsToProblems(err, _req, res, next) {
    const status = (err as { status?: unknown }).status;
    const fault =
      typeof status === 'number' && status < 500 && !(err instanceof StorageError)
        ? undefined
        : storageFault(err);
    if (!fault || res.headersSent) {
      next(err);
      return;
    }
    next(
      new SecurityError({
        status: fault === 'full' ? 507 : 503,
        code: fault === 'full' ? 'STORAGE_FULL' : 'STORAGE_UNAVAILABLE',
        detail:
          fault === 'full'
            ? 'the disk holding the data is full; nothing was stored — try again once space is freed'
            : 'the data storage is not reachable right now; nothing was changed — retry shortly',
        ...(fault === 'full' ? {} : { headers: { 'Retry-After': String(STORAGE_RETRY_AFTER_S) } }),
        cause: err,
      }),
    );
  };
}

/**
 * A node-redis client that never hangs or crashes the service: commands fail at once while it is
 * disconnected (no offline queue; the stores' circuit breakers and fail-open policies take over)
 * and it reconnects on its own with a capped, jittered backoff. `harden()` listens for its errors
 * and logs each outage once (`SHIPSHAPE_UMBRELLA_REDIS_CONNECTION_LOST`) and its return.
 */
function redisClient(url: string): RedisClient {
  return createClient({
    url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 2000,
      reconnectStrategy: (retries: number) =>
        Math.min(50 * 2 ** retries, 2000) + Math.floor(Math.random() * 100),
    },
  });
}

/** Builds the whole service on shipshape's public APIs; nothing listens until `listen()`. */
export async function createGlassService(options: GlassServiceOptions): Promise<GlassService> {
  const { config } = options;
  const dataDir = resolve(config.DATA_DIR);
  const uploadDir = join(dataDir, 'uploads');
  mkdirSync(uploadDir, { recursive: true });

  const descriptor: StorageDescriptor = config.DATABASE_URL
    ? { kind: 'postgres', connectionString: config.DATABASE_URL, schema: config.DATABASE_SCHEMA }
    : { kind: 'sqlite', filename: join(dataDir, 'glass.sqlite') };
  // The storage opens before harden() makes the logger (a storage that cannot be opened stops
  // the start with its own message); its state changes are logged from then on.
  let log: {
    warn(message: string, meta?: Record<string, unknown>): unknown;
    info(message: string, meta?: Record<string, unknown>): unknown;
  } = { warn: () => undefined, info: () => undefined };
  const raw = openStorage(descriptor, {
    onConnectionError: (error) => log.warn('PostgreSQL connection error', { error: error.message }),
  });
  const storage = guardStorage(raw, {
    onStateChange: (state, error) =>
      state === 'down'
        ? log.warn('storage unavailable; API answers 503 until it is back', {
            error: error?.message,
            driverCode: error?.driverCode,
          })
        : log.info('storage answers again'),
  });
  // A storage that cannot be opened at start stops the start (main.ts: one line, exit 69).
  await storage.init();

  const app = express();
  const redis = config.REDIS_URL ? redisClient(config.REDIS_URL) : undefined;
  // Connecting is not awaited: Redis down at start must not hang it. harden() waits up to 1 s
  // for it in listen() and otherwise starts degraded (SHIPSHAPE_UMBRELLA_REDIS_UNREACHABLE).
  redis?.on('error', () => undefined);
  redis?.connect().catch(() => undefined);

  // Auto-block: harden()'s ipFilter and this feeder share one store, so rate-limit hits and threat
  // findings (fed by harden's limiter and threatMonitor) and sign-in throttling count towards one
  // block.
  const production = config.NODE_ENV === 'production' || config.NODE_ENV === 'staging';
  const security = lateLogger();
  const autoBlock =
    config.IP_AUTOBLOCK_HITS > 0
      ? {
          hits: config.IP_AUTOBLOCK_HITS,
          windowMs: config.IP_AUTOBLOCK_WINDOW,
          blockMs: config.IP_AUTOBLOCK_DURATION,
        }
      : false;
  const ipStore = redis
    ? redisIpStore(redis, { prefix: `${config.REDIS_PREFIX}ip:` })
    : memoryIpStore();
  const blocks = ipFilter({
    autoBlock,
    store: ipStore,
    onStoreError: 'allow',
    logger: security,
    warnings: false,
  });
  const access = createAccess({
    config,
    dataDir,
    logger: security,
    ipFilter: blocks,
    ...(redis ? { redis } : {}),
    ...(options.announce ? { announce: options.announce } : {}),
  });
  const alerts: AlertRule[] = [
    {
      name: 'response_time',
      metric: 'p95LatencyMs',
      threshold: config.ALERT_RESPONSE_TIME_MS,
      forMs: config.ALERT_FOR,
    },
    { name: 'memory', metric: 'rssBytes', threshold: config.ALERT_MEMORY, forMs: config.ALERT_FOR },
    {
      name: 'cpu',
      metric: 'cpuPercent',
      threshold: config.ALERT_CPU_PERCENT,
      forMs: config.ALERT_FOR,
    },
    {
      name: 'error_rate',
      metric: 'errorRate',
      threshold: config.ALERT_ERROR_RATE,
      forMs: config.ALERT_FOR,
    },
  ];
  const isStatic = (req: Request) => req.path.startsWith('/assets/');
  const service = harden(app, {
    service: 'glass-standardizer',
    version: VERSION,
    config,
    ...(redis ? { redis, redisPrefix: config.REDIS_PREFIX } : {}),
    ...(config.TRUST_PROXY
      ? {
          trustProxy: /^\d+$/.test(config.TRUST_PROXY)
            ? Number(config.TRUST_PROXY)
            : config.TRUST_PROXY.includes(',')
              ? config.TRUST_PROXY.split(',').map((s) => s.trim())
              : config.TRUST_PROXY,
        }
      : {}),
    logger: {
      level: config.LOG_LEVEL,
      console: options.console ?? true,
      files: { dir: resolve(config.LOG_DIR) },
    },
    healthRouter: access.health,
    health: {
      refreshIntervalMs: config.HEALTH_CHECK_INTERVAL,
      alerts,
      alertIntervalMs: 5000,
      ...(config.ALERT_WEBHOOK_URL ? { alertWebhook: { url: config.ALERT_WEBHOOK_URL } } : {}),
    },
    securityHeaders: { contentSecurityPolicy: CONSOLE_CSP },
    ipFilter: { autoBlock, store: ipStore, onStoreError: 'allow' },
    checks: [
      diskCheck({
        name: 'disk:data',
        path: dataDir,
        minFreeBytes: config.DATA_DIR_MIN_FREE,
        minFreeRatio: 0,
        critical: true,
        probes: ['readiness'],
        timeoutMs: 500,
      }),
    ],
    rateLimit: {
      limit: config.RATE_LIMIT_API,
      windowMs: config.RATE_LIMIT_WINDOW,
      onStoreError: 'allow',
      probePaths: ['/health', '/metrics', '/_stcore'],
      // The console's scripts and styles are static files served from memory.
      skip: isStatic,
    },
    // Console requests carry the session cookie: the CSRF token fallback is bound to the session.
    // Requests without that cookie that send Authorization carry no ambient credential.
    csrf: {
      token: 'fallback',
      secret: access.csrfSecret,
      sessionId: (req) => access.sessions.sessionId(req),
      cookie: { secure: production },
      skip: (req) => !access.sessions.hasCookie(req) && req.headers.authorization !== undefined,
    },
    // Its findings feed harden's ipFilter auto-block, like rate-limit hits.
    threatMonitor: { mode: config.THREAT_MODE },
    ...(config.CORS_ORIGINS.length > 0 ? { cors: { origins: config.CORS_ORIGINS } } : {}),
    // Uploads are multipart; the JSON parser must not see them.
    jsonBody: { limit: '100kb' },
    lifecycle: {
      drainTimeoutMs: config.DRAIN_TIMEOUT_MS,
      ...(config.READINESS_DELAY_MS !== undefined
        ? { readinessDelayMs: config.READINESS_DELAY_MS }
        : {}),
      ...options.lifecycle,
    },
  });
  const { logger, health, lifecycle } = service;
  if (!health) throw new Error('glass-standardizer: the health registry is required');
  log = logger;
  security.attach(logger);

  health.register({
    name: `storage:${storage.kind}`,
    fn: () => storage.ping(),
    critical: true,
    probes: ['readiness'],
    timeoutMs: 500,
  });

  const l1 = memoryStore({ maxEntries: 1000, maxBytes: 64 * 1024 * 1024 });
  const cache = createCache({
    name: 'analytics',
    logger,
    store: redis
      ? tieredStore(l1, redisStore({ client: redis, prefix: `${config.REDIS_PREFIX}cache:` }), {
          channel: `${config.REDIS_PREFIX}cache:invalidate`,
          // Not connected: the store listens for its errors first, connects it, and closes it.
          subscriber: () => redis.duplicate() as never,
        })
      : l1,
  });
  cache.metrics(health.registry);
  health.register({
    name: 'cache',
    fn: cache.healthCheck(),
    critical: false,
    probes: ['readiness'],
  });

  const metrics = createGlassMetrics(health.registry);
  const processOptions = {
    episodeDays: config.EPISODE_DAYS,
    originHospitalDays: config.ORIGIN_HOSPITAL_DAYS,
  };
  const processor = createProcessor({
    storage,
    lifecycle,
    logger,
    metrics,
    ...(options.workers === false
      ? { processOptions }
      : {
          runner: workerRunner({
            storage: descriptor,
            processOptions,
            logger,
            space: { path: dataDir, minFreeBytes: config.DATA_DIR_MIN_FREE },
          }),
        }),
    onChange: (id) => cache.invalidateTag(datasetTag(id)),
  });

  const uploadLimiter = rateLimit.strict({
    limit: config.RATE_LIMIT_UPLOADS,
    windowMs: config.RATE_LIMIT_WINDOW,
    ipFilter: blocks,
    logger,
    app,
    registry: health.registry,
    onStoreError: 'allow',
    ...(redis
      ? { store: redisRateLimitStore(redis, { prefix: `${config.REDIS_PREFIX}rl:upload:` }) }
      : {}),
  });

  app.get('/_stcore/health', async (_req, res) => {
    const report = await health.report('liveness');
    res.status(report.httpStatus).set('Cache-Control', 'no-store').json({ status: report.status });
  });
  const monitoring = createMonitoring(health);
  const isAdmin = (req: unknown) => principalOf(req as object)?.roles.includes('admin') ?? false;
  app.get('/openapi.json', (_req, res) => {
    res.set('Cache-Control', 'no-cache').json(openApiDocument(VERSION));
  });
  app.use(consoleRouter({ auth: access.auth, reload: config.NODE_ENV === 'development' }));
  // Every API request needs a principal: a console session, an API key or an OIDC token.
  app.use('/api', access.auth);
  app.use('/api/admin', requireRole('admin'));
  app.use('/api/admin/monitoring', monitoring.router);
  app.use('/api/admin/caches', cacheAdminRouter({ caches: [cache], authorize: isAdmin }));
  app.use('/api/admin', loggerAdminRouter({ logger, authorize: isAdmin }));
  app.use(
    '/api/datasets',
    datasetsRouter({
      draining: () => health.state !== 'ready',
      storage,
      processor,
      cache,
      uploadDir,
      uploadMaxBytes: config.UPLOAD_MAX_BYTES,
      minIsolates: config.MIN_ISOLATES,
      uploadLimiter,
      minFreeBytes: config.DATA_DIR_MIN_FREE,
      ...(options.workers === false ? {} : { exportStorage: descriptor }),
      logger,
    }),
  );
  app.use(storageErrors());
  service.finish();

  const sweep = async (graceMs: number) => {
    try {
      const removed = await sweepOrphanUploads({ storage, dir: uploadDir, graceMs });
      if (removed.length > 0)
        logger.info('removed uploads no dataset refers to', { files: removed.length });
    } catch (error) {
      if (!storageFault(error)) logger.warn('upload sweep failed', { error });
    }
  };
  // After the start, uploads of this instance may be between their last byte and their row.
  const sweeper = setInterval(
    () => void sweep(Math.max(config.ORPHAN_UPLOAD_GRACE_MS, 60_000)),
    60_000,
  );
  sweeper.unref();

  // Hooks run last-registered-first, so the Redis clients are registered first and closed last:
  // the cache unsubscribes from its invalidation channel and the stores stop before the clients
  // quit (closing the cache after `quit()` hung until the hook timeout and exited with code 1).
  if (redis) {
    const client = redis;
    lifecycle?.onShutdown('redis', async () => {
      // close() waits for pending replies; a client that is reconnecting has none and would wait
      // for the connection forever, so it is destroyed instead.
      if (client.isReady) await client.close().catch(() => client.destroy());
      else if (client.isOpen) client.destroy();
    });
  }
  lifecycle?.onShutdown('storage', () => storage.close());
  lifecycle?.onShutdown('auth', async () => {
    monitoring.close();
    await access.close();
    await blocks.close();
  });
  lifecycle?.onShutdown('cache', () => cache.close());
  // Runs first: a dataset the drain cut is recorded as interrupted while the storage is open.
  lifecycle?.onShutdown('datasets', async () => {
    clearInterval(sweeper);
    processor.close();
    await processor.interrupt(1000);
  });

  return {
    app,
    service,
    storage,
    processor,
    cache,
    access,
    monitoring,
    async listen() {
      // Before the first request: no upload of this instance is in flight yet, and a client
      // never sees a resumed dataset as still `interrupted`.
      await sweep(config.ORPHAN_UPLOAD_GRACE_MS);
      const resumed = await processor.resume();
      if (resumed.length > 0)
        logger.info('re-processing datasets left unfinished', { datasets: resumed });
      const address = await service.listen(config.PORT, config.HOST);
      return { port: address.port, address: address.address };
    },
  };
}
