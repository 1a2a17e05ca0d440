// The overhead benchmark of issues 9 and 17: bare Express 5, harden() with every part on (the
// lifecycle owning the server, memory stores), the same with the `api` header profile, the
// hand-assembled stack, the full stack with the Redis stores, and each middleware alone.
// Usage: node bench/overhead/run.mjs   (BENCH_ONLY=name,… BENCH_ROUNDS BENCH_DURATION BENCH_WARMUP
// BENCH_CONNECTIONS; BENCH_BEFORE=dir adds `before:` rows from an earlier build, see ab.mjs)
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { addRound, formatTable, summarizeRounds } from '../lib.mjs';
import { throughput } from './measure.mjs';

const num = (name, fallback) => Number(process.env[name] || fallback);
const rounds = num('BENCH_ROUNDS', 5);
const duration = num('BENCH_DURATION', 10);
const warmup = num('BENCH_WARMUP', 3);
const connections = num('BENCH_CONNECTIONS', 50);

const server = (name, file, env = {}, dir = new URL('./', import.meta.url)) => ({
  name,
  module: new URL(`./servers/${file}`, dir),
  env: { BENCH_LIFECYCLE: '0', ...env },
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
const lifecycle = { BENCH_LIFECYCLE: '1' };
const servers = [
  server('bare express 5', 'bare.mjs'),
  server('shipshape harden() full', 'shipshape-full.mjs', lifecycle),
  server("harden() full, profile 'api'", 'shipshape-full.mjs', {
    ...lifecycle,
    BENCH_HEADERS_PROFILE: 'api',
  }),
  server('hand-assembled', 'hand-assembled.mjs'),
  server('shipshape full + Redis stores', 'shipshape-full.mjs', {
    ...lifecycle,
    BENCH_REDIS_URL: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
  }),
  ...parts.map((part) => server(`${part} alone`, 'single.mjs', { BENCH_PART: part })),
  ...(process.env.BENCH_BEFORE
    ? [
        server(
          'before: harden() full',
          'shipshape-full.mjs',
          lifecycle,
          new URL(`file://${process.env.BENCH_BEFORE}/bench/overhead/`),
        ),
      ]
    : []),
].filter((s) => !only || s.name === 'bare express 5' || only.some((o) => s.name.includes(o)));

const samples = new Map(servers.map((s) => [s.name, []]));
const loads = [loadavg()[0]];
for (let round = 0; round < rounds; round++) {
  // Rotate the order each round so no configuration always runs first (or last).
  const order = servers.map((_, i) => servers[(i + round) % servers.length]);
  const results = new Map();
  for (const s of order) {
    const sample = await throughput({ ...s, duration, warmup, connections });
    results.set(s.name, sample);
    process.stderr.write(
      `[overhead] round ${round + 1}/${rounds} ${s.name}: ${sample.reqPerSec.toFixed(0)} req/s p99 ${sample.p99} ms (load ${loadavg()[0].toFixed(1)})\n`,
    );
  }
  loads.push(loadavg()[0]);
  addRound(samples, results, 'bare express 5');
}
const rows = summarizeRounds(servers, samples);
const command = `node ${process.argv
  .slice(1)
  .map((a) => a.replace(`${process.cwd()}/`, ''))
  .join(' ')}`;
process.stdout.write(
  `${formatTable(rows, { name: 'overhead', rounds, duration, warmup, connections, command, baseline: 'bare express 5' })}\n\n` +
    `Load average (1 min) at the start and after each round: ${loads.map((l) => l.toFixed(1)).join(', ')}.\n` +
    `Per-round ratios: ${rows.map((r) => `${r.server} ${r.perRound}`).join('; ')}.\n`,
);
const dir = new URL('../results/', import.meta.url);
await mkdir(dir, { recursive: true });
await writeFile(
  new URL('overhead.json', dir),
  JSON.stringify(
    {
      date: new Date().toISOString(),
      node: process.version,
      rounds,
      duration,
      warmup,
      connections,
      loads,
      rows,
      samples: Object.fromEntries(samples),
    },
    null,
    2,
  ),
);
