import { rateLimit, securityHeaders } from '@shipshape/security';
import express from 'express';

let limiter;

export default async function createApp() {
  const app = express();
  app.use(securityHeaders({ warnings: false }));
  // A limit no run can reach: this measures counting, not the 429 path.
  limiter = rateLimit({ limit: 1_000_000_000, windowMs: 60_000, onStoreError: 'allow' });
  app.use(limiter);
  app.get('/api/items/:id', (req, res) => {
    res.json({ id: req.params.id });
  });
  return app;
}

export async function close() {
  await limiter?.close();
}
