import { randomUUID } from 'node:crypto';
import { cacheResponse, createCache, redisStore } from '@shipshape/cache';
import express from 'express';
import { createClient } from 'redis';
import { catalogue } from './catalogue.mjs';

const prefix = `shipshape-bench:response:${randomUUID().slice(0, 8)}:`;
let client;
let cache;

export default async function createApp() {
  client = createClient({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
  client.on('error', () => {});
  await client.connect();
  cache = createCache({
    name: 'bench-responses',
    ttl: 10 * 60_000,
    store: redisStore({ client, prefix }),
  });
  const app = express();
  app.get('/api/products', cacheResponse({ cache }), (_req, res) => {
    res.json(catalogue());
  });
  return app;
}

export async function close() {
  await cache.clear();
  await cache.close();
  await client.close();
}
