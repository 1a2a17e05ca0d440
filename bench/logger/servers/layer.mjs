// Bare Express plus one middleware that only calls next(): what an extra Express layer costs.
import express from 'express';

export default async function createApp() {
  const app = express();
  app.use((_req, _res, next) => {
    next();
  });
  app.get('/', (_req, res) => {
    res.send('ok');
  });
  return app;
}
