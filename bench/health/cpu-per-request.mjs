// CPU time the server process spends per request (user + system, from process.cpuUsage()) for a
// fixed number of requests. On a shared, oversubscribed machine throughput swings with the
// neighbours' load; CPU per request is what the middleware itself costs, so it is far steadier.
// "kept" = bare CPU/request ÷ this server's CPU/request (the throughput share it would keep when
// CPU-bound). Servers run one at a time in their own process, rounds interleaved.
import { median, serverCpuPerRequest } from '../lib.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const AMOUNT = Number(process.env.BENCH_AMOUNT ?? 20_000);
const WARMUP = Number(process.env.BENCH_WARMUP_AMOUNT ?? 5_000);
const PATH = '/api/items/42';
const names = ['bare', 'http-metrics', 'prom-bundle'];

const measure = async (name) =>
  (
    await serverCpuPerRequest({
      module: new URL(`./servers/${name}.mjs`, import.meta.url),
      path: PATH,
      amount: AMOUNT,
      warmup: WARMUP,
    })
  ).micros;

const samples = Object.fromEntries(names.map((n) => [n, []]));
for (let round = 0; round < ROUNDS; round++) {
  const order = names.map((_, i) => names[(i + round) % names.length]);
  for (const name of order) {
    const us = await measure(name);
    samples[name].push(us);
    process.stderr.write(
      `[cpu-per-request] round ${round + 1}/${ROUNDS} ${name}: ${us.toFixed(1)} µs/request\n`,
    );
  }
}
const bare = median(samples.bare);
console.log(`### health-cpu-per-request\n`);
console.log(
  `\`node bench/health/cpu-per-request.mjs\` — ${ROUNDS} interleaved rounds, ${AMOUNT} requests each after ${WARMUP} warm-up requests, 10 connections, GET ${PATH}; medians.\n`,
);
console.log('| server | CPU µs/request | kept (bare ÷ server) |');
console.log('|---|---:|---:|');
for (const n of names) {
  const m = median(samples[n]);
  console.log(`| ${n} | ${m.toFixed(1)} | ${(bare / m).toFixed(3)} |`);
}
