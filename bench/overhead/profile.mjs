#!/usr/bin/env node
// Where a bench server's CPU goes: runs one server of the overhead bench under `node --cpu-prof`
// (host.mjs, as run.mjs and cpu.mjs), sends BENCH_AMOUNT requests after BENCH_WARMUP with
// autocannon pinned to CPU 0 (server on CPU 1), and prints self time per function and per source
// (our packages, each dependency, Node's internals, GC) as a share of the busy time and as µs per
// request. The .cpuprofile stays in BENCH_PROFILE_DIR for Chrome DevTools.
// Usage: node bench/overhead/profile.mjs full+lifecycle   (names as cpu.mjs: bare, full,
//   full+lifecycle, full-api, hand, or a BENCH_PART of servers/single.mjs)
//   BENCH_AMOUNT (20000), BENCH_WARMUP (5000), BENCH_TOP (30), BENCH_PROFILE_DIR (a temp dir),
//   BENCH_PROFILE_FLAGS (extra node flags, e.g. --no-turbo-inlining)
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { autocannon } from '../lib.mjs';
import { benchServer, startHost } from './measure.mjs';

const name = process.argv[2] ?? 'full+lifecycle';
const amount = Number(process.env.BENCH_AMOUNT ?? 20_000);
const warmup = Number(process.env.BENCH_WARMUP ?? 5000);
const top = Number(process.env.BENCH_TOP ?? 30);
const dir = process.env.BENCH_PROFILE_DIR ?? mkdtempSync(join(tmpdir(), 'shipshape-prof-'));
const server = await startHost({
  ...benchServer(name),
  execArgv: [
    '--cpu-prof',
    `--cpu-prof-dir=${dir}`,
    '--cpu-prof-interval=100',
    ...(process.env.BENCH_PROFILE_FLAGS?.split(' ').filter(Boolean) ?? []),
  ],
  pin: true,
});
let requests;
try {
  await autocannon(`${server.url}/`, { amount: warmup, connections: 20, pin: true });
  const result = await autocannon(`${server.url}/`, { amount, connections: 20, pin: true });
  requests = result.requests.total + warmup;
} finally {
  await server.stop();
}

const file = readdirSync(dir)
  .filter((f) => f.endsWith('.cpuprofile'))
  .map((f) => join(dir, f))
  .sort()
  .at(-1);
const profile = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const selfSamples = new Map();
for (const id of profile.samples) selfSamples.set(id, (selfSamples.get(id) ?? 0) + 1);
const totalUs = profile.endTime - profile.startTime;
const sampleUs = totalUs / profile.samples.length;

/** Which source a frame belongs to: one of our packages, a dependency, Node, or V8's own work. */
function source(frame) {
  const url = frame.url;
  if (!url) return frame.functionName.startsWith('(') ? frame.functionName : '(native)';
  if (url.startsWith('node:')) return 'node internals';
  const ours = /\/packages\/([^/]+)\//.exec(url);
  if (ours && !url.includes('/node_modules/')) return `@shipshape/${ours[1]}`;
  const dep = /.*\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (dep) return dep[1];
  if (url.includes('/bench/')) return 'bench';
  return url;
}

const byFunction = new Map();
const bySource = new Map();
for (const [id, count] of selfSamples) {
  const frame = nodes.get(id).callFrame;
  if (frame.functionName === '(idle)') continue;
  const where = frame.url
    ? `${frame.url.replace(/^.*\/(node_modules|packages)\//, '')}:${frame.lineNumber + 1}`
    : '';
  const key = `${frame.functionName || '(anonymous)'} ${where}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + count);
  const src = source(frame);
  bySource.set(src, (bySource.get(src) ?? 0) + count);
}
const busy = [...bySource.values()].reduce((a, b) => a + b, 0);
const perRequest = (count) => ((count * sampleUs) / requests).toFixed(2);
const table = (title, map, limit) => {
  console.log(`\n| ${title} | share of busy | µs/request |\n|---|---:|---:|`);
  for (const [key, count] of [...map].sort((a, b) => b[1] - a[1]).slice(0, limit))
    console.log(
      `| ${key.replace(/\|/g, '\\|')} | ${((100 * count) / busy).toFixed(1)} % | ${perRequest(count)} |`,
    );
};
console.log(
  `\n\`node bench/overhead/profile.mjs ${name}\` — ${requests} requests (${warmup} warm-up included), 20 connections, profile ${file}; busy (all samples but "(idle)") ${((busy * sampleUs) / requests).toFixed(1)} µs/request. Sampled wall time: on a loaded machine the µs are inflated, the shares less so.`,
);
table('source (self time)', bySource, 40);
table('function (self time)', byFunction, top);
