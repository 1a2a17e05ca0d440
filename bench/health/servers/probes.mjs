import { check, createHealth, memoryCheck } from '@shipshape/health';
import express from 'express';

let health;

// Two dependency checks that take ~2 ms each and a memory check; the default 1 s TTL applies.
export default async function createApp() {
  health = createHealth({
    service: 'bench',
    checks: [
      check('db', () => new Promise((r) => setTimeout(r, 2))),
      check('cache', () => new Promise((r) => setTimeout(r, 2))),
      memoryCheck(),
    ],
  });
  health.markReady();
  const app = express();
  app.use(health.router());
  app.use(health.httpMetrics());
  app.get('/api/items/:id', (req, res) => {
    res.json({ id: req.params.id });
  });
  return app;
}

export async function close() {
  await health?.close();
}
