// harden()'s process handlers, with real processes and signals: none until listen(), none left
// by dispose(), and a process that never listens keeps Node's own behaviour.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('./fixtures/many.mjs', import.meta.url));

interface Line {
  readonly e: string;
  readonly [key: string]: unknown;
}

function run(env: Record<string, string>) {
  const child = spawn(process.execPath, [fixture], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Line[] = [];
  let pending = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const part of parts) if (part.startsWith('{"e":')) lines.push(JSON.parse(part) as Line);
    for (const w of waiters) w();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      resolve(code);
      for (const w of waiters) w();
    });
  });
  const waitFor = (e: string) =>
    new Promise<Line>((resolve, reject) => {
      const check = () => {
        const found = lines.find((l) => l.e === e);
        if (found) {
          waiters.delete(check);
          resolve(found);
        } else if (child.exitCode !== null) {
          waiters.delete(check);
          reject(new Error(`the fixture exited before "${e}"; stderr:\n${stderr}`));
        }
      };
      waiters.add(check);
      check();
    });
  return { child, exited, waitFor, stderr: () => stderr };
}

const each = (n: number) => ({
  SIGTERM: n,
  SIGINT: n,
  uncaughtException: n,
  unhandledRejection: n,
});

describe('harden() process handlers (child process)', () => {
  for (const exit of ['1', '0']) {
    it(`a stray rejection in a process that never listened is not swallowed (lifecycle.exit ${exit === '1'})`, async () => {
      const f = run({ MODE: 'reject', EXIT: exit });
      const created = await f.waitFor('created');
      expect(created.after).toEqual(each(0));
      // Node's own behaviour: the error on stderr and exit code 1, whatever the lifecycle options.
      expect(await f.exited).toBe(1);
      expect(f.stderr()).toContain('Error: a stray rejection');
    });
  }

  it('12 harden() calls: no listeners and no MaxListenersExceededWarning; listen() adds them, dispose() removes them; SIGTERM drains', async () => {
    const f = run({ MODE: 'serve' });
    const created = await f.waitFor('created');
    expect(created.before).toEqual(each(0));
    expect(created.after).toEqual(each(0));
    const listening = await f.waitFor('listening');
    expect(listening.listening).toEqual(each(2));
    expect(listening.disposed).toEqual(each(1));
    expect(listening.disposedServerListening).toBe(false);
    // None on the process. (@shipshape/logger's createLogger() adds one 'error' listener to
    // process.stdout per logger, so 11 loggers in one process still warn about that Socket;
    // dispose() removes it with the logger.)
    const warnings = listening.warnings as { name: string; emitter?: string }[];
    expect(warnings.filter((w) => w.emitter === 'process')).toEqual([]);

    const url = `http://127.0.0.1:${listening.port as number}`;
    expect((await fetch(`${url}/health/ready`)).status).toBe(200);
    const slow = fetch(`${url}/slow`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    f.child.kill('SIGTERM');
    const response = await slow;
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ done: true });
    expect(await f.exited).toBe(0);
    expect(f.stderr()).not.toMatch(/MaxListenersExceededWarning: .* added to \[process\]/);
  });
});
