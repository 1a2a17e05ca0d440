import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { checkEnvExample, generateEnvExample } from '@shipshape/config';
import { afterAll, describe, expect, it } from 'vitest';
import { schema } from '../../src/config.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ENV_EXAMPLE = join(ROOT, '.env.example');
const run = promisify(execFile);

describe('.env.example', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'glass-env-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('matches the configuration schema (regenerate with `npm run env:example`)', () => {
    const check = checkEnvExample(schema, ENV_EXAMPLE);
    expect(check.differences).toEqual([]);
    expect(check.ok).toBe(true);
  });

  it('lists every variable of the schema', () => {
    const text = readFileSync(ENV_EXAMPLE, 'utf8');
    for (const name of Object.keys(schema)) expect(text).toMatch(new RegExp(`^#? ?${name}=`, 'm'));
    // Secrets are never written with a value.
    expect(text).toMatch(/^# ADMIN_TOKEN=$/m);
    expect(text).toMatch(/^# DATABASE_URL=$/m);
  });

  it('the drift check fails when a variable is missing from the file', () => {
    const stale = join(tmp, '.env.example');
    writeFileSync(
      stale,
      generateEnvExample(schema).replace(/\n# DRAIN_TIMEOUT_MS=25000\n/, '\n'),
      'utf8',
    );
    const check = checkEnvExample(schema, stale);
    expect(check.ok).toBe(false);
    expect(check.differences.join('\n')).toContain('DRAIN_TIMEOUT_MS');
  });

  it('the shipshape-config CLI on the built schema agrees with the checked-in file', async () => {
    const { stdout } = await run(
      process.execPath,
      [
        join(ROOT, '../../packages/config/dist/cli.js'),
        'example',
        join(ROOT, 'dist/config.js'),
        '--check',
        ENV_EXAMPLE,
      ],
      { cwd: ROOT },
    );
    expect(stdout).not.toMatch(/expected/);
  });
});
