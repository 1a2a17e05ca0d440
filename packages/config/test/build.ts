import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const packageDir = fileURLToPath(new URL('..', import.meta.url));
export const cliPath = join(packageDir, 'dist', 'cli.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Builds dist/ with tsc when it is missing or older than src/ (the turbo build normally did it). */
export function ensureBuilt(): void {
  if (existsSync(cliPath) && statSync(cliPath).mtimeMs >= newestMtime(join(packageDir, 'src')))
    return;
  const tsc = join(packageDir, '..', '..', 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
    cwd: packageDir,
    stdio: 'pipe',
  });
}

/** Vitest globalSetup: build once before any test file runs, so parallel files never race on dist/. */
export default function setup(): void {
  ensureBuilt();
}
