// CPU cost per request of each server module: the server runs in its own process, autocannon sends
// a fixed number of requests, and the server reports the CPU time (user+system) it spent on them.
// CPU per request is what bounds throughput; it leaves out time spent waiting for a core, so it is
// less disturbed by other load than req/s, though contention (caches, SMT) still inflates it.
// Usage: SERVERS=bare,shipshape node bench/logger/cpu.mjs [requests] [rounds]
import { median, serverCpuPerRequest } from '../lib.mjs';

const amount = Number(process.argv[2] ?? 40000);
const rounds = Number(process.argv[3] ?? 3);
const names = (process.env.SERVERS ?? 'bare,shipshape,winston-hand').split(',');
const execArgv = process.env.PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PROF}`] : [];

async function measure(name) {
  const r = await serverCpuPerRequest({
    module: new URL(`./servers/${name}.mjs`, import.meta.url),
    execArgv,
    amount,
    warmup: Math.min(10000, amount),
    connections: 50,
  });
  return { cpuPerReq: r.micros, ok: r.ok, total: r.total };
}

const samples = Object.fromEntries(names.map((n) => [n, []]));
for (let r = 0; r < rounds; r++) {
  for (const name of names) {
    const s = await measure(name);
    samples[name].push(s.cpuPerReq);
    process.stderr.write(
      `round ${r + 1} ${name}: ${s.cpuPerReq.toFixed(1)} µs CPU/request (${s.ok}/${s.total} 2xx)\n`,
    );
  }
}
const base = median(samples[names[0]]);
console.log(`| server | CPU µs/request (median of ${rounds}) | throughput bound vs ${names[0]} |`);
console.log('|---|---:|---:|');
for (const name of names) {
  const m = median(samples[name]);
  console.log(`| ${name} | ${m.toFixed(1)} | ${((base / m) * 100).toFixed(0)} % |`);
}
