import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Proves that a developer can install the published tarballs into their own app: every package is
// packed with `npm pack`, installed into a scratch app outside the workspace, and every public entry
// is imported from type-checked ESM TypeScript and from CommonJS, under Express 4 and Express 5.

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const packagesDir = join(root, 'packages');

interface PackedPackage {
  readonly name: string;
  readonly dir: string;
  readonly tarball: string;
  readonly entries: readonly string[];
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
    const manifest = JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8')) as {
      name: string;
      private?: boolean;
      exports: Record<string, unknown>;
    };
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
    out.push({ name: manifest.name, dir: pkgDir, tarball: join(workDir, info.filename), entries });
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
  const entries = packed.flatMap((p) => p.entries);
  const esm = [
    "import express from 'express';",
    "import { loadConfig, port, str } from '@shipshape/config';",
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

describe.each([5, 4] as const)('packed tarballs in a scratch app with Express %i', (major) => {
  let appDir = '';
  let expected: Record<string, string[]> = {};

  beforeAll(async () => {
    appDir = await scratchApp(major);
    expected = await workspaceExports();
  }, 300_000);

  it('type-checks an ESM TypeScript consumer of every public entry and runs it', async () => {
    const typecheck = await run(join(appDir, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], {
      cwd: appDir,
    }).then(
      () => '',
      (error: { stdout?: string; stderr?: string }) => `${error.stdout ?? ''}${error.stderr ?? ''}`,
    );
    expect(typecheck).toBe('');
    const { stdout } = await run(process.execPath, ['out/esm.js'], { cwd: appDir });
    const result = JSON.parse(stdout) as { exported: Record<string, string[]>; port: number };
    expect(result.port).toBe(8080);
    expect(result.exported).toEqual(expected);
    for (const names of Object.values(result.exported)) expect(names.length).toBeGreaterThan(0);
  });

  it('requires every public entry from CommonJS', async () => {
    const { stdout } = await run(process.execPath, ['cjs.cjs'], { cwd: appDir });
    const result = JSON.parse(stdout) as { exported: Record<string, string[]>; port: number };
    expect(result.port).toBe(9090);
    expect(result.exported).toEqual(expected);
  });
});
