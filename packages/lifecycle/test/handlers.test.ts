// When the process handlers come and go, with real processes and signals: none at
// createLifecycle(), installed by listen(), removed by dispose().
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fixtureLines } from '../../../test/helpers/index.js';
import { get } from './child.js';

const fixture = fileURLToPath(new URL('./fixtures/idle.mjs', import.meta.url));

function run(mode: 'reject' | 'serve') {
  const child = spawn(process.execPath, [fixture], {
    env: { ...process.env, NODE_ENV: 'test', MODE: mode },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { child, ...fixtureLines(child) };
}

const none = { SIGTERM: 0, SIGINT: 0, uncaughtException: 0, unhandledRejection: 0 };

describe('process handlers (child process)', () => {
  it('a rejection nobody handles in a process that never started a lifecycle is not swallowed', async () => {
    const f = run('reject');
    const created = await f.waitFor('created');
    expect(created.before).toEqual(none);
    expect(created.after).toEqual(none);
    // Node's own behaviour: the error on stderr, exit code 1. No lifecycle shutdown ran.
    expect(await f.exited).toBe(1);
    expect(f.stderr()).toContain('Error: a stray rejection');
    expect(f.lines.filter((l) => l.e === 'log')).toEqual([]);
  });

  it('12 lifecycles add no listeners until listen(); dispose() removes them; SIGTERM still drains', async () => {
    const f = run('serve');
    const created = await f.waitFor('created');
    expect(created.after).toEqual(created.before);
    const listening = await f.waitFor('listening');
    expect(listening.listening).toEqual({
      SIGTERM: 2,
      SIGINT: 2,
      uncaughtException: 2,
      unhandledRejection: 2,
    });
    expect(listening.disposed).toEqual({
      SIGTERM: 1,
      SIGINT: 1,
      uncaughtException: 1,
      unhandledRejection: 1,
    });
    expect(listening.warnings).toEqual([]);
    const url = `http://127.0.0.1:${listening.port as number}`;
    const slow = get(`${url}/slow`, undefined);
    await new Promise((resolve) => setTimeout(resolve, 100));
    f.child.kill('SIGTERM');
    expect((await slow).body).toBe('slow done');
    expect(await f.exited).toBe(0);
    expect(f.stderr()).not.toContain('MaxListenersExceededWarning');
    const messages = f.lines.filter((l) => l.e === 'log').map((l) => String(l.message));
    expect(messages).toContain(
      '@shipshape/lifecycle: SIGTERM received: starting graceful shutdown',
    );
  });
});
