// Like bench/lib.mjs's serverCpuPerRequest and runServerBench, but through ./host.mjs, which also
// runs servers that own their http.Server (harden()'s lifecycle: `listen()` exported).
import { fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { autocannon, median } from '../lib.mjs';

const host = new URL('./host.mjs', import.meta.url).pathname;

const serverModules = {
  bare: 'bare.mjs',
  full: 'shipshape-full.mjs',
  'full+lifecycle': 'shipshape-full.mjs',
  'full-api': 'shipshape-full.mjs',
  hand: 'hand-assembled.mjs',
};

/**
 * The module and environment of one of the overhead bench's servers by name: bare, full
 * (harden()), full+lifecycle (harden() owning the server), full-api (that with securityHeaders
 * profile 'api'), hand (hand-assembled), or a BENCH_PART of servers/single.mjs; `before:<name>`
 * is the copy in BENCH_BEFORE (snapshot-before.mjs).
 */
export function benchServer(label) {
  const before = label.startsWith('before:');
  const name = before ? label.slice(7) : label;
  const base = before
    ? new URL(`file://${process.env.BENCH_BEFORE}/bench/overhead/`)
    : new URL('./', import.meta.url);
  return {
    module: new URL(`./servers/${serverModules[name] ?? 'single.mjs'}`, base),
    env: {
      BENCH_PART: name,
      BENCH_LIFECYCLE: name === 'full+lifecycle' || name === 'full-api' ? '1' : '0',
      BENCH_HEADERS_PROFILE: name === 'full-api' ? 'api' : '',
    },
  };
}

/** Starts a server module under host.mjs; resolves with its port and controls. */
export async function startHost({ module, env = {}, execArgv = [], pin = false }) {
  const child = fork(host, [module.href ?? String(module)], {
    env: { ...process.env, NODE_ENV: 'production', ...env },
    execArgv,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const [{ port }] = await Promise.race([
    once(child, 'message'),
    once(child, 'exit').then(([code]) => {
      throw new Error(`bench server ${module} exited with ${code} before listening`);
    }),
  ]);
  if (pin)
    await once(spawn('taskset', ['-p', '-c', '1', String(child.pid)], { stdio: 'ignore' }), 'exit');
  const ask = async (type) => {
    child.send({ type });
    return (await once(child, 'message'))[0];
  };
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    cpuMicros: async () => (await ask('cpu')).micros,
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

/** Server CPU µs per request over `amount` requests after `warmup` (autocannon pinned to CPU 0). */
export async function serverCpu({ module, env, path = '/', amount, warmup, connections = 20 }) {
  const server = await startHost({ module, env, pin: true });
  try {
    const url = `${server.url}${path}`;
    await autocannon(url, { amount: warmup, connections, pin: true });
    const before = await server.cpuMicros();
    const result = await autocannon(url, { amount, connections, pin: true });
    const after = await server.cpuMicros();
    return { micros: (after - before) / result.requests.total, non2xx: result.non2xx };
  } finally {
    await server.stop();
  }
}

/** One throughput sample: warm-up, then `duration` s of autocannon; req/s, p50, p99, RSS. */
export async function throughput({ module, env, path = '/', duration, warmup, connections }) {
  const server = await startHost({ module, env });
  try {
    const url = `${server.url}${path}`;
    if (warmup > 0) await autocannon(url, { connections, duration: warmup });
    const r = await autocannon(url, { connections, duration });
    return {
      reqPerSec: r.requests.average,
      p50: r.latency.p50,
      p99: r.latency.p99,
      non2xx: r.non2xx,
      errors: r.errors,
      peakRssMb: await server.peakRssMb(),
    };
  } finally {
    await server.stop();
  }
}

export { median };
