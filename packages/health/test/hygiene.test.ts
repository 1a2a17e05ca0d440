import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const built = existsSync(fileURLToPath(new URL('../dist/index.js', import.meta.url)));

describe('hygiene', () => {
  it('nothing happens at import: importing the package starts no handles', async () => {
    const code = `
      const before = process.getActiveResourcesInfo().length;
      await import(${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)});
      await import(${JSON.stringify(new URL('../dist/testing.js', import.meta.url).href)});
      // Let the module loader's own file reads settle first.
      await new Promise((r) => setTimeout(r, 100));
      console.log(process.getActiveResourcesInfo().length - before);`;
    if (!built) throw new Error('packages/health/dist is missing: run the build first');
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--input-type=module', '-e', code], (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      );
    });
    expect(out.trim()).toBe('0');
  });

  it('a process with refresh, alerts, samplers and metrics still exits on its own', async () => {
    if (!built) throw new Error('packages/health/dist is missing: run the build first');
    const fixture = fileURLToPath(new URL('./fixtures/idle-exit.mjs', import.meta.url));
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [fixture], { timeout: 20_000 }, (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      );
    });
    expect(out.trim()).toBe('exiting');
  });
});
