import { createHealth } from '@shipshape/health';
import express from 'express';

let health;

// Only the middleware under test (no probe router, no default process metrics, like
// express-prom-bundle's defaults): the router is measured by probes.mjs.

export default async function createApp() {
  health = createHealth({ defaultMetrics: false, processMetrics: false });
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
