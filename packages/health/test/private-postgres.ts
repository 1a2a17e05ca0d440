import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../../test/helpers/index.js';

export interface PrivatePostgres {
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

function findBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const bin = join(root, v, 'bin');
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'postgres'))) return bin;
  }
  return undefined;
}

function postgresUser(): { uid: number; gid: number } | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined;
  } catch {
    return undefined;
  }
}

/** Why a private server cannot be started here, or undefined when it can. */
export function privatePostgresUnavailable(): string | undefined {
  if (!findBin()) return 'no /usr/lib/postgresql/*/bin/{initdb,postgres}';
  if (process.getuid?.() !== 0 && process.env.USER !== 'postgres') {
    return 'needs root (to run as the postgres user) or to run as postgres';
  }
  if (process.getuid?.() === 0 && !postgresUser()) return 'no postgres system user';
  return undefined;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * A throwaway PostgreSQL cluster (initdb in a temp dir, run as the postgres user) on a spare
 * loopback port, for fault tests that really stop and restart the server. Never the shared one.
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = findBin();
  if (!bin) throw new Error('private postgres: no PostgreSQL binaries');
  const user = process.getuid?.() === 0 ? postgresUser() : undefined;
  const ids = user ? { uid: user.uid, gid: user.gid } : {};
  const dir = mkdtempSync(join(tmpdir(), 'shipshape-health-pg-'));
  if (user) chownSync(dir, user.uid, user.gid);
  const data = join(dir, 'data');
  execFileSync(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync'], {
    ...ids,
    stdio: 'ignore',
  });
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      join(bin, 'postgres'),
      [
        '-D',
        data,
        '-p',
        String(port),
        '-k',
        dir,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'fsync=off',
        '-c',
        'max_connections=20',
      ],
      { ...ids, stdio: 'ignore' },
    );
    const deadline = Date.now() + 15_000;
    while (!(await canConnect(port))) {
      if (child.exitCode !== null)
        throw new Error(`private postgres exited with ${child.exitCode}`);
      if (Date.now() > deadline) throw new Error(`private postgres did not start on ${port}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // Accepting TCP is not yet accepting queries; wait for the startup to finish.
    const { default: pg } = await import('pg');
    while (true) {
      const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
      try {
        await c.connect();
        await c.query('SELECT 1');
        await c.end();
        return;
      } catch {
        await c.end().catch(() => undefined);
        if (Date.now() > deadline)
          throw new Error(`private postgres never accepted queries on ${port}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  const stop = async () => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    // SIGINT: "fast shutdown", every client connection is cut.
    child.kill('SIGINT');
    await exited;
    child = undefined;
  };
  await start();
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start,
    stop,
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
