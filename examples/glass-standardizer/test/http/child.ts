import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../../../test/helpers/index.js';
import { ADMIN_TOKEN, type DatasetSummary, registerAdminKey } from './support.js';

/** The example's root directory (holds package.json, dist/, test/fixtures/). */
export const EXAMPLE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The built entry point, as `npm start` runs it. */
export const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

export interface ChildGlass {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code and signal once the process has ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends SIGTERM (unless it has already exited) and waits for the exit; SIGKILL after 20 s. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Runs `node dist/main.js` in a child process on 127.0.0.1 and a free port with the given
 * environment (DATA_DIR, LOG_DIR... are the caller's), and resolves once `/health/ready` answers 200.
 */
export async function spawnGlass(
  env: Record<string, string>,
  options: { cwd?: string; readyTimeoutMs?: number } = {},
): Promise<ChildGlass> {
  if (!existsSync(MAIN))
    throw new Error(`${MAIN} is missing: build the example first (npx tsc -p tsconfig.build.json)`);
  const port = await freePort();
  const child = spawn(process.execPath, [MAIN], {
    cwd: options.cwd ?? EXAMPLE_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: String(port),
      ADMIN_TOKEN,
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let ended = false;
  void exited.then(() => {
    ended = true;
  });
  const url = `http://127.0.0.1:${port}`;
  registerAdminKey(url, env.ADMIN_TOKEN ?? ADMIN_TOKEN);
  const deadline = Date.now() + (options.readyTimeoutMs ?? 45_000);
  for (;;) {
    if (ended) throw new Error(`glass-standardizer exited before it was ready:\n${output}`);
    const ok = await fetch(`${url}/health/ready`).then(
      (res) => res.status === 200,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`glass-standardizer not ready after the timeout:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    port,
    child,
    output: () => output,
    exited,
    async stop() {
      if (!ended) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
        }
      }
      return exited;
    },
  };
}

/** Polls a dataset (every `intervalMs`) until processing has ended; returns its summary. */
export async function waitDone(
  url: string,
  id: string,
  { timeoutMs = 90_000, intervalMs = 300 } = {},
): Promise<DatasetSummary> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${url}/api/datasets/${id}`);
    if (res.status !== 200) throw new Error(`GET dataset ${id}: ${res.status} ${await res.text()}`);
    const body = (await res.json()) as DatasetSummary;
    if (body.status !== 'queued' && body.status !== 'processing') return body;
    if (Date.now() > deadline) throw new Error(`dataset ${id} still ${body.status}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
