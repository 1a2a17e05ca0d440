import { execFile, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './services.js';

const run = promisify(execFile);

export interface SparePostgres {
  readonly port: number;
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust auth). */
  readonly url: string;
  /** Starts the server (again) and waits until it accepts connections. */
  start(): Promise<void>;
  /** `pg_ctl stop -m fast`: connections are terminated ("terminating connection due to administrator command"). */
  stop(): Promise<void>;
  /** SIGKILL of the postmaster: what a crash or an OOM kill does. */
  kill(): Promise<void>;
  /** Stops the server and deletes its data directory. */
  destroy(): Promise<void>;
}

/** The directory of initdb/pg_ctl: `pg_config --bindir`, else the newest /usr/lib/postgresql/N/bin. */
function binDir(): string | undefined {
  const fromConfig = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  const dir = fromConfig.status === 0 ? fromConfig.stdout.trim() : '';
  if (dir && existsSync(join(dir, 'initdb'))) return dir;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : undefined;
}

/** Whether this machine can run a private PostgreSQL (initdb and pg_ctl installed). */
export function canRunSparePostgres(): boolean {
  return binDir() !== undefined;
}

/**
 * A private PostgreSQL (`initdb` into a temp dir, `pg_ctl` on a spare loopback port) that fault
 * tests can stop, kill and restart. Never touch the shared server on 5432 for that. As root, the
 * server runs as the `postgres` user (PostgreSQL refuses to run as root).
 */
export async function startSparePostgres(): Promise<SparePostgres> {
  const bin = binDir();
  if (!bin) throw new Error('startSparePostgres: initdb/pg_ctl not found (install postgresql)');
  const root = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'spare-pg-'));
  const data = join(dir, 'data');
  if (root) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const as = (command: string, args: string[]) =>
    root
      ? run('runuser', ['-u', 'postgres', '--', join(bin, command), ...args])
      : run(join(bin, command), args);
  await as('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`;
  const start = async () => {
    await as('pg_ctl', [
      '-D',
      data,
      '-o',
      options,
      '-l',
      join(dir, 'log'),
      '-w',
      '-t',
      '30',
      'start',
    ]);
  };
  const stop = async () => {
    await as('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']).catch(() => undefined);
  };
  const kill = async () => {
    const pidFile = join(data, 'postmaster.pid');
    const { stdout } = await run('head', ['-n', '1', pidFile]).catch(() => ({ stdout: '' }));
    const pid = Number(stdout.trim());
    if (!pid) return;
    process.kill(pid, 'SIGKILL');
    // The children (backends) exit once the postmaster is gone; wait until the port is free.
    for (let i = 0; i < 100; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    rmSync(pidFile, { force: true });
  };
  await start();
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start,
    stop,
    kill,
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
