import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Proves that a developer can install the published tarballs into their own app: every package is
// packed with `npm pack`, installed into a scratch app outside the workspace, and every public entry
// is imported from type-checked ESM TypeScript (NodeNext, Bundler and the older node10 resolution)
// and from CommonJS, under Express 4 and Express 5. The tarballs' contents are checked too: a
// LICENSE, no source map reference to a file they lack, and `@types/express` declared as an optional
// peer by every package whose types import Express.

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const packagesDir = join(root, 'packages');

interface Manifest {
  readonly name: string;
  readonly private?: boolean;
  readonly exports: Record<string, unknown>;
  readonly peerDependencies?: Record<string, string>;
  readonly peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

interface PackedPackage {
  readonly name: string;
  readonly dir: string;
  readonly tarball: string;
  readonly entries: readonly string[];
  readonly manifest: Manifest;
  /** Paths inside the tarball, relative to its `package/` directory. */
  readonly files: readonly string[];
  /** Where the tarball was extracted, to read what it ships. */
  readonly unpacked: string;
}

let workDir = '';
let packed: PackedPackage[] = [];

async function npm(args: string[], cwd: string): Promise<string> {
  const { stdout } = await run('npm', args, {
    cwd,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false' },
  });
  return stdout;
}

async function packAll(): Promise<PackedPackage[]> {
  const dirs = (await readdir(packagesDir)).sort();
  const out: PackedPackage[] = [];
  for (const dir of dirs) {
    const pkgDir = join(packagesDir, dir);
    const manifest = JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8')) as Manifest;
    if (manifest.private) continue;
    const [info] = JSON.parse(
      await npm(['pack', '--json', '--pack-destination', workDir], pkgDir),
    ) as [{ filename: string; files: { path: string }[] }];
    expect(
      info.files.some((f) => f.path === 'dist/index.js'),
      `${manifest.name} tarball has dist/index.js (was the package built?)`,
    ).toBe(true);
    const entries = Object.keys(manifest.exports)
      .filter((key) => key !== './package.json')
      .map((key) => (key === '.' ? manifest.name : `${manifest.name}/${key.slice(2)}`));
    const tarball = join(workDir, info.filename);
    const unpacked = join(workDir, 'unpacked', dir);
    await mkdir(unpacked, { recursive: true });
    await run('tar', ['-xzf', tarball, '-C', unpacked, '--strip-components=1']);
    const files = info.files.map((f) => f.path);
    out.push({ name: manifest.name, dir: pkgDir, tarball, entries, manifest, files, unpacked });
  }
  return out;
}

async function scratchApp(major: 4 | 5): Promise<string> {
  const dir = join(workDir, `app-express${major}`);
  await mkdir(dir, { recursive: true });
  const fileDeps = Object.fromEntries(packed.map((p) => [p.name, `file:${p.tarball}`]));
  await writeFile(
    join(dir, 'package.json'),
    JSON.stringify(
      {
        name: `scratch-express${major}`,
        private: true,
        type: 'module',
        dependencies: {
          ...fileDeps,
          express: major === 5 ? '^5.1.0' : '^4.21.2',
        },
        devDependencies: {
          '@types/express': major === 5 ? '^5.0.0' : '^4.17.21',
          '@types/node': '^20.19.0',
          typescript: '~5.9.3',
        },
        // The umbrella depends on the scoped packages by version; point those at the tarballs too.
        overrides: fileDeps,
      },
      null,
      2,
    ),
  );
  await writeFile(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2023',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        skipLibCheck: false,
        types: ['node'],
        outDir: 'out',
      },
      include: ['esm.ts'],
    }),
  );
  // Bundler resolution (Vite, esbuild, webpack users) type-checks the same consumer.
  await writeFile(
    join(dir, 'tsconfig.bundler.json'),
    JSON.stringify({
      extends: './tsconfig.json',
      compilerOptions: { module: 'ESNext', moduleResolution: 'Bundler', noEmit: true },
    }),
  );
  // The older `moduleResolution: node` (node10) ignores `exports`: the main entries resolve through
  // `types`, subpaths such as `/testing` only through `typesVersions`.
  await writeFile(
    join(dir, 'tsconfig.node10.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2023',
        module: 'CommonJS',
        moduleResolution: 'node',
        esModuleInterop: true,
        strict: true,
        skipLibCheck: false,
        types: ['node'],
        noEmit: true,
      },
      include: ['node10.ts'],
    }),
  );
  const entries = packed.flatMap((p) => p.entries);
  await writeFile(
    join(dir, 'node10.ts'),
    [
      ...entries.map((entry, i) => `import * as entry${i} from '${entry}';`),
      'type IsAny<T> = 0 extends 1 & T ? true : false;',
      `export const resolved: false[] = [${entries
        .map((_, i) => `false as IsAny<typeof entry${i}>`)
        .join(', ')}];`,
      '',
    ].join('\n'),
  );
  const esm = [
    "import express from 'express';",
    "import { cacheResponse } from '@shipshape/cache';",
    "import { loadConfig, port, str } from '@shipshape/config';",
    "import { jsonBody } from '@shipshape/security';",
    "import { harden } from 'shipshape';",
    ...entries.map((entry, i) => `import * as entry${i} from '${entry}';`),
    '',
    `const modules: Record<string, Record<string, unknown>> = { ${entries
      .map((entry, i) => `'${entry}': entry${i}`)
      .join(', ')} };`,
    'const exported: Record<string, string[]> = {};',
    'for (const [name, mod] of Object.entries(modules)) exported[name] = Object.keys(mod).sort();',
    '',
    'const schema = { PORT: port({ default: 3000 }), NAME: str({ default: "scratch" }) };',
    'const config = loadConfig(schema, { env: { PORT: "8080" }, files: false });',
    'const portNumber: number = config.PORT;',
    'const app = express();',
    "app.get('/', (_req, res) => { res.json({ port: portNumber, name: config.NAME }); });",
    'console.log(JSON.stringify({ exported, port: portNumber, app: typeof app }));',
    '',
    // With @types/express installed, the packages' Express types are real: were they `any`, these
    // constraints and the expected error would not hold.
    'type IsAny<T> = 0 extends 1 & T ? true : false;',
    'type Real<T extends false> = T;',
    'export type ExpressTypesAreReal = [',
    '  Real<IsAny<Parameters<ReturnType<typeof cacheResponse>>[0]>>,',
    '  Real<IsAny<Parameters<ReturnType<typeof jsonBody>>[1]>>,',
    '  Real<IsAny<Parameters<typeof harden>[0]>>,',
    '];',
    'export function misuse(): void {',
    '  // @ts-expect-error a middleware is not an Express application',
    '  harden(jsonBody());',
    '}',
    '',
  ].join('\n');
  await writeFile(join(dir, 'esm.ts'), esm);
  const cjs = [
    "'use strict';",
    `const entries = ${JSON.stringify(entries)};`,
    'const exported = {};',
    'for (const entry of entries) exported[entry] = Object.keys(require(entry)).sort();',
    "const { loadConfig, port } = require('@shipshape/config');",
    "const config = loadConfig({ PORT: port({ default: 3000 }) }, { env: { PORT: '9090' }, files: false });",
    "require('express');",
    'console.log(JSON.stringify({ exported, port: config.PORT }));',
    '',
  ].join('\n');
  await writeFile(join(dir, 'cjs.cjs'), cjs);
  await npm(['install', '--prefer-offline', '--no-audit', '--no-fund'], dir);
  return dir;
}

