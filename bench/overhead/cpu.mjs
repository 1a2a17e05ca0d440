#!/usr/bin/env node
// Server CPU time per request (user + system, process.cpuUsage() of the server process) for the
// overhead bench's servers: steadier than req/s on a machine whose speed drifts. The server runs
// pinned to CPU 1 and autocannon to CPU 0 (taskset), one server at a time, rounds interleaved,
// medians; "kept" = the first server's µs ÷ this server's.
// Usage: node bench/overhead/cpu.mjs bare,accessLog,httpMetrics,full,hand   (BENCH_ROUNDS, BENCH_AMOUNT)
// Names: bare, full (harden()), hand (hand-assembled), or a BENCH_PART of servers/single.mjs.
import { fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { median } from '../lib.mjs';

const require = createRequire(import.meta.url);
const autocannonBin = join(dirname(require.resolve('autocannon/package.json')), 'autocannon.js');
const names = (process.argv[2] ?? 'bare,full').split(',');
const rounds = Number(process.env.BENCH_ROUNDS ?? 7);
const amount = Number(process.env.BENCH_AMOUNT ?? 8000);
const modules = { bare: 'bare.mjs', full: 'shipshape-full.mjs', hand: 'hand-assembled.mjs' };

const run = (cmd, args) => once(spawn(cmd, args, { stdio: 'ignore' }), 'exit');
const load = (url, n) =>
  run('taskset', ['-c', '0', process.execPath, autocannonBin, '-c', '20', '-a', String(n), url]);

async function measure(name) {
  const file = modules[name] ?? 'single.mjs';
  const child = fork(
    join(import.meta.dirname, '..', 'cpu-host.mjs'),
    [new URL(`./servers/${file}`, import.meta.url).href],
    {
      env: { ...process.env, NODE_ENV: 'production', BENCH_PART: name },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    },
  );
  const [{ port }] = await once(child, 'message');
  await run('taskset', ['-p', '-c', '1', String(child.pid)]);
  const cpu = async () => {
    child.send({ type: 'cpu' });
    return (await once(child, 'message'))[0].micros;
  };
  const url = `http://127.0.0.1:${port}/`;
  await load(url, 5000);
  const before = await cpu();
  await load(url, amount);
  const after = await cpu();
  child.send({ type: 'stop' });
  await once(child, 'exit');
  return (after - before) / amount;
}

const samples = new Map(names.map((n) => [n, []]));
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
console.log('| server | CPU µs/request | kept | per round |\n|---|---:|---:|---|');
for (const [name, xs] of samples)
  console.log(
    `| ${name} | ${median(xs).toFixed(1)} | ${(base / median(xs)).toFixed(2)} | ${xs.map((x) => x.toFixed(0)).join(', ')} |`,
  );
