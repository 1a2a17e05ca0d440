// The stack users assemble by hand today: helmet, express-rate-limit (memory), a winston access log
// to a file, express-prom-bundle, a request-id middleware and express.json().
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import express from 'express';
import promBundle from 'express-prom-bundle';
import { rateLimit } from 'express-rate-limit';
import helmet from 'helmet';
import winston from 'winston';
import { LIMIT, logDir, route } from './shared.mjs';

let logger;

export default async function createApp() {
  const app = express();
  logger = winston.createLogger({
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.File({ filename: join(logDir(), 'access.log') })],
  });
  app.use((req, res, next) => {
    const incoming = req.get('x-request-id');
    req.id = incoming && /^[\w.:-]{1,128}$/.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', req.id);
    next();
  });
  app.use(helmet());
  app.use(promBundle({ includeMethod: true, includePath: true, includeStatusCode: true }));
  app.use((req, res, next) => {
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      logger.info('request', {
        requestId: req.id,
        method: req.method,
        path: req.route ? req.baseUrl + req.route.path : req.path,
        status: res.statusCode,
        durationMs: Number(process.hrtime.bigint() - start) / 1e6,
        ip: req.ip,
        userAgent: req.get('user-agent'),
      });
    });
    next();
  });
  app.use(
    rateLimit({ limit: LIMIT, windowMs: 60_000, standardHeaders: 'draft-8', legacyHeaders: false }),
  );
  app.use(express.json());
  route(app);
  return app;
}

export async function close() {
  logger?.close();
}
