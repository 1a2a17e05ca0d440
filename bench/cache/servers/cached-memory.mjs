import { cacheResponse, createCache } from '@shipshape/cache';
import express from 'express';
import { catalogue } from './catalogue.mjs';

export default async function createApp() {
  const cache = createCache({ name: 'bench-responses', ttl: 10 * 60_000 });
  const app = express();
  app.get('/api/products', cacheResponse({ cache }), (_req, res) => {
    res.json(catalogue());
  });
  return app;
}
