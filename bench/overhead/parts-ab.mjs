#!/usr/bin/env node
// In-process A/B of single middlewares, old build against new, through a real Express 5 app and
// without sockets (as bench/health/middleware-cost.mjs): each request is a real IncomingMessage /
// ServerResponse pair handed to the app, finishing into a sink stream (inproc.mjs). Configurations
// alternate in small blocks many times over; process CPU time per request, medians. No sockets,
// so the differences are the middleware's own (the absolute figures are far below a server's).
//
// Usage: BENCH_BEFORE=/tmp/before node bench/overhead/parts-ab.mjs headers,rateLimit,context,pair
//   (BENCH_BLOCKS, BENCH_PER_BLOCK). BENCH_BEFORE holds an earlier build: see snapshot-before.mjs.
import express from 'express';
import { median } from '../lib.mjs';
import { request, settle } from './inproc.mjs';

const BLOCKS = Number(process.env.BENCH_BLOCKS ?? 200);
const PER_BLOCK = Number(process.env.BENCH_PER_BLOCK ?? 300);
const names = (process.argv[2] ?? 'headers,rateLimit,context').split(',');
const before = process.env.BENCH_BEFORE;
if (!before) throw new Error('set BENCH_BEFORE to a snapshot of an earlier build');

const load = async (root) => ({
  security: await import(`${root}/@shipshape/security/dist/index.js`),
  logger: await import(`${root}/@shipshape/logger/dist/index.js`),
});
const sides = {
  new: await load(new URL('../../node_modules', import.meta.url).pathname),
  old: await load(`${before}/node_modules`),
};

/** The middleware(s) of one part, built from one side's packages. */
function part(name, { security, logger }) {
  switch (name) {
    case 'headers':
      return [security.securityHeaders({ production: true, warnings: false })];
    case 'rateLimit':
      return [security.rateLimit({ limit: 1e9, windowMs: 60_000, onStoreError: 'allow' })];
    case 'context':
      return [logger.requestContext()];
    case 'pair': {
      const log = logger.createLogger({ console: false });
      return [logger.requestContext(), logger.accessLog(log)];
    }
    default:
      throw new Error(`unknown part ${name}`);
  }
}

const app = (handlers) => {
  const a = express();
  for (const h of handlers) a.use(h);
  a.get('/api/items/:id', (req, res) => {
    res.json({ id: req.params.id });
  });
  return a;
};

const configs = [{ name: 'bare', handler: app([]) }];
for (const n of names)
  for (const side of ['old', 'new'])
    configs.push({ name: `${n} ${side}`, handler: app(part(n, sides[side])) });
const samples = new Map(configs.map((c) => [c.name, []]));
for (let b = 0; b < BLOCKS + 20; b++) {
  for (let i = 0; i < configs.length; i++) {
    const c = configs[(b + i) % configs.length];
    const start = process.cpuUsage();
    for (let r = 0; r < PER_BLOCK; r++) request(c.handler);
    // Responses finish, and express-rate-limit's promise callbacks run, inside the block.
    await settle();
    const used = process.cpuUsage(start);
    if (b >= 20) samples.get(c.name).push((used.user + used.system) / PER_BLOCK);
  }
}
const bare = median(samples.get('bare'));
console.log(
  `\n\`node bench/overhead/parts-ab.mjs ${names.join(',')}\` — in process, no sockets, ${BLOCKS} interleaved blocks of ${PER_BLOCK} requests (after 20), GET /api/items/42 through Express 5; medians of process CPU µs per request.\n`,
);
console.log('| configuration | CPU µs/request | over bare | new − old |\n|---|---:|---:|---:|');
for (const c of configs) {
  const m = median(samples.get(c.name));
  const [n, side] = c.name.split(' ');
  const delta = side === 'new' ? (m - median(samples.get(`${n} old`))).toFixed(1) : '';
  console.log(`| ${c.name} | ${m.toFixed(1)} | ${(m - bare).toFixed(1)} | ${delta} |`);
}
process.exit(0);
