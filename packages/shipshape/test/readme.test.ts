import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(join(packageDir, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
// Inside coverage/ (ignored by git and Biome) so `shipshape` resolves through the workspace.
const dir = join(packageDir, 'coverage');
let tmp = '';
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('README code samples', () => {
  it('type-check against the built packages', async () => {
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    tmp = mkdtempSync(join(dir, 'readme-'));
    const files = blocks.map((code, i) => {
      const file = join(tmp, `block-${i + 1}.ts`);
      writeFileSync(file, `${code}\nexport {};\n`);
      return file;
    });
    writeFileSync(
      join(tmp, 'tsconfig.json'),
      JSON.stringify({
        extends: '../../../../tsconfig.base.json',
        compilerOptions: { noEmit: true, module: 'NodeNext', target: 'ES2023' },
        files: files.map((f) => f.slice(tmp.length + 1)),
      }),
    );
    const tsc = join(packageDir, '..', '..', 'node_modules', 'typescript', 'bin', 'tsc');
    const output = await new Promise<string>((resolve) => {
      execFile(process.execPath, [tsc, '-p', tmp], { timeout: 120_000 }, (error, stdout, stderr) =>
        resolve(error ? `${stdout}${stderr}` || String(error) : ''),
      );
    });
    expect(output).toBe('');
  }, 150_000);
});
