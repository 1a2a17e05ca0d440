import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  codeBlocks,
  importedSpecifiers,
  installedPackages,
  markdownLinks,
} from '../helpers/readme.js';

// A package README is also its npm page: relative links break there, and a sample that imports a
// package its install line does not name fails under a strict layout (pnpm) that only lets an app
// import its direct dependencies.

const root = resolve(import.meta.dirname, '../..');

interface PackageReadme {
  readonly dir: string;
  readonly name: string;
  readonly repositoryUrl: string;
  readonly text: string;
}

const readmes: PackageReadme[] = readdirSync(join(root, 'packages'))
  .sort()
  .filter((dir) => existsSync(join(root, 'packages', dir, 'README.md')))
  .map((dir) => {
    const manifest = JSON.parse(
      readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8'),
    ) as { name: string; repository: { url: string } };
    const repositoryUrl = manifest.repository.url.replace(/^git\+/, '').replace(/\.git$/, '');
    return {
      dir,
      name: manifest.name,
      repositoryUrl,
      text: readFileSync(join(root, 'packages', dir, 'README.md'), 'utf8'),
    };
  });

const builtins = new Set(builtinModules);

function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/')) return undefined;
  if (specifier.startsWith('node:')) return undefined;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? '');
  return builtins.has(name) ? undefined : name;
}

describe('markdown helpers', () => {
  it('find links in prose only, and every form of import and install', () => {
    const md = [
      'See [errors](../../docs/errors.md "title"), [top](#install) and <https://example.com/x>.',
      '[ref]: ./examples/k8s.yaml',
      '<img src="docs/logo.png"> `[not](a-link.md)`',
      '```ts',
      "import a from 'alpha';",
      'import {',
      '  b,',
      "} from '@scope/beta/sub';",
      "import type { C } from 'gamma';",
      "import 'delta';",
      "export { e } from 'epsilon';",
      "const z = await import('zeta'); const r = require('node:fs');",
      '// [not a link](nowhere.md)',
      '```',
      '```sh',
      'npm install alpha @scope/beta@^1.2.0 # and a comment naming ignored',
      '$ npm i -D gamma && pnpm add delta',
      'yarn add epsilon',
      '```',
    ].join('\n');
    expect(markdownLinks(md)).toEqual([
      '../../docs/errors.md',
      '#install',
      './examples/k8s.yaml',
      'https://example.com/x',
      'docs/logo.png',
    ]);
    const code = codeBlocks(md).find((b) => b.lang === 'ts')?.code ?? '';
    expect(importedSpecifiers(code).sort()).toEqual(
      ['alpha', '@scope/beta/sub', 'gamma', 'delta', 'epsilon', 'zeta', 'node:fs'].sort(),
    );
    expect(installedPackages(md)).toEqual(['alpha', '@scope/beta', 'gamma', 'delta', 'epsilon']);
    expect(packageOf('@scope/beta/sub')).toBe('@scope/beta');
    expect(packageOf('fs')).toBeUndefined();
  });
});

describe.each(readmes.map((readme) => [readme.dir, readme] as const))(
  'packages/%s/README.md',
  (_dir, readme) => {
    it('links only to absolute URLs or to anchors in the same README', () => {
      const relative = markdownLinks(readme.text).filter(
        (target) => !target.startsWith('#') && !/^[a-z][a-z0-9+.-]*:/i.test(target),
      );
      expect(relative).toEqual([]);
    });

    it('links into the repository only to files that exist on main', () => {
      const prefix = new RegExp(
        `^${readme.repositoryUrl.replace(/[.]/g, '\\.')}/(?:blob|tree)/main/`,
      );
      const missing = markdownLinks(readme.text)
        .filter((target) => prefix.test(target))
        .map((target) => target.replace(prefix, '').replace(/[#?].*$/, ''))
        .filter((path) => !existsSync(join(root, decodeURIComponent(path))));
      expect(missing).toEqual([]);
    });

    it('installs every package its code samples import (node: builtins and itself aside)', () => {
      const installed = new Set([readme.name, ...installedPackages(readme.text)]);
      const imported = codeBlocks(readme.text)
        .filter((b) =>
          ['ts', 'tsx', 'typescript', 'js', 'javascript', 'mjs', 'cjs'].includes(b.lang),
        )
        .flatMap((b) => importedSpecifiers(b.code))
        .map(packageOf)
        .filter((name): name is string => name !== undefined);
      expect(imported.length).toBeGreaterThan(0);
      expect([...new Set(imported)].filter((name) => !installed.has(name)).sort()).toEqual([]);
    });
  },
);
