// CPU time (user + system, process.cpuUsage()) the server process spends per request, for
// securityHeaders and securityHeaders + rateLimit (memory, Redis) against bare Express. On an
// oversubscribed machine throughput follows the neighbours' load; CPU per request is what the
// middleware itself costs. "kept" = bare CPU/request ÷ this server's (the throughput share it would
// keep when CPU-bound). One server at a time in its own process; rounds interleaved; medians.
import { median, serverCpuPerRequest } from '../lib.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const AMOUNT = Number(process.env.BENCH_AMOUNT ?? 1500);
const WARMUP = Number(process.env.BENCH_WARMUP_AMOUNT ?? 500);
const PATH = '/api/items/42';
const names = ['bare', 'headers', 'headers-ratelimit-memory', 'headers-ratelimit-redis'];

const measure = (name) =>
  serverCpuPerRequest({
    module: new URL(`./servers/${name}.mjs`, import.meta.url),
    path: PATH,
    amount: AMOUNT,
    warmup: WARMUP,
  });

const samples = new Map(names.map((n) => [n, []]));
let non2xxTotal = 0;
for (let round = 0; round < ROUNDS; round++) {
  const order = names.map((_, i) => names[(i + round) % names.length]);
  for (const name of order) {
    const { micros, non2xx } = await measure(name);
    non2xxTotal += non2xx;
    samples.get(name).push(micros);
    process.stderr.write(
      `[security-cpu] round ${round + 1}/${ROUNDS} ${name}: ${micros.toFixed(0)} µs/request\n`,
    );
  }
}
const bare = median(samples.get('bare'));
const lines = [
  '### security-cpu-per-request',
  '',
  `\`node bench/security/cpu-per-request.mjs\` — ${ROUNDS} interleaved rounds, ${AMOUNT} requests after ${WARMUP} warm-up, 10 connections; medians; non-2xx total ${non2xxTotal}.`,
  '',
  '| server | CPU µs/request | + µs vs bare | kept | per-round µs |',
  '|---|---:|---:|---:|---|',
];
for (const name of names) {
  const m = median(samples.get(name));
  lines.push(
    `| ${name} | ${m.toFixed(0)} | ${(m - bare).toFixed(0)} | ${(bare / m).toFixed(2)} | ${samples
      .get(name)
      .map((v) => v.toFixed(0))
      .join(', ')} |`,
  );
}
process.stdout.write(`${lines.join('\n')}\n`);
