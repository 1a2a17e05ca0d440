import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ConfigSchema, generateEnvExample, generateMarkdown } from '../src/index.js';
import { cliPath, ensureBuilt, packageDir, tempDir } from './support.js';

const fixture = join(packageDir, 'test', 'fixtures', 'app-schema.mjs');
const fixtureExample = join(packageDir, 'test', 'fixtures', 'app.env.example');
const distIndex = pathToFileURL(join(packageDir, 'dist', 'index.js')).href;
let appSchema: ConfigSchema;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built CLI in a child process with exactly `env` (plus PATH). */
function run(
  args: readonly string[],
  env: Record<string, string> = {},
  cwd = packageDir,
): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cliPath, ...args],
      { cwd, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const strongSecret = 'x'.repeat(40);

beforeAll(async () => {
  ensureBuilt();
  const path = './fixtures/app-schema.mjs';
  ({ schema: appSchema } = (await import(path)) as { schema: ConfigSchema });
});

describe('shipshape-config (built dist/cli.js, child process)', { timeout: 120_000 }, () => {
  it('is an executable ESM file with a shebang, declared as the package bin', () => {
    expect(readFileSync(cliPath, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
    const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
    };
    expect(pkg.bin).toEqual({ 'shipshape-config': './dist/cli.js' });
  });

  it('example prints the generated .env.example', async () => {
    const result = await run(['example', fixture]);
    expect(result).toEqual({ code: 0, stdout: generateEnvExample(appSchema), stderr: '' });
  });

  it('example --out writes the file; --check passes on it and fails on a drifted copy', async () => {
    const dir = tempDir();
    const out = join(dir, '.env.example');
    expect(await run(['example', fixture, '--out', out])).toMatchObject({
      code: 0,
      stdout: `wrote ${out}\n`,
    });
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(fixtureExample, 'utf8'));
    expect(await run(['example', fixture, '--check', out])).toEqual({
      code: 0,
      stdout: `${out} is up to date\n`,
      stderr: '',
    });

    const unwritable = join(dir, 'no-such-dir', '.env.example');
    expect(await run(['example', fixture, '--out', unwritable])).toEqual({
      code: 73,
      stdout: '',
      stderr: `shipshape-config: cannot write ${unwritable} (ENOENT)\n`,
    });

    writeFileSync(out, readFileSync(out, 'utf8').replace('# LOG_LEVEL=info', '# LOG_LEVEL=debug'));
    const drifted = await run(['example', fixture, '--check', out]);
    expect(drifted.code).toBe(1);
    expect(drifted.stderr).toContain(
      `shipshape-config: ${out} differs from the schema; regenerate it with`,
    );
    expect(drifted.stderr).toContain('expected "# LOG_LEVEL=info", found "# LOG_LEVEL=debug"');
  });

  it('docs prints the Markdown table', async () => {
    const result = await run(['docs', fixture]);
    expect(result).toEqual({ code: 0, stdout: generateMarkdown(appSchema), stderr: '' });
  });

  it('check exits 0 for a valid environment', async () => {
    const result = await run(['check', fixture], {
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://app@127.0.0.1:5432/app',
      SESSION_SECRET: strongSecret,
      PUBLIC_URL: 'https://app.example.com',
    });
    expect(result).toEqual({
      code: 0,
      stdout: 'configuration is valid: 11 variables (NODE_ENV=production)\n',
      stderr: '',
    });
  });

  it('check exits 78 and prints every problem, secrets masked', async () => {
    const result = await run(['check', fixture], {
      NODE_ENV: 'production',
      PORT: '99999',
      DATABASE_URL: 'mysql://root:hunter2@db/app',
      SESSION_SECRET: 'changeme',
      FEATURE_NEW_CHECKOUT: 'perhaps',
    });
    expect(result.code).toBe(78);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      [
        '@shipshape/config: 5 problems in the configuration (NODE_ENV=production):',
        '  - PORT: expected a port number (integer 0-65535), got "99999" (from environment)',
        '  - DATABASE_URL: expected an absolute URL with scheme postgres:// or postgresql://, got [REDACTED] (from environment)',
        '  - SESSION_SECRET: expected a string of at least 32 characters, got [REDACTED] (from environment)',
        '  - PUBLIC_URL: required but not set; expected an absolute URL (scheme://host...)',
        '  - FEATURE_NEW_CHECKOUT: expected a boolean (true/false, 1/0, yes/no, on/off), got "perhaps" (from environment)',
        '',
      ].join('\n'),
    );
    expect(result.stderr).not.toContain('hunter2');
  });

  it('check --cwd reads the .env files of that directory', async () => {
    const cwd = tempDir({
      '.env': `PUBLIC_URL=https://app.example.com\nSESSION_SECRET=${strongSecret}\nPORT=8080\nPORT=8081\n`,
    });
    const result = await run(['check', fixture, '--cwd', cwd], { NODE_ENV: 'development' });
    expect(result.code).toBe(78);
    expect(result.stderr).toBe(
      '@shipshape/config: 1 problem in the configuration (NODE_ENV=development):\n  - .env:4: duplicate key PORT (first set on line 3)\n',
    );
    writeFileSync(
      join(cwd, '.env'),
      `PUBLIC_URL=https://app.example.com\nSESSION_SECRET=${strongSecret}\n`,
    );
    expect((await run(['check', fixture, '--cwd', cwd], { NODE_ENV: 'development' })).code).toBe(0);
  });

  it('reads the schema from the default export, or the export named by --export', async () => {
    const dir = tempDir({
      'default.mjs': `import { port } from '${distIndex}';\nexport default { PORT: port({ default: 1 }) };\n`,
      'named.mjs': `import { port } from '${distIndex}';\nexport const appConfig = { PORT: port({ default: 2 }) };\n`,
    });
    expect(await run(['docs', join(dir, 'default.mjs')])).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('`PORT`'),
    });
    expect(await run(['docs', join(dir, 'named.mjs'), '--export', 'appConfig'])).toMatchObject({
      code: 0,
    });
    const missing = await run(['docs', join(dir, 'named.mjs')]);
    expect(missing.code).toBe(66);
    expect(missing.stderr).toBe(
      `shipshape-config: ${join(dir, 'named.mjs')} has no "schema" or "default" export holding a schema object\n`,
    );
  });

  it('refuses modules that cannot be loaded or do not hold a schema (exit 66)', async () => {
    const dir = tempDir({
      'broken.mjs': 'export const schema = {;\n',
      'notschema.mjs': 'export const schema = { PORT: 3000 };\n',
    });
    const absent = await run(['docs', join(dir, 'absent.mjs')]);
    expect(absent.code).toBe(66);
    expect(absent.stderr).toMatch(
      /^shipshape-config: cannot load schema module .*absent\.mjs: Cannot find module/,
    );
    const broken = await run(['docs', join(dir, 'broken.mjs')]);
    expect(broken.code).toBe(66);
    expect(broken.stderr).toMatch(/^shipshape-config: cannot load schema module .*broken\.mjs: /);
    const notSchema = await run(['check', join(dir, 'notschema.mjs')]);
    expect(notSchema.code).toBe(66);
    expect(notSchema.stderr).toBe(
      `shipshape-config: export "schema" of ${join(dir, 'notschema.mjs')} is not a schema: key "PORT" is not a spec such as str() or a joi schema\n`,
    );
  });

  it('takes the schema of a module that loads its config as it is imported; stdout stays clean', async () => {
    const dir = tempDir({
      'config.mjs': `import { loadConfigOrExit, port, str } from '${distIndex}';\nconsole.log('booting the app');\nexport const config = loadConfigOrExit({ PORT: port({ description: 'HTTP port.' }), NAME: str() }, { files: false });\nconsole.log('config loaded', config.PORT);\n`,
    });
    const example = await run(['example', join(dir, 'config.mjs')]);
    expect(example.code).toBe(0);
    expect(example.stdout).toMatch(/^# HTTP port\.$/m);
    expect(example.stdout).toMatch(/^PORT=$/m);
    expect(example.stdout).toMatch(/^NAME=$/m);
    expect(example.stdout).not.toContain('booting');
    expect(example.stderr).toContain('booting the app');
    expect(example.stderr).not.toContain('config loaded');
    const check = await run(['check', join(dir, 'config.mjs')], {
      NODE_ENV: 'test',
      PORT: '8080',
      NAME: 'orders',
    });
    expect(check.code).toBe(0);
    expect(check.stdout).toBe('configuration is valid: 3 variables (NODE_ENV=test)\n');
  });

  it('exits even when the schema module keeps a handle open', async () => {
    const dir = tempDir({
      'busy.mjs': `import { port } from '${distIndex}';\nsetInterval(() => {}, 1000);\nexport const schema = { PORT: port({ default: 1 }) };\n`,
    });
    const result = await run(['check', join(dir, 'busy.mjs')], { NODE_ENV: 'test' });
    expect(result).toEqual({
      code: 0,
      stdout: 'configuration is valid: 2 variables (NODE_ENV=test)\n',
      stderr: '',
    });
  });

  it('usage errors exit 64 with the usage text; --help exits 0', async () => {
    const none = await run([]);
    expect(none.code).toBe(64);
    expect(none.stderr).toMatch(/^Usage: shipshape-config <command> <schema-module>/);
    const unknown = await run(['lint', fixture]);
    expect(unknown.code).toBe(64);
    expect(unknown.stderr).toMatch(/^shipshape-config: unknown command "lint"/);
    expect((await run(['check'])).stderr).toMatch(
      /^shipshape-config: check needs the path of a schema module/,
    );
    expect((await run(['check', fixture, '--bogus'])).code).toBe(64);
    expect((await run(['docs', fixture, '--out', 'x'])).stderr).toBe(
      'shipshape-config: --out and --check only apply to "example"\n',
    );
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: shipshape-config/);
  });
});

