import { execFile } from 'node:child_process';
import { access, mkdtemp } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Compiles a package's sources (its `tsconfig.build.json`) into a new directory under the
 * repository's `node_modules` and returns that directory, for tests that start the package in
 * child processes. Dependencies resolve from there, and `dist/` is left alone, so a build running
 * in parallel cannot race with the test. Type errors elsewhere still emit JavaScript; only a
 * missing `index.js` is fatal. The caller removes the directory.
 */
export async function compileToPrivateDir(packageDir: string, label: string): Promise<string> {
  const dir = await mkdtemp(join(repoRoot, 'node_modules', `.shipshape-${label}-`));
  await promisify(execFile)(
    process.execPath,
    [
      join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      'tsconfig.build.json',
      '--outDir',
      dir,
      '--declaration',
      'false',
      '--declarationMap',
      'false',
      '--sourceMap',
      'false',
    ],
    { cwd: packageDir },
  ).catch((error: { stdout?: string }) => {
    if (!String(error.stdout ?? '').includes('error TS')) throw error;
  });
  await access(join(dir, 'index.js'));
  return dir;
}
