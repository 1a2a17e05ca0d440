import { createHealth } from '@shipshape/health';
import express from 'express';

let health;

// Only the middleware under test: the probe router is measured by probes.mjs.

export default async function createApp() {
  health = createHealth({ defaultMetrics: true });
  const app = express();
  app.use(health.httpMetrics());
  app.get('/api/items/:id', (req, res) => {
    res.json({ id: req.params.id });
  });
  return app;
}

export async function close() {
  await health?.close();
}
