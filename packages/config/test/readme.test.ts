import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageDir } from './support.js';

const readme = readFileSync(join(packageDir, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
// Under the package so `@shipshape/config` resolves through the workspace to the built types.
const dir = mkdtempSync(join(packageDir, '.readme-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('README code samples', () => {
  it('has TypeScript samples', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
  });

  it('every ```ts block type-checks against the built package (strict base config)', async () => {
    const files = blocks.map((code, i) => {
      const file = join(dir, `block-${i + 1}.ts`);
      // Each block is its own module; `export {}` keeps top-level names from colliding.
      writeFileSync(file, `${code}\nexport {};\n`);
      return file;
    });
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: '../../../tsconfig.base.json',
        compilerOptions: { noEmit: true, noUnusedLocals: false },
        files: files.map((f) => f.slice(dir.length + 1)),
      }),
    );
    const tsc = join(packageDir, '..', '..', 'node_modules', 'typescript', 'bin', 'tsc');
    const output = await new Promise<string>((resolve) => {
      execFile(process.execPath, [tsc, '-p', dir], { timeout: 120_000 }, (error, stdout, stderr) =>
        resolve(error ? `${stdout}${stderr}` || String(error) : ''),
      );
    });
    expect(output).toBe('');
  }, 150_000);
});
