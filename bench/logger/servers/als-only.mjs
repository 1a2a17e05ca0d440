// Bare Express plus a middleware that only runs the rest of the request inside
// AsyncLocalStorage.run() with a fixed store: what the async context alone costs on this Node.
import { AsyncLocalStorage } from 'node:async_hooks';
import express from 'express';

const storage = new AsyncLocalStorage();
const store = { requestId: 'fixed' };

export default async function createApp() {
  const app = express();
  app.use((_req, _res, next) => {
    storage.run(store, next);
  });
  app.get('/', (_req, res) => {
    res.send(storage.getStore() === store ? 'ok' : 'lost');
  });
  return app;
}
