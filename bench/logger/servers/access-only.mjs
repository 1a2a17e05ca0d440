// accessLog alone (access lines to a rotated file), to split the cost of the pair.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accessLog, createLogger } from '@shipshape/logger';
import express from 'express';

let logger;

export default async function createApp() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-logger-'));
  logger = createLogger({
    console: false,
    files: { dir, streams: { access: true, app: false, error: false, security: false } },
  });
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
