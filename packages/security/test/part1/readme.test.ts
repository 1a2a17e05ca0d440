import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = join(here, '..', '..');
// Outside the source tree (so an interrupted run leaves nothing for tsc or biome to pick up), but
// under the repository's node_modules so that imports of express, redis… resolve.
const tmp = join(
  packageDir,
  '..',
  '..',
  'node_modules',
  `.shipshape-security-readme-${process.pid}`,
);

async function part1Blocks(): Promise<string[]> {
  const readme = await readFile(join(packageDir, 'README.md'), 'utf8');
  const start = readme.indexOf('<!-- part 1: start');
  const end = readme.indexOf('<!-- part 1: end -->');
  expect(start).toBeGreaterThan(-1);
  expect(end).toBeGreaterThan(start);
  const section = readme.slice(start, end);
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
}

describe('README (part 1) code samples', () => {
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('type-check against the package source', async () => {
    const blocks = await part1Blocks();
    expect(blocks.length).toBeGreaterThanOrEqual(4);
    await mkdir(tmp, { recursive: true });
    const files: string[] = [];
    for (const [i, code] of blocks.entries()) {
      const file = join(tmp, `block-${i}.ts`);
      // Each block is its own module; the package name points at the source.
      const source = JSON.stringify(join(packageDir, 'src', 'index.js'));
      await writeFile(file, `${code.replaceAll("'@shipshape/security'", source)}\nexport {};\n`);
      files.push(file);
    }
    const configPath = join(packageDir, 'tsconfig.json');
    const config = ts.readConfigFile(configPath, (p) => ts.sys.readFile(p));
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
