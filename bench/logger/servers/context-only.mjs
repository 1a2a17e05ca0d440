// requestContext alone (AsyncLocalStorage + id + header), to split the cost of the pair.
import { requestContext } from '@shipshape/logger';
import express from 'express';

export default async function createApp() {
  const app = express();
  app.use(requestContext());
  app.get('/', (_req, res) => {
    res.send('ok');
  });
  return app;
}
