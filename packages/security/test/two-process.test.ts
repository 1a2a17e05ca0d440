import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileToPrivateDir, REDIS_URL, serviceAvailable } from '../../../test/helpers/index.js';
import { uniquePrefix } from './helpers/http.js';

const redisUp = await serviceAvailable('redis');
const here = dirname(fileURLToPath(import.meta.url));
const packageDir = join(here, '..');

function startChild(entry: string, prefix: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    process.execPath,
    [join(here, 'fixtures', 'limit-app.mjs'), entry, REDIS_URL, prefix, '50'],
    { stdio: ['pipe', 'pipe', 'inherit'], cwd: packageDir },
  );
  return new Promise((resolve, reject) => {
    let buffer = '';
    child.once('exit', (code) => reject(new Error(`child exited early with ${code}`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const line = buffer.split('\n')[0];
      if (buffer.includes('\n') && line)
        resolve({ child, port: (JSON.parse(line) as { port: number }).port });
    });
  });
}

function get(port: number, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(!redisUp)('rateLimit across two processes sharing Redis', () => {
  const prefix = uniquePrefix('two-process');
  let buildDir: string;
  const children: ChildProcess[] = [];
  const ports: number[] = [];

  beforeAll(async () => {
    buildDir = await compileToPrivateDir(packageDir, 'security-two-process');
    for (let i = 0; i < 2; i++) {
      const { child, port } = await startChild(join(buildDir, 'index.js'), prefix);
      children.push(child);
      ports.push(port);
    }
  }, 120_000);

  afterAll(async () => {
    for (const child of children) {
      const exited = once(child, 'exit');
      child.stdin?.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    const client = createClient({ url: REDIS_URL });
    await client.connect();
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(keys);
    client.destroy();
    if (buildDir) await rm(buildDir, { recursive: true, force: true });
  });

  it('limit 50, 200 concurrent requests split over both processes: exactly 50 succeed and 150 get 429', async () => {
    const agent = new Agent({ keepAlive: false, maxSockets: 200 });
    try {
      const [portA = 0, portB = 0] = ports;
      expect(portA).not.toBe(portB);
      const all = await Promise.all(
        Array.from({ length: 200 }, (_, i) => get(i % 2 === 0 ? portA : portB, agent)),
      );
      const ok = all.filter((s) => s === 200).length;
      const limited = all.filter((s) => s === 429).length;
      expect({ ok, limited, other: all.length - ok - limited }).toEqual({
        ok: 50,
        limited: 150,
        other: 0,
      });
    } finally {
      agent.destroy();
    }
  });
});
