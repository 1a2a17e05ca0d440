import { createHash, timingSafeEqual } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, resolve } from 'node:path';
import { type Cache, createCache, memoryStore, redisStore, tieredStore } from '@shipshape/cache';
import { diskCheck } from '@shipshape/health';
import { rateLimit, redisRateLimitStore } from '@shipshape/security';
import express, { type Application } from 'express';
import { createClient } from 'redis';
import { type HardenedService, harden } from 'shipshape';
import type { GlassConfig } from '../config.js';
import { createPostgresStorage } from '../storage/postgres.js';
import { createSqliteStorage } from '../storage/sqlite.js';
import type { GlassStorage } from '../types.js';
import { createGlassMetrics } from './metrics.js';
import { createProcessor, type Processor } from './processor.js';
import { datasetsRouter, datasetTag } from './routes.js';

export interface GlassServiceOptions {
  readonly config: GlassConfig;
  /** Overrides `lifecycle` options (tests use `{ exit: false }`). */
  readonly lifecycle?: { readonly exit?: boolean; readonly signals?: readonly NodeJS.Signals[] };
  /** Log to stdout as well as to the rotated files. @default true */
  readonly console?: boolean;
}

export interface GlassService {
  readonly app: Application;
  readonly service: HardenedService;
  readonly storage: GlassStorage;
  readonly processor: Processor;
  readonly cache: Cache;
  /** Starts listening once startup checks pass, then resumes interrupted datasets. */
  listen(): Promise<{ port: number; address: string }>;
}

type RedisClient = ReturnType<typeof createClient>;

function bearer(token: string) {
  const expected = createHash('sha256').update(`Bearer ${token}`).digest();
  return function authorizeAdmin(
    req: IncomingMessage,
    res: ServerResponse,
    next: (err?: unknown) => void,
  ): void {
    const given = createHash('sha256')
      .update(req.headers.authorization ?? '')
      .digest();
    if (timingSafeEqual(given, expected)) {
      next();
      return;
    }
    res.statusCode = 401;
    res.setHeader('WWW-Authenticate', 'Bearer');
    res.setHeader('Content-Type', 'application/problem+json; charset=utf-8');
    res.end(
      JSON.stringify({
        type: 'about:blank',
        title: 'Unauthorized',
        status: 401,
        detail: 'this endpoint needs the admin bearer token (ADMIN_TOKEN)',
      }),
    );
  };
}

/** Builds the whole service on shipshape's public APIs; nothing listens until `listen()`. */
export async function createGlassService(options: GlassServiceOptions): Promise<GlassService> {
  const { config } = options;
  const dataDir = resolve(config.DATA_DIR);
  const uploadDir = join(dataDir, 'uploads');
  mkdirSync(uploadDir, { recursive: true });

  let redis: RedisClient | undefined;
  let subscriber: RedisClient | undefined;
  if (config.REDIS_URL) {
    redis = createClient({ url: config.REDIS_URL });
    redis.on('error', () => undefined); // health checks and circuit breakers report it
    await redis.connect();
  }

  const storage = config.DATABASE_URL
    ? createPostgresStorage({
        connectionString: config.DATABASE_URL,
        schema: config.DATABASE_SCHEMA,
      })
    : createSqliteStorage({ filename: join(dataDir, 'glass.sqlite') });
  await storage.init();

  const app = express();
  const service = harden(app, {
    service: 'glass-standardizer',
    version: '0.1.0',
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
    healthRouter: { authorize: bearer(config.ADMIN_TOKEN) },
    checks: [diskCheck({ path: dataDir, minFreeBytes: 100 * 1024 * 1024 })],
    rateLimit: {
      onStoreError: 'allow',
      probePaths: ['/health', '/metrics', '/_stcore'],
    },
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

  health.register({
    name: `storage:${storage.kind}`,
    fn: async () => {
      await storage.countIsolates('00000000-0000-0000-0000-000000000000');
    },
    critical: true,
    probes: ['readiness'],
    timeoutMs: 2000,
  });

  const l1 = memoryStore({ maxEntries: 1000, maxBytes: 64 * 1024 * 1024 });
  if (redis) subscriber = redis.duplicate();
  const cache = createCache({
    name: 'analytics',
    logger,
    store:
      redis && subscriber
        ? tieredStore(l1, redisStore({ client: redis, prefix: `${config.REDIS_PREFIX}cache:` }), {
            channel: `${config.REDIS_PREFIX}cache:invalidate`,
            subscriber: async () => {
              await subscriber?.connect();
              return subscriber as never;
            },
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
  const processor = createProcessor({
    storage,
    lifecycle,
    logger,
    metrics,
    processOptions: {
      episodeDays: config.EPISODE_DAYS,
      originHospitalDays: config.ORIGIN_HOSPITAL_DAYS,
    },
    onChange: (id) => cache.invalidateTag(datasetTag(id)),
  });

  const uploadLimiter = rateLimit.strict({
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
  app.use(
    '/api/datasets',
    datasetsRouter({
      storage,
      processor,
      cache,
      uploadDir,
      uploadMaxBytes: config.UPLOAD_MAX_BYTES,
      minIsolates: config.MIN_ISOLATES,
      uploadLimiter,
      logger,
    }),
  );
  service.finish();

  // Hooks run last-registered-first, so the Redis clients are registered first and closed last:
  // the cache unsubscribes from its invalidation channel and the stores stop before the clients
  // quit (closing the cache after `quit()` hung until the hook timeout and exited with code 1).
  if (redis) {
    const client = redis;
    lifecycle?.onShutdown('redis', async () => {
      await subscriber?.quit().catch(() => undefined);
      await client.quit();
    });
  }
  lifecycle?.onShutdown('storage', () => storage.close());
  lifecycle?.onShutdown('cache', () => cache.close());
  // Runs first: a dataset the drain cut is recorded as interrupted while the storage is open.
  lifecycle?.onShutdown('datasets', () => processor.interrupt(1000));

  return {
    app,
    service,
    storage,
    processor,
    cache,
    async listen() {
      const address = await service.listen(config.PORT, config.HOST);
      const resumed = await processor.resume();
      if (resumed.length > 0)
        logger.info('re-processing datasets left unfinished', { datasets: resumed });
      return { port: address.port, address: address.address };
    },
  };
}
