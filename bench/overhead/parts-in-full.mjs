#!/usr/bin/env node
// What each part costs inside harden()'s full stack: harden() with every part on against the
// same with one part off, in process and without sockets (inproc.mjs, as parts-ab.mjs), blocks
// interleaved, process CPU µs per request, medians.
// Usage: node bench/overhead/parts-in-full.mjs   (BENCH_BLOCKS, BENCH_PER_BLOCK)
import express from 'express';
import { harden } from 'shipshape';
import { median } from '../lib.mjs';
import { request, settle } from './inproc.mjs';
import { LIMIT, logDir } from './servers/shared.mjs';

const BLOCKS = Number(process.env.BENCH_BLOCKS ?? 200);
const PER_BLOCK = Number(process.env.BENCH_PER_BLOCK ?? 300);
const off = [
  [],
  ['requestContext'],
  ['securityHeaders'],
  ['health'],
  ['httpMetrics'],
  ['accessLog'],
  ['httpMetrics', 'accessLog'],
  ['ipFilter'],
  ['rateLimit'],
  ['jsonBody', 'urlencodedBody', 'csrf'],
  ['threatMonitor'],
];
const services = [];
const build = (parts, extra = {}) => {
  const app = express();
  const service = harden(app, {
    env: 'production',
    service: 'bench',
    logger: { console: false, files: { dir: logDir() } },
    trustProxy: 'loopback',
    rateLimit: { limit: LIMIT, windowMs: 60_000, onStoreError: 'allow' },
    lifecycle: false,
    startupReport: false,
    ...extra,
    ...Object.fromEntries(parts.map((p) => [p, false])),
  });
  app.get('/api/items/:id', (req, res) => {
    res.json({ id: req.params.id });
  });
  service.finish();
  services.push(service);
  return app;
};
const bare = express();
bare.get('/api/items/:id', (req, res) => {
  res.json({ id: req.params.id });
});
const configs = [
  { name: 'bare', app: bare },
  ...off.map((parts) => ({
    name: parts.length ? `full − ${parts.join(' − ')}` : 'full',
    app: build(parts),
  })),
  { name: "full, headers profile 'api'", app: build([], { securityHeaders: { profile: 'api' } }) },
];

const samples = new Map(configs.map((c) => [c.name, []]));
for (let b = 0; b < BLOCKS + 20; b++) {
  for (let i = 0; i < configs.length; i++) {
    const c = configs[(b + i) % configs.length];
    const start = process.cpuUsage();
    for (let r = 0; r < PER_BLOCK; r++) request(c.app);
    // The responses finish (and their access lines and metrics are recorded) inside the block.
    await settle();
    const used = process.cpuUsage(start);
    if (b >= 20) samples.get(c.name).push((used.user + used.system) / PER_BLOCK);
  }
}
const full = median(samples.get('full'));
const bareUs = median(samples.get('bare'));
console.log(
  `\n\`node bench/overhead/parts-in-full.mjs\` — in process, no sockets, ${BLOCKS} interleaved blocks of ${PER_BLOCK} requests (after 20), GET /api/items/42; medians of process CPU µs per request.\n`,
);
console.log(
  '| configuration | CPU µs/request | over bare | part costs (full − this) |\n|---|---:|---:|---:|',
);
for (const c of configs) {
  const m = median(samples.get(c.name));
  console.log(
    `| ${c.name} | ${m.toFixed(1)} | ${(m - bareUs).toFixed(1)} | ${c.name === 'bare' || c.name === 'full' ? '' : (full - m).toFixed(1)} |`,
  );
}
for (const s of services) {
  await s.health?.close();
  await s.logger.close();
}
process.exit(0);
