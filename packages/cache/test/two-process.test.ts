import { type ChildProcess, fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileToPrivateDir, REDIS_URL, serviceAvailable } from '../../../test/helpers/index.js';
import { connect, deleteByPrefix, uniquePrefix, waitFor } from './helpers.js';

const redisUp = await serviceAvailable('redis');
const here = dirname(fileURLToPath(import.meta.url));
const packageDir = join(here, '..');

interface Worker {
  readonly child: ChildProcess;
  call<T = unknown>(op: string, args?: Record<string, unknown>): Promise<T>;
}

async function startWorker(entry: string, prefix: string, name: string): Promise<Worker> {
  const child = fork(join(here, 'fixtures', 'cache-worker.mjs'), [entry, REDIS_URL, prefix, name], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    cwd: packageDir,
  });
  let next = 0;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`cache worker exited early with ${code}`)));
    child.on(
      'message',
      (message: {
        ready?: boolean;
        id?: number;
        ok?: boolean;
        result?: unknown;
        error?: string;
      }) => {
        if (message.ready) {
          resolve();
          return;
        }
        const waiter = pending.get(message.id as number);
        pending.delete(message.id as number);
        if (message.ok) waiter?.resolve(message.result);
        else waiter?.reject(new Error(message.error));
      },
    );
  });
  return {
    child,
    call: <T>(op: string, args?: Record<string, unknown>) =>
      new Promise<T>((resolve, reject) => {
        const id = next++;
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ id, op, args });
      }),
  };
}

describe.skipIf(!redisUp)('two processes sharing Redis', () => {
  const prefix = uniquePrefix('two-process');
  let buildDir: string;
  let a: Worker;
  let b: Worker;

  beforeAll(async () => {
    buildDir = await compileToPrivateDir(packageDir, 'cache-two-process');
    const entry = join(buildDir, 'index.js');
    [a, b] = await Promise.all([
      startWorker(entry, prefix, 'shared'),
      startWorker(entry, prefix, 'shared'),
    ]);
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled([a?.call('close'), b?.call('close')]);
    const client = await connect(REDIS_URL);
    await deleteByPrefix(client, prefix);
    await client.close();
    if (buildDir) await rm(buildDir, { recursive: true, force: true });
  });

  it('runs the loader once across both processes for concurrent misses on one key', async () => {
    const [fromA, fromB] = await Promise.all([
      a.call<{ results: string[]; loads: number }>('getOrSet', {
        key: 'hot',
        callers: 50,
        delayMs: 300,
        value: 'A',
      }),
      b.call<{ results: string[]; loads: number }>('getOrSet', {
        key: 'hot',
        callers: 50,
        delayMs: 300,
        value: 'B',
      }),
    ]);
    expect(fromA.loads + fromB.loads).toBe(1);
    const winner = fromA.loads === 1 ? 'A' : 'B';
    expect(new Set([...fromA.results, ...fromB.results])).toEqual(new Set([winner]));
    expect(fromA.results).toHaveLength(50);
    expect(fromB.results).toHaveLength(50);
  });

  it('starts nothing at import, and a process that used and closed its caches exits by itself', async () => {
    const child = spawn(
      process.execPath,
      [
        join(here, 'fixtures', 'exits.mjs'),
        join(buildDir, 'index.js'),
        REDIS_URL,
        `${prefix}exits:`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: packageDir },
    );
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
    clearTimeout(killer);
    expect(signal).toBeNull(); // not killed: it exited on its own
    expect(code).toBe(0);
    const report = JSON.parse(out.trim()) as { before: string[]; afterImport: string[] };
    expect(report.afterImport).toEqual(report.before);
  }, 30_000);

  it('invalidates a tag in the other process, including its in-process L1 copy', async () => {
    await a.call('set', { key: 'p1', value: 'one', tags: ['products'] });
    await a.call('set', { key: 'p2', value: 'two', tags: ['products'] });
    await a.call('set', { key: 'o1', value: 'order', tags: ['orders'] });
    const l1Hits = async () =>
      (await b.call<{ tiers: { tier: string; hits: number }[] }>('stats')).tiers.find(
        (tier) => tier.tier === 'l1',
      )?.hits ?? 0;
    // b holds p1 in its L1 (a read overlapping a's invalidation is not kept, so retry until it is).
    await waitFor(async () => {
      const before = await l1Hits();
      expect(await b.call('get', { key: 'p1' })).toBe('one');
      return (await l1Hits()) > before;
    }, 5000);

    expect(await a.call('invalidateTag', { tag: 'products' })).toBe(2);
    await waitFor(async () => (await b.call('get', { key: 'p1' })) === null, 5000);
    expect(await b.call('get', { key: 'p2' })).toBeNull();
    expect(await b.call('get', { key: 'o1' })).toBe('order');
  });
});
