import express from 'express';
import { harden } from 'shipshape';
import { LIMIT, logDir, route } from './shared.mjs';

let service;

/**
 * harden() with every part on and memory stores (BENCH_REDIS_URL: the Redis stores). With
 * BENCH_LIFECYCLE=1 the lifecycle is on too and owns the server: the host calls `listen()`.
 */
export default async function createApp() {
  const app = express();
  let redis;
  if (process.env.BENCH_REDIS_URL) {
    const { createClient } = await import('redis');
    redis = await createClient({ url: process.env.BENCH_REDIS_URL }).connect();
  }
  const lifecycle = process.env.BENCH_LIFECYCLE === '1';
  service = harden(app, {
    env: 'production',
    service: 'bench',
    logger: { console: false, files: { dir: logDir() } },
    trustProxy: 'loopback',
    rateLimit: { limit: LIMIT, windowMs: 60_000, onStoreError: 'allow' },
    // BENCH_HEADERS_PROFILE=api: the OWASP REST header set instead of every helmet default.
    ...(process.env.BENCH_HEADERS_PROFILE
      ? { securityHeaders: { profile: process.env.BENCH_HEADERS_PROFILE } }
      : {}),
    ...(redis ? { redis } : {}),
    // No signal handlers or exit in a bench process; no readiness delay.
    lifecycle: lifecycle
      ? { exit: false, signals: [], readinessDelayMs: 0, handleUncaughtException: false }
      : false,
    startupReport: false,
    // BENCH_OFF=accessLog+httpMetrics…: those parts off (ab.mjs's full-off:… rows).
    ...Object.fromEntries(
      (process.env.BENCH_OFF || '')
        .split('+')
        .filter(Boolean)
        .map((part) => [part, false]),
    ),
  });
  route(app);
  service.finish();
  return app;
}

/** Present only with the lifecycle on: harden()'s listen() creates and owns the server. */
export const listen =
  process.env.BENCH_LIFECYCLE === '1'
    ? async () => {
        await createApp();
        return (await service.listen(0, '127.0.0.1')).port;
      }
    : undefined;

export async function close() {
  if (service?.lifecycle) await service.shutdown();
  await service?.health?.close();
  await service?.logger.close();
}
