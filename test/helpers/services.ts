import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createConnection, createServer } from 'node:net';

export type ServiceName = 'redis' | 'postgres';

const endpoints: Record<ServiceName, { host: string; port: number }> = {
  redis: { host: '127.0.0.1', port: 6379 },
  postgres: { host: '127.0.0.1', port: 5432 },
};

export const REDIS_URL = 'redis://127.0.0.1:6379';
export const POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';

function canConnect(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const timer = setTimeout(() => finish(false), timeoutMs);
    function finish(ok: boolean) {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    }
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

/**
 * Whether a shared service is reachable. When it is not and SHIPSHAPE_REQUIRE_SERVICES=1 (CI),
 * this throws so the suite fails instead of skipping. Use with `describe.skipIf(!available)`.
 */
export async function serviceAvailable(name: ServiceName): Promise<boolean> {
  const { host, port } = endpoints[name];
  const ok = await canConnect(host, port);
  if (!ok && process.env.SHIPSHAPE_REQUIRE_SERVICES === '1') {
    throw new Error(
      `${name} is required (SHIPSHAPE_REQUIRE_SERVICES=1) but nothing answers on ${host}:${port}`,
    );
  }
  if (!ok)
    console.warn(`[skip] ${name} is not reachable on ${host}:${port}; its suites are skipped`);
  return ok;
}

/** A free TCP port on 127.0.0.1, chosen by the OS. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface SpareRedis {
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** SIGSTOP: the server keeps its connections but answers nothing (a network black hole). */
  pause(): void;
  /** SIGCONT after `pause()` (nothing when the server is not running). */
  resume(): void;
}

/**
 * A private `redis-server` on a spare loopback port, for fault tests that stop and restart Redis.
 * Never touch the shared server on 6379 for that.
 */
export async function startSpareRedis(): Promise<SpareRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 5000;
    while (!(await canConnect('127.0.0.1', port, 200))) {
      if (Date.now() > deadline) throw new Error(`spare redis-server did not start on ${port}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stop = async () => {
    if (!child || child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
    child = undefined;
  };
  const signal = (name: NodeJS.Signals) => {
    if (!child || child.exitCode !== null) throw new Error('spare redis-server is not running');
    child.kill(name);
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start,
    stop,
    pause: () => signal('SIGSTOP'),
    resume: () => {
      if (child && child.exitCode === null) child.kill('SIGCONT');
    },
  };
}

// --- Redis fault helpers: a black hole, and latency sampling over real HTTP ---

export interface BlackHole {
  readonly port: number;
  /** `redis://127.0.0.1:<port>`: connects, and no command is ever answered. */
  readonly url: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

/**
 * A TCP server that accepts connections, reads what it is sent and never answers: what a client
 * sees when the network between it and Redis silently drops packets after the connection was made.
 */
export async function startBlackHole(): Promise<BlackHole> {
  const sockets = new Set<import('node:net').Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get accepted() {
      return accepted;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface LatencySample {
  readonly statuses: readonly number[];
  /** Milliseconds per request, in the order sent. */
  readonly durations: readonly number[];
  readonly median: number;
  readonly max: number;
}

/**
 * Sends `count` GET requests to `url` (or `url(i)` for the i-th request; `concurrency` at a time,
 * keep-alive off) and measures each one; for asserting added latency during an outage with real
 * HTTP rather than a mock.
 */
export async function sampleLatency(
  url: string | ((i: number) => string),
  count: number,
  options: { concurrency?: number; headers?: Record<string, string> } = {},
): Promise<LatencySample> {
  const statuses: number[] = new Array(count);
  const durations: number[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const started = performance.now();
      const target = typeof url === 'string' ? url : url(i);
      const res = await fetch(target, { headers: { connection: 'close', ...options.headers } });
      await res.arrayBuffer();
      durations[i] = performance.now() - started;
      statuses[i] = res.status;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 1 }, worker));
  const sorted = [...durations].sort((a, b) => a - b);
  return {
    statuses,
    durations,
    median: sorted[Math.floor(sorted.length / 2)] ?? 0,
    max: sorted[sorted.length - 1] ?? 0,
  };
}
// --- end of Redis fault helpers ---
