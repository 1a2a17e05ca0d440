#!/usr/bin/env node
// Instructions per request, counted by valgrind (callgrind): repeatable on a loaded machine, where
// time is not. Each configuration's server runs under valgrind in its own process; a keep-alive
// client in this process (not under valgrind) sends a warm-up and then either SHORT or LONG more
// requests; per request = (instructions of the LONG run − of the SHORT run) ÷ (LONG − SHORT), which
// cancels start-up, warm-up and shutdown. Server-side only.
// Usage: node bench/overhead/instructions.mjs bare,full,hand,accessLog
//   BENCH_WARMUP (3000), BENCH_SHORT (500), BENCH_LONG (2500), BENCH_CONNECTIONS (8),
//   BENCH_LIFECYCLE=1 (full: harden()'s lifecycle owns the server), BENCH_PATH (/)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openClient } from './ab.mjs';

const names = (process.argv[2] ?? 'bare,full').split(',');
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3000);
const SHORT = Number(process.env.BENCH_SHORT ?? 500);
const LONG = Number(process.env.BENCH_LONG ?? 2500);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 8);
const PATH = process.env.BENCH_PATH ?? '/';
const modules = {
  bare: './servers/bare.mjs',
  full: './servers/shipshape-full.mjs',
  hand: './servers/hand-assembled.mjs',
};

async function count(name, requests) {
  const out = join(tmpdir(), `shipshape-cg-${process.pid}-${name}-${requests}.out`);
  const module = new URL(modules[name] ?? './servers/single.mjs', import.meta.url).href;
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      `--callgrind-out-file=${out}`,
      '--dump-line=no',
      process.execPath,
      new URL('./host.mjs', import.meta.url).pathname,
      module,
    ],
    {
      env: { ...process.env, NODE_ENV: 'production', BENCH_PART: name },
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    },
  );
  const [{ port }] = await once(child, 'message');
  const client = openClient(port, CONNECTIONS, PATH);
  let non2xx = await client.run(WARMUP);
  non2xx += await client.run(requests);
  client.close();
  child.send({ type: 'stop' });
  await once(child, 'exit');
  const text = await readFile(out, 'utf8');
  await rm(out, { force: true });
  const totals = /^(?:totals|summary): (\d+)/m.exec(text);
  if (!totals) throw new Error(`no totals in ${out}`);
  if (non2xx > 0) throw new Error(`${name}: ${non2xx} non-2xx responses`);
  return Number(totals[1]);
}

const rows = [];
for (const name of names) {
  const short = await count(name, SHORT);
  const long = await count(name, LONG);
  const perRequest = (long - short) / (LONG - SHORT);
  rows.push({ name, perRequest });
  process.stderr.write(`${name}: ${Math.round(perRequest)} instructions/request\n`);
}
const base = rows[0].perRequest;
console.log(
  `\n\`node bench/overhead/instructions.mjs ${names.join(',')}\` — callgrind, server process only, (${LONG} − ${SHORT}) requests after ${WARMUP} warm-up, ${CONNECTIONS} connections, GET ${PATH}${process.env.BENCH_LIFECYCLE === '1' ? ', lifecycle on' : ''}.\n`,
);
console.log(
  `| configuration | instructions/request | over ${names[0]} | ${names[0]} ÷ this |\n|---|---:|---:|---:|`,
);
for (const r of rows)
  console.log(
    `| ${r.name} | ${Math.round(r.perRequest)} | ${Math.round(r.perRequest - base)} | ${(base / r.perRequest).toFixed(3)} |`,
  );
