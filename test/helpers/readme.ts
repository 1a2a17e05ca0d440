import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** The ```ts blocks of a Markdown file; with `between`, only those between two marker strings. */
export function tsBlocks(
  markdownPath: string,
  between?: readonly [start: string, end: string],
): string[] {
  let text = readFileSync(markdownPath, 'utf8');
  if (between) {
    const start = text.indexOf(between[0]);
    const end = text.indexOf(between[1], start);
    if (start === -1 || end === -1)
      throw new Error(`${markdownPath}: markers "${between[0]}" … "${between[1]}" not found`);
    text = text.slice(start, end);
  }
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
}

/**
 * Type-checks each sample as its own module with the repo's strict base options, the way a user's
 * project would see the built packages, and returns the diagnostics (`sample-N.ts:line message`);
 * `[]` means every sample compiles. The files live under the repo's node_modules while checked (so
 * workspace packages, express, redis and pg resolve, and nothing lands where git or Biome look).
 */
export function typecheckSamples(name: string, samples: readonly string[]): string[] {
  const dir = join(repoRoot, 'node_modules', '.readme-samples', `${name}-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  try {
    const files = samples.map((code, i) => {
      const file = join(dir, `sample-${i + 1}.ts`);
      writeFileSync(file, `${code}\nexport {};\n`);
      return file;
    });
    const base = ts.readConfigFile(join(repoRoot, 'tsconfig.base.json'), ts.sys.readFile);
    const { options } = ts.parseJsonConfigFileContent(base.config, ts.sys, repoRoot);
    const program = ts.createProgram(files, {
      ...options,
      noEmit: true,
      declaration: false,
      declarationMap: false,
      sourceMap: false,
    });
    return ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file === undefined || files.includes(d.file.fileName))
      .map((d) => {
        const line =
          d.file && d.start !== undefined
            ? d.file.getLineAndCharacterOfPosition(d.start).line + 1
            : 0;
        const where = d.file ? `${d.file.fileName.slice(dir.length + 1)}:${line} ` : '';
        return `${where}${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
      });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
