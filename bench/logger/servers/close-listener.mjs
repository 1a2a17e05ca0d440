// Bare Express plus a middleware that reads the clock and listens for the response's 'close':
// the least any access log that also sees aborted requests has to do per request.
import express from 'express';

let slowest = 0;

export default async function createApp() {
  const app = express();
  app.use((_req, res, next) => {
    const start = performance.now();
    res.once('close', () => {
      slowest = Math.max(slowest, performance.now() - start);
    });
    next();
  });
  app.get('/', (_req, res) => {
    res.send('ok');
  });
  return app;
}
