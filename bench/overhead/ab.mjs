#!/usr/bin/env node
// Same-process A/B: every configuration's app listens in THIS process (one port each) and a
// minimal keep-alive client in this process sends blocks of requests to each in turn, many times
// over, so JIT state, GC and the neighbours' load hit every configuration alike. The figure is the
// process's CPU time (user + system) per request, client included (it is the same for every
// configuration: subtract `bare` to get what the middleware adds). Medians of the blocks.
//
// Usage: node bench/overhead/ab.mjs bare,full,hand,accessLog   (names as in cpu.mjs)
//   BENCH_BLOCKS (40), BENCH_PER_BLOCK (500), BENCH_CONNECTIONS (8), BENCH_WARMUP_BLOCKS (10)
// Instruction counts instead (run under valgrind, one configuration, two request counts):
//   node bench/overhead/instructions.mjs full
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { median } from '../lib.mjs';

const names = (process.argv[2] ?? 'bare,full').split(',');
const BLOCKS = Number(process.env.BENCH_BLOCKS ?? 40);
const PER_BLOCK = Number(process.env.BENCH_PER_BLOCK ?? 500);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 8);
const WARMUP_BLOCKS = Number(process.env.BENCH_WARMUP_BLOCKS ?? 10);
const PATH = process.env.BENCH_PATH ?? '/';

export const modules = {
  bare: './servers/bare.mjs',
  full: './servers/shipshape-full.mjs',
  hand: './servers/hand-assembled.mjs',
};

/**
 * Builds the app of one configuration (a BENCH_PART of servers/single.mjs unless named above).
 * `before:<name>` loads the same server from BENCH_BEFORE, a copy of bench/ and of the packages'
 * builds from an earlier commit (see docs/benchmarks.md), for old-vs-new in one process.
 */
export async function createConfiguration(label) {
  const before = label.startsWith('before:');
  let name = before ? label.slice(7) : label;
  // full-off:<part>[+<part>…]: harden() with those options set to false (what a part costs inside
  // the full stack); full-api: the `api` header profile.
  process.env.BENCH_OFF = '';
  process.env.BENCH_HEADERS_PROFILE = '';
  if (name.startsWith('full-off:')) {
    process.env.BENCH_OFF = name.slice(9);
    name = 'full';
  } else if (name === 'full-api') {
    process.env.BENCH_HEADERS_PROFILE = 'api';
    name = 'full';
  }
  if (before && !process.env.BENCH_BEFORE) throw new Error(`${label} needs BENCH_BEFORE`);
  const base = before
    ? new URL(`file://${process.env.BENCH_BEFORE}/bench/overhead/`)
    : new URL('./', import.meta.url);
  const url = new URL(modules[name] ?? './servers/single.mjs', base);
  // single.mjs reads BENCH_PART when the app is built; a query string gives each its own module.
  const mod = await import(`${url.href}?${label}`);
  process.env.BENCH_PART = name;
  const app = await mod.default();
  return { app, close: mod.close };
}

export function listenOn(app) {
  return new Promise((resolve) => {
    const server = createServer(app);
    server.keepAliveTimeout = 65_000;
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/**
 * A keep-alive client that does almost nothing per response: finds the end of the headers,
 * reads Content-Length and counts. Resolves with the number of non-2xx responses.
 */
export function openClient(port, connections, path = PATH) {
  const request = Buffer.from(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUser-Agent: bench-ab/1\r\nAccept: application/json\r\n\r\n`,
  );
  const sockets = [];
  let remaining = 0;
  let inFlight = 0;
  let non2xx = 0;
  let done;
  for (let i = 0; i < connections; i++) {
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    let buffer = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk) => {
      buffer += chunk;
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end === -1) return;
        const cl = /\r\ncontent-length: *(\d+)/i.exec(buffer.slice(0, end));
        const length = cl ? Number(cl[1]) : 0;
        if (buffer.length < end + 4 + length) return;
        if (buffer.charCodeAt(9) !== 50 /* '2' */) non2xx++;
        buffer = buffer.slice(end + 4 + length);
        inFlight--;
        if (remaining > 0) {
          remaining--;
          inFlight++;
          socket.write(request);
        } else if (inFlight === 0) done?.(non2xx);
      }
    });
    sockets.push(socket);
  }
  return {
    run(n) {
      return new Promise((resolve) => {
        non2xx = 0;
        done = resolve;
        remaining = n;
        for (const socket of sockets) {
          if (remaining === 0) break;
          remaining--;
          inFlight++;
          socket.write(request);
        }
      });
    },
    close() {
      for (const socket of sockets) socket.destroy();
    },
  };
}

async function main() {
  const configs = [];
  for (const name of names) {
    const { app, close } = await createConfiguration(name);
    const server = await listenOn(app);
    configs.push({ name, server, close, client: openClient(server.address().port, CONNECTIONS) });
  }
  const samples = new Map(names.map((n) => [n, []]));
  let non2xx = 0;
  for (let b = 0; b < WARMUP_BLOCKS + BLOCKS; b++) {
    for (let i = 0; i < configs.length; i++) {
      const c = configs[(b + i) % configs.length];
      const before = process.cpuUsage();
      non2xx += await c.client.run(PER_BLOCK);
      const used = process.cpuUsage(before);
      if (b >= WARMUP_BLOCKS) samples.get(c.name).push((used.user + used.system) / PER_BLOCK);
    }
  }
  for (const c of configs) {
    c.client.close();
    c.server.closeAllConnections();
    c.server.close();
  }
  const base = median(samples.get(names[0]));
  console.log(
    `\n\`node bench/overhead/ab.mjs ${names.join(',')}\` — one process, ${BLOCKS} interleaved blocks of ${PER_BLOCK} requests (after ${WARMUP_BLOCKS}), ${CONNECTIONS} keep-alive connections, GET ${PATH}; process CPU µs per request (server + client), medians; non-2xx ${non2xx}.\n`,
  );
  console.log(
    `| configuration | CPU µs/request | over ${names[0]} | p25–p75 |\n|---|---:|---:|---|`,
  );
  for (const [name, xs] of samples) {
    const sorted = [...xs].sort((a, b) => a - b);
    const q = (p) => sorted[Math.floor(p * (sorted.length - 1))].toFixed(1);
    console.log(
      `| ${name} | ${median(xs).toFixed(1)} | ${(median(xs) - base).toFixed(1)} | ${q(0.25)}–${q(0.75)} |`,
    );
  }
  for (const c of configs) if (typeof c.close === 'function') await c.close();
  process.exit(0);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
