import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const readme = readFileSync(join(packageDir, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
// Under the package, importing the sources through path mappings so no build is needed.
const dir = mkdtempSync(join(packageDir, '.readme-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('README code samples', () => {
  it('has TypeScript samples', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
  });

  it('every ```ts block type-checks against the package sources (strict base config)', async () => {
    const files = blocks.map((code, i) => {
      const file = join(dir, `block-${i + 1}.ts`);
      writeFileSync(file, `${code}\nexport {};\n`);
      return file;
    });
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: '../../../tsconfig.base.json',
        compilerOptions: {
          noEmit: true,
          noUnusedLocals: false,
          paths: {
            '@shipshape/logger': ['../src/index.ts'],
            '@shipshape/logger/testing': ['../src/testing.ts'],
          },
          allowImportingTsExtensions: true,
        },
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

  it('the test-logger sample runs as written', async () => {
    const { createTestLogger } = await import('../src/testing.js');
    const sample = blocks.find((b) => b.includes('createTestLogger()')) ?? '';
    const body = sample.replace(/^import .*$/m, '').replace(/console\.log\(.*\);\n/, '');
    const run = new Function('createTestLogger', body) as (f: typeof createTestLogger) => void;
    expect(() => run(createTestLogger)).not.toThrow();
  });
});