describe('import', { timeout: 120_000 }, () => {
  it('has no side effects: no timers or handles, no warnings, process.env untouched', async () => {
    const dir = tempDir({
      'import.mjs': `const before = JSON.stringify(process.env);\nconst count = () => ['SIGTERM', 'SIGINT', 'exit', 'uncaughtException'].map((e) => process.listenerCount(e));\nconst listenersBefore = count();\nawait import('${distIndex}');\n// let the module loader finish closing its own file handles\nawait new Promise((r) => setTimeout(r, 20));\nconsole.log(JSON.stringify({ resources: process.getActiveResourcesInfo(), signals: [listenersBefore, count()], envSame: JSON.stringify(process.env) === before }));\n`,
    });
    const result = await new Promise<Run>((resolve) => {
      execFile(
        process.execPath,
        [join(dir, 'import.mjs')],
        { env: { PATH: process.env.PATH ?? '' }, timeout: 60_000 },
        (error, stdout, stderr) =>
          resolve({
            code: error ? (typeof error.code === 'number' ? error.code : null) : 0,
            stdout,
            stderr,
          }),
      );
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as {
      resources: string[];
      signals: [number[], number[]];
      envSame: boolean;
    };
    // Long-lived work an import must never start (the loader's own short fs requests are ignored).
    const longLived = [
      'Timeout',
      'Immediate',
      'TCPWrap',
      'TCPServerWrap',
      'SignalWrap',
      'ProcessWrap',
      'FSEventWrap',
      'StatWatcher',
      'UDPWrap',
    ];
    expect(report.resources.filter((r) => longLived.includes(r))).toEqual([]);
    // Node itself listens on 'exit' for top-level await; the import must add nothing.
    expect(report.signals[1]).toEqual(report.signals[0]);
    expect(report.envSame).toBe(true);
  });
});

describe('loadConfigOrExit in a real process', { timeout: 120_000 }, () => {
  it('prints the report to stderr and exits 78', async () => {
    const dir = tempDir({
      'main.mjs': `import { loadConfigOrExit, port } from '${distIndex}';\nconst config = loadConfigOrExit({ PORT: port() }, { files: false });\nconsole.log('started on', config.PORT);\n`,
    });
    const result = await new Promise<Run>((resolve) => {
      execFile(
        process.execPath,
        [join(dir, 'main.mjs')],
        { env: { PORT: 'eighty' }, timeout: 60_000 },
        (error, stdout, stderr) =>
          resolve({
            code: error ? (typeof error.code === 'number' ? error.code : null) : 0,
            stdout,
            stderr,
          }),
      );
    });
    expect(result).toEqual({
      code: 78,
      stdout: '',
      stderr:
        '@shipshape/config: 1 problem in the configuration (NODE_ENV=development):\n  - PORT: expected a port number (integer 0-65535), got "eighty" (from environment)\n',
    });
  });
});
