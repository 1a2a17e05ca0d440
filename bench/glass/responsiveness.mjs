#!/usr/bin/env node
// Does the HTTP thread stay free while the service works? Starts the example service (built
// dist/main.js, SQLite in a temp DATA_DIR), probes GET /health/live every 50 ms from this process
// (as kubelet would), and meanwhile: uploads a generated file and waits until it is processed,
// downloads isolates.csv in full, and asks uncached analytics (a different query each time).
// Reports probe latency per phase (p50/p99/max, probes over 1 s = a Kubernetes probe timeout),
// processing rows/s, export MB/s, analytics ms, and the service's peak RSS (VmHWM).
//
// Usage: node bench/glass/responsiveness.mjs [--rows 1000000] [--rounds 1] [--baseline DIR]
//   --baseline DIR: another build of examples/glass-standardizer (its dist/main.js) measured in
//   the same run, interleaved (see docs/benchmarks.md for how the baseline build is made).
// Needs: npm run build
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { median } from '../lib.mjs';

const root = join(import.meta.dirname, '..', '..', 'examples', 'glass-standardizer');
const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    rounds: { type: 'string', default: '1' },
    baseline: { type: 'string' },
    queries: { type: 'string', default: '12' },
    // Extra environment for the service, e.g. --env MALLOC_ARENA_MAX=2 (repeatable).
    env: { type: 'string', multiple: true, default: [] },
  },
});
const extraEnv = Object.fromEntries(values.env.map((pair) => pair.split(/=(.*)/s).slice(0, 2)));
const rows = Number(values.rows);
const builds = [{ name: 'current', dir: root }];
if (values.baseline) builds.push({ name: 'baseline', dir: values.baseline });

const cacheDir = join(tmpdir(), 'glass-bench');
const file = join(cacheDir, `rows-${rows}-seed42.csv`);
if (!existsSync(file)) {
  const { execFileSync } = await import('node:child_process');
  execFileSync('mkdir', ['-p', cacheDir]);
  execFileSync(process.execPath, [
    join(root, 'scripts/generate.mjs'),
    '--rows',
    String(rows),
    '--seed',
    '42',
    '--out',
    file,
  ]);
}
const bytes = statSync(file).size;

