// harden()'s process handlers, with real processes and signals: none until listen(), none left
// by dispose(), and a process that never listens keeps Node's own behaviour.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fixtureLines } from '../../../test/helpers/index.js';

const fixture = fileURLToPath(new URL('./fixtures/many.mjs', import.meta.url));

function run(env: Record<string, string>) {
  const child = spawn(process.execPath, [fixture], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { child, ...fixtureLines(child) };
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
