// The hand-written baseline the issue mentions: a per-request id, on-finished style listener and
// winston with timestamp + json formats writing to winston-daily-rotate-file.
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import winston from 'winston';
import DailyRotateFile from 'winston-daily-rotate-file';

let logger;

export default async function createApp() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-winston-'));
  logger = winston.createLogger({
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [
      new DailyRotateFile({
        dirname: dir,
        filename: 'access-%DATE%.log',
        maxSize: '10m',
        maxFiles: 5,
      }),
    ],
  });
  const app = express();
  app.use((req, res, next) => {
    const start = process.hrtime.bigint();
    req.id = req.get('x-request-id') ?? randomUUID();
    res.setHeader('X-Request-Id', req.id);
    res.on('finish', () => {
      logger.info('request', {
        requestId: req.id,
        method: req.method,
        route: req.route ? req.baseUrl + req.route.path : req.path,
        status: res.statusCode,
        durationMs: Number(process.hrtime.bigint() - start) / 1e6,
        ip: req.ip,
        userAgent: req.get('user-agent'),
      });
    });
    next();
  });
  app.get('/', (_req, res) => {
    res.send('ok');
  });
  return app;
}

export async function close() {
  logger?.close();
}
