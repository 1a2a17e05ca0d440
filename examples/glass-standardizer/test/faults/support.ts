import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../../../test/helpers/index.js';
import { EXAMPLE_ROOT, MAIN } from '../http/child.js';
import { ADMIN_TOKEN } from '../http/support.js';

const run = promisify(execFile);

/** A generated isolate file of `rows` rows (cached per size and seed in `dir`). */
export async function generated(dir: string, rows: number, seed = 7): Promise<string> {
  const file = join(dir, `generated-${rows}-${seed}.csv`);
  if (!existsSync(file))
    await run(process.execPath, [
      join(EXAMPLE_ROOT, 'scripts/generate.mjs'),
      '--rows',
      String(rows),
      '--seed',
      String(seed),
      '--out',
      file,
    ]);
  return file;
}

/** Time of one request, in ms, with its status (0 when it failed to connect). */
export async function timed(
  url: string,
  init?: RequestInit,
): Promise<{ ms: number; status: number; body: string; headers: Headers }> {
  const started = performance.now();
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
    const body = await res.text();
    return { ms: performance.now() - started, status: res.status, body, headers: res.headers };
  } catch {
    return { ms: performance.now() - started, status: 0, body: '', headers: new Headers() };
  }
}

export const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : (s[Math.floor(s.length / 2)] as number);
};

/**
 * Starts `node dist/main.js` and waits for it to exit (for starts that must fail), or gives up
 * after `timeoutMs` and kills it. Resolves with the exit code and everything it printed.
 */
export async function startExpectingExit(
  env: Record<string, string>,
  timeoutMs = 20_000,
): Promise<{ code: number | null; output: string; stderr: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, [MAIN], {
    cwd: EXAMPLE_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: String(port),
      ADMIN_TOKEN,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => {
    output += c;
  });
  child.stderr?.setEncoding('utf8').on('data', (c: string) => {
    output += c;
    stderr += c;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  return { code, output, stderr };
}
