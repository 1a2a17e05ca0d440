// CPU cost per request of each server module: the server runs in its own process, autocannon sends
// a fixed number of requests, and the server reports the CPU time (user+system) it spent on them.
// CPU per request is what bounds throughput; it leaves out time spent waiting for a core, so it is
// less disturbed by other load than req/s, though contention (caches, SMT) still inflates it.
// Usage: SERVERS=bare,shipshape node bench/logger/cpu.mjs [requests] [rounds]
import { fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const autocannonBin = join(dirname(require.resolve('autocannon/package.json')), 'autocannon.js');
const amount = Number(process.argv[2] ?? 40000);
const rounds = Number(process.argv[3] ?? 3);
const names = (process.env.SERVERS ?? 'bare,shipshape,winston-hand').split(',');
const execArgv = process.env.PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PROF}`] : [];

async function measure(name) {
  const child = fork(join(here, 'cpu-host.mjs'), [join(here, 'servers', `${name}.mjs`)], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, NODE_ENV: 'production' },
    execArgv,
  });
  const [{ port }] = await once(child, 'message');
  const run = async (n) => {
    const ac = spawn(
      process.execPath,
      [autocannonBin, '-c', '50', '-a', String(n), '--json', `http://127.0.0.1:${port}/`],
      {
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    let out = '';
    ac.stdout.on('data', (c) => {
      out += c;
    });
    await once(ac, 'exit');
    return JSON.parse(out);
  };
  await run(Math.min(10000, amount)); // warm-up
  child.send('mark');
  await once(child, 'message');
  const result = await run(amount);
  child.send('cpu');
  const [{ cpuMicros }] = await once(child, 'message');
  child.send('stop');
  await once(child, 'exit');
  return {
    cpuPerReq: cpuMicros / result.requests.total,
    ok: result['2xx'],
    total: result.requests.total,
  };
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
const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const base = median(samples[names[0]]);
console.log(`| server | CPU µs/request (median of ${rounds}) | throughput bound vs ${names[0]} |`);
console.log('|---|---:|---:|');
for (const name of names) {
  const m = median(samples[name]);
  console.log(`| ${name} | ${m.toFixed(1)} | ${((base / m) * 100).toFixed(0)} % |`);
}
