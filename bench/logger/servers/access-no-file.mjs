// accessLog with a logger that has no transport: the line is built and dispatched to nothing,
// which separates building the line from writing it (access-only.mjs).
import { accessLog, createLogger } from '@shipshape/logger';
import express from 'express';

let logger;

export default async function createApp() {
  logger = createLogger({ console: false });
  const app = express();
  app.use(accessLog(logger));
  app.get('/', (_req, res) => {
    res.send('ok');
  });
  return app;
}

export async function close() {
  await logger?.close();
}
