#!/usr/bin/env node
// Server CPU time per request (user + system, process.cpuUsage() of the server process) for the
// overhead bench's servers: steadier than req/s on a machine whose speed drifts. The server runs
// pinned to CPU 1 and autocannon to CPU 0 (taskset), one server at a time, rounds interleaved,
// medians; "kept" = the first server's µs ÷ this server's.
// Usage: node bench/overhead/cpu.mjs bare,accessLog,httpMetrics,full,hand   (BENCH_ROUNDS, BENCH_AMOUNT)
// Names: bare, full (harden()), full+lifecycle (harden() owning the server), full-api (that with
// securityHeaders profile 'api'), hand (hand-assembled),
// or a BENCH_PART of servers/single.mjs; `before:<name>` runs the copy in BENCH_BEFORE (ab.mjs).
import { loadavg } from 'node:os';
import { benchServer, median, serverCpu } from './measure.mjs';

const names = (process.argv[2] ?? 'bare,full').split(',');
const rounds = Number(process.env.BENCH_ROUNDS ?? 7);
const amount = Number(process.env.BENCH_AMOUNT ?? 8000);
const measure = async (label) =>
  (await serverCpu({ ...benchServer(label), amount, warmup: 5000, connections: 20 })).micros;

const samples = new Map(names.map((n) => [n, []]));
process.stderr.write(`load average at the start: ${loadavg()[0].toFixed(1)}\n`);
for (let r = 0; r < rounds; r++) {
  for (const name of names) {
    const us = await measure(name);
    samples.get(name).push(us);
    process.stderr.write(`round ${r + 1}/${rounds} ${name}: ${us.toFixed(1)} µs/request\n`);
  }
}
const base = median(samples.get(names[0]));
console.log(
  `\n\`node bench/overhead/cpu.mjs ${names.join(',')}\` — ${rounds} interleaved rounds of ${amount} requests after 5000 warm-up, 20 connections; medians.\n`,
);
console.log(
  `| server | CPU µs/request | kept (medians) | kept (median of rounds) | per round µs |\n|---|---:|---:|---:|---|`,
);
const first = samples.get(names[0]);
for (const [name, xs] of samples) {
  // The machine drifts between rounds; each round's ratio compares neighbours in time.
  const perRound = median(xs.map((x, i) => first[i] / x));
  console.log(
    `| ${name} | ${median(xs).toFixed(1)} | ${(base / median(xs)).toFixed(2)} | ${perRound.toFixed(2)} | ${xs.map((x) => x.toFixed(0)).join(', ')} |`,
  );
}
console.log(
  `\nLoad average (1, 5, 15 min) at the end: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(', ')}.`,
);
