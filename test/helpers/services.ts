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
  await start();
  return { port, url: `redis://127.0.0.1:${port}`, start, stop };
}
