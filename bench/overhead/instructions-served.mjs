#!/usr/bin/env node
// Instructions per request of the overhead bench's servers as they run: host.mjs under valgrind
// (callgrind) behind a real socket, autocannon sending a warm-up and then SHORT or LONG more
// requests; per request = (instructions of the LONG run − of the SHORT run) ÷ (LONG − SHORT). Unlike
// instructions.mjs (in process, no sockets) this counts node:http's parser, socket reads and writes
// and libuv as well — every user-space instruction of the server process, all threads; the kernel's
// side of the system calls is not counted. Caveats, measured: under valgrind a request takes ~50×
// longer, so work driven by timers (the access log's 10 ms batch write, health's background checks)
// runs ~50× more often per request — configurations with such timers are overstated, and by how
// much depends on how slow the run was (the same full-stack build gave 873k and 981k
// instructions/request, the second while another job loaded the machine; bare Express 617k-639k).
// And it cannot show the cost per instruction (cache and branch misses), which CPU time (cpu.mjs)
// includes. Use it to compare request-path code without timers, on an otherwise idle machine.
//
// Usage: node bench/overhead/instructions-served.mjs bare,full+lifecycle,full-api,hand,accessLog
//   (names as cpu.mjs; `before:<name>` from BENCH_BEFORE)
//   BENCH_WARMUP (3000), BENCH_SHORT (1000), BENCH_LONG (4000); the two runs of a name in parallel.
import { once } from 'node:events';
import { autocannon } from '../lib.mjs';
import { underCallgrind } from './callgrind.mjs';
import { benchServer } from './measure.mjs';

const WARMUP = Number(process.env.BENCH_WARMUP ?? 3000);
const SHORT = Number(process.env.BENCH_SHORT ?? 1000);
const LONG = Number(process.env.BENCH_LONG ?? 4000);
const host = new URL('./host.mjs', import.meta.url).pathname;

async function count(label, requests) {
  const { module, env } = benchServer(label);
  const run = underCallgrind(label, [host, module.href], { env, ipc: true });
  const [{ port }] = await Promise.race([
    once(run.child, 'message'),
    run.exited.then(([code]) => {
      throw new Error(`${label}: exited with ${code} before listening`);
    }),
  ]);
  const url = `http://127.0.0.1:${port}/`;
  await autocannon(url, { amount: WARMUP, connections: 10 });
  const result = await autocannon(url, { amount: requests, connections: 10 });
  run.child.send({ type: 'stop' });
  const instructions = await run.instructions();
  if (result.non2xx > 0 || result.errors > 0 || result.requests.total !== requests)
    throw new Error(`${label}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return instructions;
}

const names = (process.argv[2] ?? 'bare,full+lifecycle').split(',');
const rows = [];
for (const name of names) {
  const [short, long] = await Promise.all([count(name, SHORT), count(name, LONG)]);
  const per = (long - short) / (LONG - SHORT);
  rows.push({ name, per });
  process.stderr.write(`${name}: ${Math.round(per)} instructions/request\n`);
}
const base = rows[0].per;
console.log(
  `\n\`node bench/overhead/instructions-served.mjs ${names.join(',')}\` — callgrind, served over loopback, (${LONG} − ${SHORT}) requests after ${WARMUP}, 10 connections.\n`,
);
console.log(
  `| server | instructions/request | over ${names[0]} | ${names[0]} ÷ this |\n|---|---:|---:|---:|`,
);
for (const r of rows)
  console.log(
    `| ${r.name} | ${Math.round(r.per)} | ${Math.round(r.per - base)} | ${(base / r.per).toFixed(3)} |`,
  );
