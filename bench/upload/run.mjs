// bench/upload: a 100 MB CSV upload through uploadGuard vs a plain disk copy, an HTTP server that
// drops the body and one that writes it to a file, interleaved over rounds, each in a fresh
// process; medians reported.
// Usage: node bench/upload/run.mjs [rounds=5] [sizeMb=100]
// Each server first takes a 1 MB warm-up upload; its CPU is not counted.
// With BASELINE_SECURITY=<path to another build's dist/index.js>[,<another>...] (inside the
// repository, so their dependencies resolve) an "uploadGuard, build <its directory>" row runs each
// of those builds in the same rounds.
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { csvLine } from './csv.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const rounds = Number(process.argv[2] ?? 5);
const sizeMb = Number(process.argv[3] ?? 100);
const size = sizeMb * 1024 * 1024;
const median = (values) => {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

const work = await mkdtemp(join(tmpdir(), 'shipshape-bench-upload-'));
const src = join(work, 'input.csv');
const store = join(work, 'store');
await mkdir(store);

// A realistic CSV of `size` bytes (ASCII + some UTF-8), written once per run, never committed.
async function generate() {
  const out = createWriteStream(src);
  const hash = createHash('sha256');
  let written = 0;
  let i = 0;
  while (written < size) {
    let chunk = '';
    while (chunk.length < 64 * 1024) chunk += csvLine(i++);
    let buf = Buffer.from(chunk);
    if (written + buf.length > size) {
      // Cut on a line end so the file stays valid UTF-8.
      buf = buf.subarray(0, size - written);
      const cut = buf.lastIndexOf(0x0a) + 1;
      buf = Buffer.concat([buf.subarray(0, cut), Buffer.alloc(size - written - cut, 0x20)]);
    }
    hash.update(buf);
    written += buf.length;
    if (!out.write(buf)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'close');
  return hash.digest('hex');
}

function startServer(mode, securityModule) {
  const child = fork(join(here, 'server.mjs'), [mode, store], {
    env: {
      ...process.env,
      NODE_ENV: 'production',
      ...(securityModule ? { SECURITY_MODULE: securityModule } : {}),
    },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${mode} server exited with ${code}`)));
    child.once('message', (msg) => {
      const ask = async (type) => {
        child.send({ type });
        const [reply] = await once(child, 'message');
        return reply;
      };
      resolve({
        port: msg.port,
        rss: () => ask('rss'),
        reset: () => ask('reset'),
        stop: async () => {
          child.removeAllListeners('exit');
          const exited = once(child, 'exit');
          child.send({ type: 'stop' });
          await exited;
        },
      });
    });
  });
}

const BOUNDARY = '----shipshapeBench';
function upload(port, multipart, file = src, bytes = size) {
  const head = Buffer.from(
    multipart
      ? `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="input.csv"\r\nContent-Type: text/csv\r\n\r\n`
      : '',
  );
  const tail = Buffer.from(multipart ? `\r\n--${BOUNDARY}--\r\n` : '');
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/upload',
        headers: {
          'content-type': multipart
            ? `multipart/form-data; boundary=${BOUNDARY}`
            : 'application/octet-stream',
          'content-length': head.length + bytes + tail.length,
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => {
          const ms = Number(process.hrtime.bigint() - started) / 1e6;
          if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}: ${body}`));
          else resolve({ ms, body: JSON.parse(body) });
        });
      },
    );
    req.on('error', reject);
    req.write(head);
    // 1 MB reads: with the 64 kB default the client spent about twice the CPU of the 1 MB
    // client on the same upload, on a core it shares with the server's write thread. pipe() keeps
    // the backpressure.
    const body = createReadStream(file, { highWaterMark: 1024 * 1024 });
    body.pipe(req, { end: false });
    body.on('end', () => req.end(tail));
  });
}

