// One shipshape middleware alone in front of the route; which one comes from BENCH_PART.
import { createHealth } from '@shipshape/health';
import { accessLog, createLogger, requestContext } from '@shipshape/logger';
import {
  csrf,
  ipFilter,
  jsonBody,
  rateLimit,
  securityHeaders,
  threatMonitor,
} from '@shipshape/security';
import express from 'express';
import { LIMIT, logDir, route } from './shared.mjs';

let closers = [];

export default async function createApp() {
  const app = express();
  const part = process.env.BENCH_PART;
  const logger = createLogger({ console: false, files: { dir: logDir() } });
  closers.push(() => logger.close());
  switch (part) {
    case 'requestContext':
      app.use(requestContext());
      break;
    case 'accessLog':
      app.use(requestContext());
      app.use(accessLog(logger));
      break;
    case 'securityHeaders':
      app.use(securityHeaders({ production: true }));
      break;
    case 'httpMetrics': {
      const health = createHealth({ service: 'bench' });
      closers.push(() => health.close());
      app.use(health.httpMetrics());
      break;
    }
    case 'rateLimit':
      app.use(rateLimit({ limit: LIMIT, windowMs: 60_000, onStoreError: 'allow', logger }));
      break;
    case 'ipFilter':
      app.use(ipFilter({ deny: ['203.0.113.0/24', '2001:db8::/32'], logger }));
      break;
    case 'jsonBody':
      app.use(jsonBody());
      break;
    case 'csrf':
      app.use(csrf({ logger }));
      break;
    case 'threatMonitor':
      app.use(threatMonitor({ mode: 'monitor', logger }));
      break;
    default:
      throw new Error(`unknown BENCH_PART ${part}`);
  }
  route(app);
  return app;
}

export async function close() {
  for (const fn of closers) await fn();
  closers = [];
}
