#!/usr/bin/env node
// Instructions per request, counted by valgrind (callgrind): repeatable on a loaded machine, where
// time is not. Each configuration runs in its own `node --single-threaded` process under valgrind,
// in process and without sockets (inproc.mjs: real IncomingMessage/ServerResponse pairs through
// the Express app, finishing into a sink stream), a warm-up and then SHORT or LONG more
// requests; per request = (instructions of the LONG run − of the SHORT run) ÷ (LONG − SHORT), which
// cancels start-up, warm-up and exit. Sockets and syscalls are left out (the same for every
// configuration); what remains is JavaScript and V8's work, GC included.
//
// Usage: node bench/overhead/instructions.mjs bare,full,full-api,pair,hand
//   `before:<name>` builds it from BENCH_BEFORE (see snapshot-before.mjs).
//   BENCH_WARMUP (4000), BENCH_SHORT (1000), BENCH_LONG (4000), BENCH_REPEAT (1)
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { underCallgrind } from './callgrind.mjs';
import { request, settle } from './inproc.mjs';

const WARMUP = Number(process.env.BENCH_WARMUP ?? 4000);
const SHORT = Number(process.env.BENCH_SHORT ?? 1000);
const LONG = Number(process.env.BENCH_LONG ?? 4000);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 1);

/** Builds one configuration's app from the packages under `root` (this repo's or a snapshot's). */
async function build(name, root) {
  const pkg = (p) => import(`${root}/node_modules/${p}`);
  const express = (await pkg('express/index.js')).default;
  const { mkdtempSync } = await import('node:fs');
  const dir = mkdtempSync(join(tmpdir(), 'shipshape-cg-logs-'));
  const app = express();
  const route = () =>
    app.get('/api/items/:id', (req, res) => {
      res.json({ id: req.params.id });
    });
  if (name === 'bare') {
    route();
    return app;
  }
  if (name === 'full' || name === 'full-api') {
    const { harden } = await pkg('shipshape/dist/index.js');
    const service = harden(app, {
      env: 'production',
      service: 'bench',
      logger: { console: false, files: { dir } },
      trustProxy: 'loopback',
      rateLimit: { limit: 1e9, windowMs: 60_000, onStoreError: 'allow' },
      ...(name === 'full-api' ? { securityHeaders: { profile: 'api' } } : {}),
      lifecycle: false,
      startupReport: false,
    });
    route();
    service.finish();
    return app;
  }
  if (name === 'pair') {
    const { accessLog, createLogger, requestContext } = await pkg(
      '@shipshape/logger/dist/index.js',
    );
    const logger = createLogger({ console: false, files: { dir } });
    app.use(requestContext());
    app.use(accessLog(logger));
    route();
    return app;
  }
  if (name === 'hand') {
    // The run.mjs server (its route is `/`), with the same route as the others.
    const hand = await import(new URL('./servers/hand-assembled.mjs', import.meta.url).href);
    const handApp = await hand.default();
    handApp.get('/api/items/:id', (req, res) => {
      res.json({ id: req.params.id });
    });
    return handApp;
  }
  throw new Error(`unknown configuration ${name}`);
}

async function child(label, requests) {
  const before = label.startsWith('before:');
  const name = before ? label.slice(7) : label;
  const root = before ? process.env.BENCH_BEFORE : new URL('../..', import.meta.url).pathname;
  const app = await build(name, root);
  // In chunks, so timers (log batches) and promise callbacks run between them as in a server.
  // A configuration that answers anything but a finished 200 fails the count (exit code 2).
  const run = async (n) => {
    for (let done = 0; done < n; done += 100) {
      const batch = [];
      for (let i = 0; i < Math.min(100, n - done); i++) batch.push(request(app));
      await settle();
      if (batch.some((res) => res.statusCode !== 200 || !res.writableFinished)) process.exit(2);
    }
  };
  await run(WARMUP);
  await run(requests);
  process.exit(0);
}

async function count(label, requests) {
  const run = underCallgrind(label, [
    '--single-threaded',
    new URL(import.meta.url).pathname,
    '--child',
    label,
    String(requests),
  ]);
  const [code] = await run.exited;
  if (code !== 0) throw new Error(`${label}: exited with ${code}`);
  return run.instructions();
}

if (process.argv[2] === '--child') {
  await child(process.argv[3], Number(process.argv[4]));
} else {
  const names = (process.argv[2] ?? 'bare,full').split(',');
  const rows = [];
  for (const name of names) {
    const runs = [];
    for (let r = 0; r < REPEAT; r++) {
      const [short, long] = await Promise.all([count(name, SHORT), count(name, LONG)]);
      runs.push((long - short) / (LONG - SHORT));
    }
    rows.push({ name, runs });
    process.stderr.write(
      `${name}: ${runs.map((x) => Math.round(x)).join(', ')} instructions/request\n`,
    );
  }
  const mid = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const base = mid(rows[0].runs);
  console.log(
    `\n\`node bench/overhead/instructions.mjs ${names.join(',')}\` — callgrind, in process without sockets, (${LONG} − ${SHORT}) requests after ${WARMUP}, GET /api/items/42, ${REPEAT} run(s) each.\n`,
  );
  console.log(
    `| configuration | instructions/request | over ${names[0]} | ${names[0]} ÷ this | runs |\n|---|---:|---:|---:|---|`,
  );
  for (const r of rows) {
    const m = mid(r.runs);
    console.log(
      `| ${r.name} | ${Math.round(m)} | ${Math.round(m - base)} | ${(base / m).toFixed(3)} | ${r.runs.map((x) => Math.round(x)).join(', ')} |`,
    );
  }
}
