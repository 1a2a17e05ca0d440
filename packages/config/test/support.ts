import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach } from 'vitest';

export { cliPath, ensureBuilt, packageDir } from './build.js';

/** Temp directories created by `tempDir`, removed after each test. */
const created: string[] = [];
afterEach(() => {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh directory under the OS temp dir holding `files` (name → content). */
export function tempDir(files: Record<string, string> = {}, base = tmpdir()): string {
  const dir = mkdtempSync(join(base, 'shipshape-config-'));
  created.push(dir);
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  return dir;
}
