import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type ConfigSchema,
  checkEnvExample,
  duration,
  generateEnvExample,
  generateMarkdown,
  json,
  loadConfig,
  parseDotenv,
  port,
  str,
} from '../src/index.js';
import { ensureBuilt, packageDir, tempDir } from './support.js';

const examplePath = join(packageDir, 'test', 'fixtures', 'app.env.example');
let appSchema: ConfigSchema;

beforeAll(async () => {
  // The fixture imports the built package, as an app (and the CLI) would.
  ensureBuilt();
  const fixture = './fixtures/app-schema.mjs';
  ({ schema: appSchema } = (await import(fixture)) as { schema: ConfigSchema });
});

describe('generateEnvExample', () => {
  const schema = {
    PORT: port({ default: 3000, description: 'HTTP port.' }),
    API_TOKEN: str({
      secret: true,
      default: 'do-not-leak-me',
      description: 'Token.',
      example: 'leak-me-neither',
    }),
    NAME: str({ description: 'Service\nname.', example: 'orders api' }),
    GREETING: str({ optional: true, default: 'hello "world" #1' }),
    TIMEOUT: duration({ devDefault: 5000, default: 30_000 }),
    OPTS: json({ optional: true }),
  };

  it('documents every variable; required ones uncommented, secrets blank', () => {
    expect(generateEnvExample(schema)).toBe(
      [
        '# Generated from the configuration schema by `shipshape-config example`. Do not edit by hand.',
        '# Variables required in every environment are uncommented; the others are commented out.',
        '',
        '# Environment: development | test | staging | production (default: development)',
        '# NODE_ENV=development',
        '',
        '# HTTP port.',
        '# type: a port number (integer 0-65535) · optional · default: 3000',
        '# PORT=3000',
        '',
        '# Token.',
        '# type: a string · secret · required in production',
        '# API_TOKEN=',
        '',
        '# Service name.',
        '# type: a string · required · example: orders api',
        'NAME=orders api',
        '',
        '# type: a string · optional · default: hello "world" #1',
        '# GREETING="hello \\"world\\" #1"',
        '',
        '# type: a duration such as 250ms, 30s, 5m, 1h, 1d (a bare number is milliseconds) · optional · default: 30s · development: 5s',
        '# TIMEOUT=30s',
        '',
        '# type: valid JSON · optional',
        '# OPTS=',
        '',
      ].join('\n'),
    );
    expect(generateEnvExample(schema)).not.toContain('leak-me');
  });

  it('round-trips: the generated defaults parse back to the same values', () => {
    const text = generateEnvExample(schema).replace(/^# (PORT|GREETING|TIMEOUT)=/gm, '$1=');
    const { entries, problems } = parseDotenv(text);
    expect(problems).toEqual([]);
    const cwd = tempDir({
      '.env': entries.map((e) => `${e.key}=${JSON.stringify(e.value)}`).join('\n'),
    });
    const config = loadConfig(schema, {
      cwd,
      env: { NODE_ENV: 'staging', API_TOKEN: 'a-real-token' },
    });
    expect(config).toMatchObject({
      PORT: 3000,
      GREETING: 'hello "world" #1',
      TIMEOUT: 30_000,
      NAME: 'orders api',
    });
  });
});

describe('generateMarkdown', () => {
  it('renders a table row per variable, escaping pipes and hiding secret defaults', () => {
    const md = generateMarkdown({
      PORT: port({ default: 3000, description: 'HTTP | port' }),
      KEY: str({ secret: true, devDefault: 'dev-key-value', description: 'API key' }),
    });
    expect(md.split('\n')).toEqual([
      '| Variable | Type | Required | Default | Secret | Description | Example |',
      '|---|---|---|---|---|---|---|',
      '| `NODE_ENV` | one of: development, test, staging, production | no | `development` | no | Which environment this is; selects `.env.<NODE_ENV>` and the per-environment defaults. | `production` |',
      '| `PORT` | a port number (integer 0-65535) | no | `default: 3000` | no | HTTP \\| port |  |',
      '| `KEY` | a string | required in staging and production |  | yes | API key |  |',
      '',
    ]);
  });
});

describe('checkEnvExample (drift check)', () => {
  it('the checked-in app.env.example matches its schema', () => {
    const result = checkEnvExample(appSchema, examplePath);
    // On failure the differences say which lines drifted and how to regenerate.
    expect(result.differences).toEqual([]);
    expect(result.ok).toBe(true);
  });

  it('reports a drifted copy line by line', () => {
    const dir = tempDir();
    const copy = join(dir, '.env.example');
    writeFileSync(copy, readFileSync(examplePath, 'utf8').replace('# PORT=3000', '# PORT=8080'));
    const result = checkEnvExample(appSchema, copy);
    expect(result.ok).toBe(false);
    expect(result.differences).toHaveLength(1);
    expect(result.differences[0]).toMatch(
      /\.env\.example:\d+: expected "# PORT=3000", found "# PORT=8080"$/,
    );
  });

  it('reports a variable added to the schema but missing from the file', () => {
    const result = checkEnvExample({ ...appSchema, EXTRA: str({ optional: true }) }, examplePath);
    expect(result.ok).toBe(false);
    expect(result.differences.join('\n')).toContain('EXTRA');
  });

  it('reports a missing file instead of throwing', () => {
    const result = checkEnvExample(appSchema, join(tempDir(), 'absent'));
    expect(result.ok).toBe(false);
    expect(result.differences[0]).toMatch(
      /absent: cannot read it \(ENOENT\); generate it with `shipshape-config example`$/,
    );
  });
});
