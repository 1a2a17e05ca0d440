// harden()'s default `version` comes from the app's package.json, in a process started with
// `node` directly (no npm, so no npm_package_version to lean on).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const shipshape = pathToFileURL(join(import.meta.dirname, '../dist/index.js')).href;
const express = pathToFileURL(require.resolve('express')).href;

// Prints the version harden() gave the health registry (what /health/version and logs carry).
const script = (options: string) => `
const { harden } = await import(${JSON.stringify(shipshape)});
const { default: express } = await import(${JSON.stringify(express)});
const service = harden(express(), {
  env: 'test',
  logger: { level: 'error' },
  lifecycle: false,
  ...${options},
});
process.stdout.write(JSON.stringify({ version: service.health.version().version }));
await service.dispose();
`;

const root = mkdtempSync(join(tmpdir(), 'shipshape-version-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function write(path: string, content: string): string {
  const file = join(root, path);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, content);
  return file;
}

function versionOf(main: string | undefined, cwd: string, env: Record<string, string> = {}) {
  const args = main === undefined ? ['--input-type=module', '-e', script('{}')] : [main];
  const out = execFileSync(process.execPath, args, {
    cwd,
    env: { ...process.env, npm_package_version: '9.9.9-from-npm', ...env },
    encoding: 'utf8',
  });
  return (JSON.parse(out) as { version: string }).version;
}

describe('harden() version (child process, node directly)', () => {
  write('app/package.json', JSON.stringify({ name: 'orders-api', version: '1.4.2' }));
  // A {"type":"module"} marker next to the built code is not the app's manifest.
  write('app/dist/package.json', JSON.stringify({ type: 'module' }));
  const main = write('app/dist/server/main.mjs', script('{}'));
  const explicit = write('app/dist/explicit.mjs', script("{ version: '2.0.0' }"));
  write('other/package.json', JSON.stringify({ name: 'elsewhere', version: '5.5.5' }));
  write('bare/main.mjs', script('{}'));
  write('noversion/package.json', JSON.stringify({ name: 'private-app', private: true }));
  const runner = write('app/node_modules/runner/main.mjs', script('{}'));

  it('reads the package.json nearest above the main module, not npm_package_version', () => {
    expect(versionOf(main, join(root, 'other'))).toBe('1.4.2');
  });

  it('options.version still wins', () => {
    expect(versionOf(explicit, join(root, 'other'))).toBe('2.0.0');
  });

  it('falls back to process.cwd() without a main module, or when it is a runner in node_modules', () => {
    expect(versionOf(undefined, join(root, 'other'))).toBe('5.5.5');
    expect(versionOf(runner, join(root, 'other'))).toBe('5.5.5');
  });

  it("is '0.0.0' when no package.json above names a version", () => {
    expect(versionOf(join(root, 'bare/main.mjs'), join(root, 'noversion'))).toBe('0.0.0');
  });
});
