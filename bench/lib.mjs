// Shared benchmark runner: every server in its own process, autocannon in another, configurations
// interleaved over several rounds, medians reported with ratios to a baseline from the same round.
import { fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const autocannonBin = join(dirname(require.resolve('autocannon/package.json')), 'autocannon.js');

export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const envNumber = (name, fallback) => {
  const raw = process.env[name];
  return raw === undefined || raw === '' ? fallback : Number(raw);
};

/** Starts one server module in a child process; resolves with its port and controls. */
export async function startServer(server) {
  const child = fork(join(here, 'server-host.mjs'), [server.module.href ?? String(server.module)], {
    env: { ...process.env, NODE_ENV: 'production', ...server.env },
    execArgv: server.execArgv ?? [],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const [ready] = await Promise.race([
    once(child, 'message'),
    once(child, 'exit').then(([code]) => {
      throw new Error(`bench server ${server.name} exited with ${code} before listening`);
    }),
  ]);
  const ask = async (type) => {
    child.send({ type });
    const [reply] = await once(child, 'message');
    return reply;
  };
  return {
    port: ready.port,
    url: `http://127.0.0.1:${ready.port}`,
    peakRssMb: async () => (await ask('rss')).peakRssMb,
    stop: async () => {
      const exited = once(child, 'exit');
      child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Runs autocannon in its own process and returns its JSON result: for `duration` seconds, or
 * `amount` requests when given. `pin` runs it on CPU 0 (taskset).
 */
export async function autocannon(
  url,
  { connections, duration, amount, method, headers, body, pin = false },
) {
  const args = [autocannonBin, '--json', '-c', String(connections)];
  if (amount !== undefined) args.push('-a', String(amount));
  else args.push('-d', String(duration));
  if (method) args.push('-m', method);
  for (const [name, value] of Object.entries(headers ?? {})) args.push('-H', `${name}=${value}`);
  if (body) args.push('-b', body);
  args.push(url);
  const child = pin
    ? spawn('taskset', ['-c', '0', process.execPath, ...args], {
        stdio: ['ignore', 'pipe', 'ignore'],
      })
    : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.on('data', (chunk) => {
    out += chunk;
  });
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`autocannon exited with ${code}`);
  return JSON.parse(out);
}

/**
 * Server CPU time per request: serves `module` from `cpu-host.mjs` in its own process, sends
 * `warmup` then `amount` requests with autocannon, and divides the CPU time (user + system) the
 * server spent on the measured requests by the requests completed. CPU per request leaves out
 * time spent waiting for a core, so it drifts less than req/s on a shared machine. `pin` runs the
 * server on CPU 1 and autocannon on CPU 0 (taskset). Resolves with `{ micros, total, ok, non2xx }`.
 */
export async function serverCpuPerRequest({
  module,
  env = {},
  execArgv = [],
  path = '/',
  amount,
  warmup,
  connections = 10,
  pin = false,
}) {
  const child = fork(join(here, 'cpu-host.mjs'), [module.href ?? String(module)], {
    env: { ...process.env, NODE_ENV: 'production', ...env },
    execArgv,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const [{ port }] = await once(child, 'message');
  if (pin)
    await once(spawn('taskset', ['-p', '-c', '1', String(child.pid)], { stdio: 'ignore' }), 'exit');
  const cpu = async () => {
    child.send({ type: 'cpu' });
    return (await once(child, 'message'))[0].micros;
  };
  const url = `http://127.0.0.1:${port}${path}`;
  await autocannon(url, { amount: warmup, connections, pin });
  const before = await cpu();
  const result = await autocannon(url, { amount, connections, pin });
  const after = await cpu();
  child.send({ type: 'stop' });
  await once(child, 'exit');
  const total = result.requests.total;
  return { micros: (after - before) / total, total, ok: result['2xx'], non2xx: result.non2xx };
}

/** Adds one round's samples (server name → sample) with their ratios to `baseline`'s. */
export function addRound(samples, results, baseline) {
  const base = results.get(baseline);
  for (const [serverName, sample] of results)
    samples.get(serverName).push({
      ...sample,
      ratio: sample.reqPerSec / base.reqPerSec,
      p99Ratio: base.p99 > 0 ? sample.p99 / base.p99 : Number.NaN,
    });
}

/** One row per server: medians over the rounds (ratios: median of the per-round ratios). */
export function summarizeRounds(servers, samples) {
  return servers.map((server) => {
    const list = samples.get(server.name);
    return {
      server: server.name,
      reqPerSec: median(list.map((s) => s.reqPerSec)),
      p50: median(list.map((s) => s.p50)),
      p99: median(list.map((s) => s.p99)),
      ratio: median(list.map((s) => s.ratio)),
      p99Ratio: median(list.map((s) => s.p99Ratio)),
      peakRssMb: Math.max(...list.map((s) => s.peakRssMb)),
      non2xx: list.reduce((sum, s) => sum + s.non2xx, 0),
      errors: list.reduce((sum, s) => sum + s.errors, 0),
      perRound: list.map((s) => s.ratio.toFixed(2)).join(', '),
    };
  });
}

/**
 * @param {object} options
 * @param {string} options.name  results file name and table title
 * @param {{ name: string, module: URL, env?: Record<string,string>, path?: string }[]} options.servers
 * @param {string} options.baseline  name of the server that ratios are computed against
 */
export async function runServerBench(options) {
  const {
    name,
    servers,
    baseline,
    path = '/',
    method,
    headers,
    body,
    rounds = envNumber('BENCH_ROUNDS', 3),
    duration = envNumber('BENCH_DURATION', 10),
    warmup = envNumber('BENCH_WARMUP', 3),
    connections = envNumber('BENCH_CONNECTIONS', 50),
  } = options;
  if (!servers.some((s) => s.name === baseline))
    throw new Error(`baseline ${baseline} not in servers`);
  const samples = new Map(servers.map((s) => [s.name, []]));
  for (let round = 0; round < rounds; round++) {
    // Rotate the order each round so no configuration always runs first (or last) on a warm machine.
    const order = servers.map((_, i) => servers[(i + round) % servers.length]);
    const results = new Map();
    for (const server of order) {
      const running = await startServer(server);
      try {
        const target = `${running.url}${server.path ?? path}`;
        const load = { connections, method, headers: server.headers ?? headers, body };
        if (warmup > 0) await autocannon(target, { ...load, duration: warmup });
        const result = await autocannon(target, { ...load, duration });
        const sample = {
          reqPerSec: result.requests.average,
          p50: result.latency.p50,
          p99: result.latency.p99,
          non2xx: result.non2xx,
          errors: result.errors,
          peakRssMb: await running.peakRssMb(),
        };
        results.set(server.name, sample);
        process.stderr.write(
          `[${name}] round ${round + 1}/${rounds} ${server.name}: ${sample.reqPerSec.toFixed(0)} req/s p99 ${sample.p99} ms\n`,
        );
      } finally {
        await running.stop();
      }
    }
    addRound(samples, results, baseline);
  }
  const rows = summarizeRounds(servers, samples);
  const command = `node ${process.argv
    .slice(1)
    .map((a) => a.replace(`${process.cwd()}/`, ''))
    .join(' ')}`;
  const table = formatTable(rows, {
    name,
    rounds,
    duration,
    warmup,
    connections,
    command,
    baseline,
  });
  process.stdout.write(`${table}\n`);
  await mkdir(join(here, 'results'), { recursive: true });
  await writeFile(
    join(here, 'results', `${name}.json`),
    JSON.stringify(
      {
        name,
        date: new Date().toISOString(),
        node: process.version,
        rounds,
        duration,
        warmup,
        connections,
        rows,
        samples: Object.fromEntries(samples),
      },
      null,
      2,
    ),
  );
  return rows;
}

export function formatTable(
  rows,
  { name, rounds, duration, warmup, connections, command, baseline },
) {
  const lines = [
    `### ${name}`,
    '',
    `\`${command}\` — ${rounds} interleaved rounds, ${connections} connections, ${duration} s after a ${warmup} s warm-up; medians; ratio = req/s ÷ \`${baseline}\` in the same round.`,
    '',
    '| server | req/s | ratio | p50 ms | p99 ms | p99 ratio | peak RSS MB | non-2xx | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.server} | ${r.reqPerSec.toFixed(0)} | ${r.ratio.toFixed(2)} | ${r.p50} | ${r.p99} | ${Number.isNaN(r.p99Ratio) ? '–' : r.p99Ratio.toFixed(2)} | ${r.peakRssMb.toFixed(0)} | ${r.non2xx} | ${r.errors} |`,
    );
  }
  return lines.join('\n');
}