/** What each entry exports in the workspace build, to compare with what the tarball gives. */
async function workspaceExports(): Promise<Record<string, string[]>> {
  const result: Record<string, string[]> = {};
  for (const p of packed) {
    const manifest = JSON.parse(await readFile(join(p.dir, 'package.json'), 'utf8')) as {
      exports: Record<string, { default?: string }>;
    };
    for (const entry of p.entries) {
      const key = entry === p.name ? '.' : `.${entry.slice(p.name.length)}`;
      const file = manifest.exports[key]?.default;
      if (!file) throw new Error(`${entry}: no "default" condition in the exports map`);
      result[entry] = Object.keys((await import(join(p.dir, file))) as object).sort();
    }
  }
  return result;
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'shipshape-packaging-'));
  packed = await packAll();
}, 120_000);

afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

async function typecheck(appDir: string, tsconfig: string): Promise<string> {
  return run(join(appDir, 'node_modules/.bin/tsc'), ['-p', tsconfig], { cwd: appDir }).then(
    () => '',
    (error: { stdout?: string; stderr?: string }) => `${error.stdout ?? ''}${error.stderr ?? ''}`,
  );
}

/** `sourceMappingURL`s in the tarball's code, and shipped maps' sources, that it does not contain. */
async function danglingSourceMaps(p: PackedPackage): Promise<string[]> {
  const shipped = new Set(p.files);
  const dangling: string[] = [];
  for (const file of p.files) {
    if (/\.(?:[cm]?js|d\.[cm]?ts)$/.test(file)) {
      const text = await readFile(join(p.unpacked, file), 'utf8');
      for (const m of text.matchAll(/[#@] sourceMappingURL=(\S+)/g)) {
        const url = m[1] ?? '';
        if (url.startsWith('data:')) continue;
        const target = posix.join(posix.dirname(file), decodeURIComponent(url));
        if (!shipped.has(target)) dangling.push(`${file} -> ${target}`);
      }
    }
    if (file.endsWith('.map')) {
      const map = JSON.parse(await readFile(join(p.unpacked, file), 'utf8')) as {
        sourceRoot?: string;
        sources: string[];
      };
      for (const source of map.sources) {
        const target = posix.join(posix.dirname(file), map.sourceRoot ?? '', source);
        if (!shipped.has(target)) dangling.push(`${file} -> ${target}`);
      }
    }
  }
  return dangling;
}

/** Whether the tarball's declaration files import Express's types. */
async function typesImportExpress(p: PackedPackage): Promise<boolean> {
  for (const file of p.files.filter((f) => /\.d\.[cm]?ts$/.test(f))) {
    const text = await readFile(join(p.unpacked, file), 'utf8');
    if (/\bfrom\s*['"]express['"]|\bimport\(\s*['"]express['"]\s*\)/.test(text)) return true;
  }
  return false;
}

describe('packed tarballs', () => {
  it('each carries the repository LICENSE', async () => {
    const license = await readFile(join(root, 'LICENSE'), 'utf8');
    for (const p of packed) {
      expect(p.files, `${p.name} tarball lists LICENSE`).toContain('LICENSE');
      expect(await readFile(join(p.unpacked, 'LICENSE'), 'utf8')).toBe(license);
    }
  });

  it('reference no source map or map source that the tarball lacks', async () => {
    const dangling: string[] = [];
    for (const p of packed) {
      for (const d of await danglingSourceMaps(p)) dangling.push(`${p.name}: ${d}`);
    }
    expect(dangling).toEqual([]);
  });

  it('declare @types/express as an optional peer exactly when their types import Express', async () => {
    const mismatched: string[] = [];
    for (const p of packed) {
      const importsExpress = await typesImportExpress(p);
      const peer =
        p.manifest.peerDependencies?.['@types/express'] !== undefined &&
        p.manifest.peerDependenciesMeta?.['@types/express']?.optional === true;
      if (importsExpress !== peer) {
        mismatched.push(`${p.name}: types import express ${importsExpress}, optional peer ${peer}`);
      }
    }
    expect(packed.length).toBeGreaterThan(0);
    expect(mismatched).toEqual([]);
  });
});

describe.each([5, 4] as const)('packed tarballs in a scratch app with Express %i', (major) => {
  let appDir = '';
  let expected: Record<string, string[]> = {};

  beforeAll(async () => {
    appDir = await scratchApp(major);
    expected = await workspaceExports();
  }, 300_000);

  it('type-checks an ESM TypeScript consumer of every public entry and runs it', async () => {
    expect(await typecheck(appDir, 'tsconfig.json')).toBe('');
    const { stdout } = await run(process.execPath, ['out/esm.js'], { cwd: appDir });
    const result = JSON.parse(stdout) as { exported: Record<string, string[]>; port: number };
    expect(result.port).toBe(8080);
    expect(result.exported).toEqual(expected);
    for (const names of Object.values(result.exported)) expect(names.length).toBeGreaterThan(0);
  });

  it('type-checks the same consumer with moduleResolution Bundler', async () => {
    expect(await typecheck(appDir, 'tsconfig.bundler.json')).toBe('');
  });

  it('resolves the types of every entry, subpaths included, with moduleResolution node', async () => {
    expect(packed.some((p) => p.entries.some((e) => e.endsWith('/testing')))).toBe(true);
    expect(await typecheck(appDir, 'tsconfig.node10.json')).toBe('');
  });

  it('requires every public entry from CommonJS', async () => {
    const { stdout } = await run(process.execPath, ['cjs.cjs'], { cwd: appDir });
    const result = JSON.parse(stdout) as { exported: Record<string, string[]>; port: number };
    expect(result.port).toBe(9090);
    expect(result.exported).toEqual(expected);
  });
});