async function freePort() {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  return port;
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

/**
 * GET /health/live every `everyMs`, one at a time (no keep-alive), recording each latency per
 * phase. It runs in a worker thread: this thread reads the upload into memory and consumes the
 * export, which must not delay the probes it measures.
 */
function prober(url, everyMs = 50) {
  const worker = new Worker(
    `
    const { parentPort, workerData } = require('node:worker_threads');
    const { get } = require('node:http');
    let phase = 'idle';
    let stopped = false;
    const samples = {};
    parentPort.on('message', (m) => {
      if (m.phase) phase = m.phase;
      if (m.stop) stopped = true;
    });
    (async () => {
      while (!stopped) {
        const started = performance.now();
        const ms = await new Promise((resolve) => {
          const req = get(workerData.url + '/health/live', { agent: false }, (res) => {
            res.resume();
            res.on('end', () => resolve(performance.now() - started));
          });
          req.on('error', () => resolve(Number.POSITIVE_INFINITY));
        });
        (samples[phase] ??= []).push(ms);
        const wait = workerData.everyMs - (performance.now() - started);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      parentPort.postMessage(samples);
    })();
    `,
    { eval: true, workerData: { url, everyMs } },
  );
  return {
    set phase(name) {
      worker.postMessage({ phase: name });
    },
    async stop() {
      worker.postMessage({ stop: true });
      const [samples] = await once(worker, 'message');
      await worker.terminate();
      return new Map(Object.entries(samples));
    },
  };
}

const ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef';
// Every API call carries the admin key (builds without authentication ignore it).
const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

async function run(build) {
  const dir = mkdtempSync(join(tmpdir(), 'glass-responsive-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [join(build.dir, 'dist/main.js')], {
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: join(dir, 'data'),
      LOG_DIR: join(dir, 'logs'),
      LOG_LEVEL: 'warn',
      // The 1M-row file is 130 MB.
      UPLOAD_MAX_BYTES: '1gb',
      ADMIN_TOKEN,
      ...extraEnv,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    for (;;) {
      const ok = await fetch(`${url}/health/ready`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const probes = prober(url);
    const result = { build: build.name };
    // The service's resident memory, sampled per phase (peak of each).
    let phase = 'idle';
    const rssByPhase = {};
    const rssTimer = setInterval(() => {
      try {
        const kb = Number(
          /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1],
        );
        rssByPhase[phase] = Math.max(rssByPhase[phase] ?? 0, Math.round(kb / 1024));
      } catch {}
    }, 100);
    const enter = (name) => {
      phase = name;
      probes.phase = name;
    };

    enter('processing');
    const form = new FormData();
    for (const [k, v] of Object.entries({ country: 'KEN', year: '2024', batchId: 'BENCH' }))
      form.set(k, v);
    form.set('file', new Blob([readFileSync(file)], { type: 'text/csv' }), 'bench.csv');
    const uploaded = performance.now();
    const res = await fetch(`${url}/api/datasets`, { method: 'POST', body: form, headers: auth });
    if (res.status !== 202) throw new Error(`upload: ${res.status} ${await res.text()}`);
    const { id } = await res.json();
    let dataset;
    for (;;) {
      dataset = await (await fetch(`${url}/api/datasets/${id}`, { headers: auth })).json();
      if (dataset.status !== 'queued' && dataset.status !== 'processing') break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    if (dataset.status !== 'done') throw new Error(`dataset ${dataset.status}: ${dataset.error}`);
    result.processingS = (Date.parse(dataset.finishedAt) - Date.parse(dataset.startedAt)) / 1000;
    result.uploadToDoneS = (performance.now() - uploaded) / 1000;
    result.rowsPerS = Math.round(rows / result.processingS);

    enter('export');
    const exported = performance.now();
    const csv = await fetch(`${url}/api/datasets/${id}/isolates.csv`, { headers: auth });
    let exportBytes = 0;
    for await (const chunk of csv.body) exportBytes += chunk.length;
    result.exportS = (performance.now() - exported) / 1000;
    result.exportMBps = Math.round((exportBytes / 1e6 / result.exportS) * 10) / 10;

    enter('analytics');
    const queries =
      build.name === 'baseline' ? Math.min(3, Number(values.queries)) : Number(values.queries);
    const groupBys = ['specimen', 'sex', 'age_group', 'origin', 'year', ''];
    const times = [];
    for (let q = 0; q < queries; q++) {
      // A different minimum each time: never a cache hit.
      const params = new URLSearchParams({ minimum: String(100 + q) });
      if (groupBys[q % groupBys.length]) params.set('groupBy', groupBys[q % groupBys.length]);
      const path = q % 2 ? 'antibiogram' : 'resistance';
      if (path === 'antibiogram') params.delete('groupBy');
      const started = performance.now();
      const answer = await fetch(`${url}/api/datasets/${id}/${path}?${params}`, { headers: auth });
      await answer.arrayBuffer();
      if (answer.status !== 200) throw new Error(`analytics ${path}: ${answer.status}`);
      times.push(performance.now() - started);
    }
    result.analyticsMsMedian = Math.round(median(times));
    result.analyticsMsMax = Math.round(Math.max(...times));

    clearInterval(rssTimer);
    result.rssMbByPhase = rssByPhase;
    const samples = await probes.stop();
    result.probes = {};
    const all = [];
    for (const [phase, list] of samples) {
      all.push(...list);
      result.probes[phase] = {
        n: list.length,
        p50: Math.round(pct(list, 50) * 10) / 10,
        p99: Math.round(pct(list, 99) * 10) / 10,
        max: Math.round(Math.max(...list)),
        over1s: list.filter((ms) => ms > 1000).length,
      };
    }
    result.probes.all = {
      n: all.length,
      p50: Math.round(pct(all, 50) * 10) / 10,
      p99: Math.round(pct(all, 99) * 10) / 10,
      max: Math.round(Math.max(...all)),
      over1s: all.filter((ms) => ms > 1000).length,
    };
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    result.peakRssMb = Math.round(Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
    return result;
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
    rmSync(dir, { recursive: true, force: true });
  }
}

const results = [];
for (let round = 0; round < Number(values.rounds); round++) {
  for (const build of round % 2 ? [...builds].reverse() : builds) {
    const result = await run(build);
    results.push(result);
    process.stderr.write(`${JSON.stringify(result)}\n`);
  }
}
process.stdout.write(
  `${JSON.stringify({ rows, fileMB: Math.round(bytes / 1e5) / 10, results }, null, 2)}\n`,
);
