import express from 'express';
import { catalogue } from './catalogue.mjs';

export default async function createApp() {
  const app = express();
  app.get('/api/products', (_req, res) => {
    res.json(catalogue());
  });
  return app;
}
