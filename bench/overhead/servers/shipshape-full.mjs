import express from 'express';
import { harden } from 'shipshape';
import { LIMIT, logDir, route } from './shared.mjs';

let service;

export default async function createApp() {
  const app = express();
  let redis;
  if (process.env.BENCH_REDIS_URL) {
    const { createClient } = await import('redis');
    redis = await createClient({ url: process.env.BENCH_REDIS_URL }).connect();
  }
  service = harden(app, {
    env: 'production',
    service: 'bench',
    logger: { console: false, files: { dir: logDir() } },
    trustProxy: 'loopback',
    rateLimit: { limit: LIMIT, windowMs: 60_000, onStoreError: 'allow' },
    ...(redis ? { redis } : {}),
    lifecycle: false,
    startupReport: false,
  });
  route(app);
  service.finish();
  return app;
}

export async function close() {
  await service?.health?.close();
  await service?.logger.close();
}
