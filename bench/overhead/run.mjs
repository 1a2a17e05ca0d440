// The overhead benchmark of issue 9: bare Express 5, the shipshape full stack via harden(), the
// hand-assembled stack, the full stack with the Redis rate-limit store, and each middleware alone.
// Usage: node bench/overhead/run.mjs [--quick]   (BENCH_ROUNDS / BENCH_DURATION override)
import { runServerBench } from '../lib.mjs';

const server = (name, file, env = {}) => ({
  name,
  module: new URL(`./servers/${file}`, import.meta.url),
  env,
});
const parts = [
  'requestContext',
  'accessLog',
  'securityHeaders',
  'httpMetrics',
  'rateLimit',
  'ipFilter',
  'jsonBody',
  'csrf',
  'threatMonitor',
];
const only = process.env.BENCH_ONLY?.split(',');
const servers = [
  server('bare express 5', 'bare.mjs'),
  server('shipshape harden() full', 'shipshape-full.mjs'),
  server('hand-assembled', 'hand-assembled.mjs'),
  server('shipshape full + Redis rate limit', 'shipshape-full.mjs', {
    BENCH_REDIS_URL: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
  }),
  ...parts.map((part) => server(`${part} alone`, 'single.mjs', { BENCH_PART: part })),
].filter((s) => !only || s.name === 'bare express 5' || only.some((o) => s.name.includes(o)));

await runServerBench({ name: 'overhead', servers, baseline: 'bare express 5' });
