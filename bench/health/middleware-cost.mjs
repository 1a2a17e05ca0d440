// In-process cost of the middleware through a real Express app, without sockets: each request is
// a real IncomingMessage/ServerResponse pair handed to the app, and the response's 'close' is
// emitted by hand after end() (so the metrics see every request, as status 499 here: there is no
// socket to finish on). Configurations alternate in small blocks many times over, so the noise of
// a shared machine hits them alike. Time is the process's CPU time (process.cpuUsage), not wall
// time, so being descheduled by neighbours does not count; medians of the per-block µs/request.
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { median } from '../lib.mjs';
import createBare from './servers/bare.mjs';
import createMetrics from './servers/http-metrics.mjs';
import createPromBundle from './servers/prom-bundle.mjs';

const BLOCKS = Number(process.env.BENCH_BLOCKS ?? 200);
const PER_BLOCK = Number(process.env.BENCH_PER_BLOCK ?? 500);
const apps = {
  bare: await createBare(),
  'http-metrics': await createMetrics(),
  'prom-bundle': await createPromBundle(),
};
const socket = new Socket();

function once(app) {
  const req = new IncomingMessage(socket);
  req.method = 'GET';
  req.url = '/api/items/42';
  req.headers = { host: 'bench', accept: 'application/json' };
  req.complete = true;
  const res = new ServerResponse(req);
  app(req, res);
  res.emit('close');
}

const names = Object.keys(apps);
const samples = Object.fromEntries(names.map((n) => [n, []]));
for (let b = 0; b < BLOCKS + 20; b++) {
  for (let i = 0; i < names.length; i++) {
    const name = names[(b + i) % names.length];
    const app = apps[name];
    const start = process.cpuUsage();
    for (let r = 0; r < PER_BLOCK; r++) once(app);
    const used = process.cpuUsage(start);
    const us = (used.user + used.system) / PER_BLOCK;
    if (b >= 20) samples[name].push(us); // the first 20 blocks warm up the JIT
  }
}
const bare = median(samples.bare);
console.log('### health-middleware-cost\n');
console.log(
  `\`node bench/health/middleware-cost.mjs\` — ${BLOCKS} interleaved blocks of ${PER_BLOCK} in-process requests per configuration (after 20 warm-up blocks), GET /api/items/42 through Express ${(await import('express/package.json', { with: { type: 'json' } })).default.version}; medians.\n`,
);
console.log('| server | CPU µs/request | added µs | kept (bare ÷ server) |');
console.log('|---|---:|---:|---:|');
for (const n of names) {
  const m = median(samples[n]);
  console.log(`| ${n} | ${m.toFixed(1)} | ${(m - bare).toFixed(1)} | ${(bare / m).toFixed(3)} |`);
}
