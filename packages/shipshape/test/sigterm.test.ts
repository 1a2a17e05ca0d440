import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { expressVersions } from '../../../test/helpers/index.js';

const fixture = fileURLToPath(new URL('./fixtures/server.mjs', import.meta.url));

async function startFixture(expressModule: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [fixture], {
    env: { ...process.env, EXPRESS_MODULE: expressModule },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let buffered = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const match = buffered.match(/\{"port":(\d+)\}/);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`fixture exited with ${code}`)));
  });
  return { child, url: `http://127.0.0.1:${port}` };
}

describe.each(expressVersions)('a hardened app receiving SIGTERM ($label)', (version) => {
  it('answers readiness 503 at once, finishes the in-flight request and exits 0', async () => {
    const { child, url } = await startFixture(version.major === 4 ? 'express4' : 'express');
    expect((await fetch(`${url}/health/ready`)).status).toBe(200);
    const exited = once(child, 'exit');
    const slow = fetch(`${url}/slow`);
    await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGTERM');
    // During the 300 ms readiness delay the server still answers, but readiness says 503.
    let readiness = 0;
    for (let i = 0; i < 20 && readiness !== 503; i++) {
      readiness = (await fetch(`${url}/health/ready`)).status;
    }
    expect(readiness).toBe(503);
    const response = await slow;
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ done: true });
    const [code] = await exited;
    expect(code).toBe(0);
  });
});
