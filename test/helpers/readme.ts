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

/** A fenced code block of a Markdown text: its info string's first word and its content. */
export interface CodeBlock {
  readonly lang: string;
  readonly code: string;
}

const fence = /^(`{3,}|~{3,})[ \t]*([^\s`]*)[^\n]*\n([\s\S]*?)^\1[ \t]*$/gm;

/** Every fenced code block of a Markdown text, in order. */
export function codeBlocks(markdown: string): CodeBlock[] {
  return [...markdown.matchAll(fence)].map((m) => ({ lang: m[2] ?? '', code: m[3] ?? '' }));
}

/** The Markdown text outside fenced code blocks and inline code spans (what renders as prose). */
export function markdownProse(markdown: string): string {
  return markdown.replace(fence, '').replace(/(`+)[^`][\s\S]*?\1/g, '');
}

/**
 * Link and image targets of a Markdown text's prose: inline `[text](target)`, reference
 * definitions `[label]: target`, autolinks `<https://…>` and HTML `href`/`src` attributes.
 */
export function markdownLinks(markdown: string): string[] {
  const prose = markdownProse(markdown);
  const targets: string[] = [];
  for (const m of prose.matchAll(/\]\(\s*(<[^>]*>|[^)\s]+)/g)) targets.push(m[1] ?? '');
  for (const m of prose.matchAll(/^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/gm)) targets.push(m[1] ?? '');
  for (const m of prose.matchAll(/<([a-z][a-z0-9+.-]*:[^\s>]*)>/gi)) targets.push(m[1] ?? '');
  for (const m of prose.matchAll(/\b(?:href|src)\s*=\s*["']([^"']*)["']/gi))
    targets.push(m[1] ?? '');
  return targets.map((t) => t.replace(/^<|>$/g, ''));
}

/** The module specifiers a JavaScript or TypeScript sample imports, requires or re-exports. */
export function importedSpecifiers(code: string): string[] {
  const patterns = [
    /(?:^|[\s;])(?:import|export)\s[^'";]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /(?:^|[\s;])import\s*['"]([^'"]+)['"]/g,
    /\b(?:import|require)\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  return patterns.flatMap((p) => [...code.matchAll(p)].map((m) => m[1] ?? ''));
}

/**
 * The package names that the `npm install` / `npm i` / `pnpm add` / `yarn add` commands of a
 * Markdown text's shell blocks install (flags, versions and comments left out).
 */
export function installedPackages(markdown: string): string[] {
  const names: string[] = [];
  for (const block of codeBlocks(markdown)) {
    if (!['sh', 'bash', 'shell', 'console', 'zsh'].includes(block.lang)) continue;
    for (const rawLine of block.code.split('\n')) {
      const line = rawLine.replace(/^\s*\$\s*/, '').replace(/\s#.*$/, '');
      for (const command of line.split(/&&|;/)) {
        const words = command.trim().split(/\s+/);
        const install =
          (words[0] === 'npm' && ['install', 'i', 'add'].includes(words[1] ?? '')) ||
          (['pnpm', 'yarn'].includes(words[0] ?? '') && words[1] === 'add');
        if (!install) continue;
        for (const word of words.slice(2)) {
          if (word.startsWith('-')) continue;
          const at = word.indexOf('@', 1);
          names.push(at === -1 ? word : word.slice(0, at));
        }
      }
    }
  }
  return names;
}