async function diskCopy(buffer) {
  const args = [src, join(store, 'copy.csv'), ...(buffer ? [String(buffer)] : [])];
  const child = fork(join(here, 'copy.mjs'), args, {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const [msg] = await once(child, 'message');
  await once(child, 'exit');
  return msg;
}

console.log(`generating ${sizeMb} MB CSV in ${work} ...`);
const sha256 = await generate();
// The warm-up file: the first 1 MB of the CSV, cut at a line end so it stays valid UTF-8.
const warm = join(work, 'warm.csv');
const head = Buffer.alloc(1024 * 1024);
const input = await open(src);
await input.read(head, 0, head.length, 0);
await input.close();
const warmBody = head.subarray(0, head.lastIndexOf(0x0a) + 1);
await writeFile(warm, warmBody);
const WARM_BYTES = warmBody.length;
// name → copy buffer (disk copies) or server mode. The first row is the baseline.
const configurations = {
  'disk copy': { copy: 0 },
  'disk copy, 1 MB buffers': { copy: 1024 * 1024 },
  'http, body dropped': { server: 'discard' },
  'http raw body to file': { server: 'raw' },
  uploadGuard: { server: 'guard' },
};
for (const build of (process.env.BASELINE_SECURITY ?? '').split(',').filter(Boolean))
  configurations[`uploadGuard, build ${basename(dirname(resolve(build)))}`] = {
    server: 'guard',
    module: pathToFileURL(resolve(build)).href,
  };
const names = Object.keys(configurations);
const results = Object.fromEntries(names.map((name) => [name, []]));

for (let round = 0; round < rounds; round++) {
  // Rotate the order each round so no configuration always runs first.
  const order = [...names];
  for (let k = 0; k < round % names.length; k++) order.push(order.shift());
  for (const name of order) {
    const { copy, server: mode, module } = configurations[name];
    if (copy !== undefined) {
      const { ms, peakRss, cpuMs } = await diskCopy(copy);
      results[name].push({
        ms,
        peakRss,
        cpuMs,
        idleRss: Number.NaN,
        mainMs: Number.NaN,
        mainCpuMs: Number.NaN,
      });
      continue;
    }
    const server = await startServer(mode, module);
    // A server handles more than one upload: warm it up (JIT, lazy loading) with a 1 MB upload
    // first, then count from zero.
    await upload(server.port, mode === 'guard', warm, WARM_BYTES);
    await server.reset();
    const { ms, body } = await upload(server.port, mode === 'guard');
    if (body.size !== size) throw new Error(`${name}: stored ${body.size} bytes, expected ${size}`);
    if (mode === 'guard' && body.sha256 !== sha256) throw new Error(`${name}: sha256 mismatch`);
    const { idleRss, peakRss, cpuMs, mainMs, mainCpuMs } = await server.rss();
    await server.stop();
    results[name].push({ ms, peakRss, idleRss, cpuMs, mainMs, mainCpuMs });
  }
}
const leftovers = (await readdir(store)).length;
await rm(work, { recursive: true, force: true });

const mb = (bytes) => (bytes / 1024 / 1024).toFixed(1);
const base = median(results['disk copy'].map((r) => r.ms));
console.log(
  `\nnode bench/upload/run.mjs ${rounds} ${sizeMb} — ${sizeMb} MB, ${rounds} interleaved rounds, medians, Node ${process.version}\n`,
);
console.log(
  '| configuration | time (ms) | MB/s | vs disk copy | process CPU (ms) | main thread busy (ms) | main thread CPU (ms) | idle RSS (MB) | peak RSS (MB) |',
);
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const [name, rows] of Object.entries(results)) {
  const ms = median(rows.map((r) => r.ms));
  const idle = median(rows.map((r) => r.idleRss));
  const main = median(rows.map((r) => r.mainMs));
  const mainCpu = median(rows.map((r) => r.mainCpuMs));
  console.log(
    `| ${name} | ${ms.toFixed(0)} | ${(sizeMb / (ms / 1000)).toFixed(0)} | ${(base / ms).toFixed(2)} | ${median(rows.map((r) => r.cpuMs)).toFixed(0)} | ${Number.isNaN(main) ? '—' : main.toFixed(0)} | ${Number.isNaN(mainCpu) ? '—' : mainCpu.toFixed(0)} | ${Number.isNaN(idle) ? '—' : mb(idle)} | ${mb(median(rows.map((r) => r.peakRss)))} |`,
  );
}
console.log(`\nfiles left in the upload directory after the run: ${leftovers}`);
