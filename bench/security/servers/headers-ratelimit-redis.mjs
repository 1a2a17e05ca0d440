import { rateLimit, redisRateLimitStore, securityHeaders } from '@shipshape/security';
import express from 'express';
import { createClient } from 'redis';

const prefix = `shipshape-bench:rl:${process.pid}:`;
let client;

export default async function createApp() {
  client = createClient({
    url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    disableOfflineQueue: true,
  });
  client.on('error', () => undefined);
  await client.connect();
  const app = express();
  app.use(securityHeaders({ warnings: false }));
  app.use(
    rateLimit({
      limit: 1_000_000_000,
      windowMs: 60_000,
      onStoreError: 'allow',
      store: redisRateLimitStore(client, { prefix }),
    }),
  );
  app.get('/api/items/:id', (req, res) => {
    res.json({ id: req.params.id });
  });
  return app;
}

export async function close() {
  if (!client) return;
  const keys = await client.keys(`${prefix}*`);
  if (keys.length > 0) await client.del(keys);
  client.destroy();
}
