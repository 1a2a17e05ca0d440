import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = join(here, '..', '..');
// Under coverage/ (ignored by git and Biome) so a run in progress never leaves lintable or
// committable files in the source tree.
const tmp = join(packageDir, 'coverage', `.readme-part2-${process.pid}`);

async function part2Blocks(): Promise<string[]> {
  const readme = await readFile(join(packageDir, 'README.md'), 'utf8');
  const start = readme.indexOf('<!-- part 2: start');
  const end = readme.indexOf('<!-- part 2: end -->');
  expect(start).toBeGreaterThan(-1);
  expect(end).toBeGreaterThan(start);
  return [...readme.slice(start, end).matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
}

describe('README (part 2) code samples', () => {
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('type-check against the package source', async () => {
    const blocks = await part2Blocks();
    expect(blocks.length).toBeGreaterThanOrEqual(1);
    await mkdir(tmp, { recursive: true });
    const files: string[] = [];
    for (const [i, code] of blocks.entries()) {
      const file = join(tmp, `block-${i}.ts`);
      await writeFile(
        file,
        `${code.replaceAll("'@shipshape/security'", "'../../src/index.js'")}\nexport {};\n`,
      );
      files.push(file);
    }
    const config = ts.readConfigFile(join(packageDir, 'tsconfig.json'), (p) => ts.sys.readFile(p));
    const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, packageDir);
    const program = ts.createProgram(files, { ...parsed.options, noEmit: true });
    const diagnostics = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file === undefined || files.includes(d.file.fileName))
      .map((d) => {
        const where =
          d.file && d.start !== undefined
            ? d.file.getLineAndCharacterOfPosition(d.start)
            : undefined;
        return `${d.file?.fileName.split('/').pop() ?? ''}:${where ? where.line + 1 : 0} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
      });
    expect(diagnostics).toEqual([]);
  }, 120_000);
});
