import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import Joi from 'joi';
import { describe, expect, it } from 'vitest';
import {
  bool,
  ConfigError,
  duration,
  EX_CONFIG,
  enums,
  flag,
  int,
  json,
  list,
  loadConfig,
  loadConfigOrExit,
  port,
  redact,
  secretValues,
  str,
  url,
} from '../src/index.js';
import { tempDir } from './support.js';

/** Runs `fn`, expecting a ConfigError, and returns it. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig: values and types', () => {
  it('parses every variable from the given env and adds NODE_ENV', () => {
    const config = loadConfig(
      {
        PORT: port(),
        DEBUG: bool(),
        TIMEOUT: duration(),
        HOSTS: list(str()),
        LEVEL: enums(['debug', 'info']),
        newCheckout: flag(),
        RETRIES: Joi.number().integer().min(0),
      },
      {
        env: {
          PORT: '8080',
          DEBUG: 'yes',
          TIMEOUT: '5s',
          HOSTS: 'a,b',
          LEVEL: 'info',
          FEATURE_NEW_CHECKOUT: 'on',
          RETRIES: '3',
          NODE_ENV: 'staging',
        },
        files: false,
      },
    );
    expect(config).toEqual({
      PORT: 8080,
      DEBUG: true,
      TIMEOUT: 5000,
      HOSTS: ['a', 'b'],
      LEVEL: 'info',
      newCheckout: true,
      RETRIES: 3,
      NODE_ENV: 'staging',
    });
  });

  it('defaults NODE_ENV to development and leaves unset optional values undefined', () => {
    const config = loadConfig({ NAME: str({ optional: true }) }, { env: {}, files: false });
    expect(config.NODE_ENV).toBe('development');
    expect(config.NAME).toBeUndefined();
    expect(Object.keys(config)).toEqual(['NAME', 'NODE_ENV']);
  });

  it('picks defaults per NODE_ENV: testDefault > devDefault > default', () => {
    const schema = {
      A: str({ default: 'base', devDefault: 'dev', testDefault: 'test' }),
      B: str({ default: 'base', devDefault: 'dev' }),
    };
    const load = (NODE_ENV: string) => loadConfig(schema, { env: { NODE_ENV }, files: false });
    expect(load('test')).toMatchObject({ A: 'test', B: 'dev' });
    expect(load('development')).toMatchObject({ A: 'dev', B: 'dev' });
    expect(load('staging')).toMatchObject({ A: 'base', B: 'base' });
    expect(load('production')).toMatchObject({ A: 'base', B: 'base' });
  });

  it('never serves a devDefault in production', () => {
    const error = configError(() =>
      loadConfig(
        { DB: url({ devDefault: 'postgres://localhost/dev' }) },
        { env: { NODE_ENV: 'production' }, files: false },
      ),
    );
    expect(error.issues).toEqual([
      expect.objectContaining({ code: 'missing', variable: 'DB', received: undefined }),
    ]);
  });

  it('returns a deeply frozen object and freezes copies, not the caller defaults', () => {
    const defaults = { retries: 3, hosts: ['a'] };
    const config = loadConfig(
      { OPTS: json({ default: defaults }), L: list(int(), { default: [1, 2] }) },
      { env: {}, files: false },
    );
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.OPTS)).toBe(true);
    expect(Object.isFrozen(config.OPTS.hosts)).toBe(true);
    expect(Object.isFrozen(config.L)).toBe(true);
    expect(Object.isFrozen(defaults)).toBe(false);
    expect(() => {
      (config as { L: unknown }).L = [];
    }).toThrow(TypeError);
  });

  it('reads a flag from FEATURE_<UPPER_SNAKE_NAME>, not from its key', () => {
    const schema = { newCheckout: flag(), BETA_SEARCH: flag({ default: true }) };
    expect(loadConfig(schema, { env: { newCheckout: 'true' }, files: false })).toMatchObject({
      newCheckout: false,
      BETA_SEARCH: true,
    });
    expect(
      loadConfig(schema, {
        env: { FEATURE_NEW_CHECKOUT: '1', FEATURE_BETA_SEARCH: 'off' },
        files: false,
      }),
    ).toMatchObject({ newCheckout: true, BETA_SEARCH: false });
  });

  it('does not read or modify process.env when env is given', () => {
    process.env.SHIPSHAPE_CONFIG_TEST_ONLY = 'from-process';
    try {
      const config = loadConfig(
        { SHIPSHAPE_CONFIG_TEST_ONLY: str({ optional: true }) },
        { env: {}, files: false },
      );
      expect(config.SHIPSHAPE_CONFIG_TEST_ONLY).toBeUndefined();
      // and without `env`, process.env is the environment
      expect(
        loadConfig({ SHIPSHAPE_CONFIG_TEST_ONLY: str() }, { files: false })
          .SHIPSHAPE_CONFIG_TEST_ONLY,
      ).toBe('from-process');
    } finally {
      delete process.env.SHIPSHAPE_CONFIG_TEST_ONLY;
    }
  });

  it('rejects a schema that redefines NODE_ENV or holds something that is not a spec', () => {
    expect(() => loadConfig({ NODE_ENV: str() }, { env: {}, files: false })).toThrow(
      '@shipshape/config: NODE_ENV is built in (one of development, test, staging, production); remove it from the schema',
    );
    expect(() => loadConfig({ PORT: 3000 } as never, { env: {}, files: false })).toThrow(
      '@shipshape/config: schema key "PORT" must be a spec such as str() or a joi schema, got "3000"',
    );
  });

  it('warns once per unknown option through the logger', () => {
    const warnings: [string, unknown][] = [];
    const logger = {
      info: () => undefined,
      error: () => undefined,
      warn: (message: string, meta?: Record<string, unknown>) => warnings.push([message, meta]),
    };
    loadConfig({ A: str({ default: 'a' }) }, {
      env: {},
      files: false,
      logger,
      overides: {},
    } as never);
    expect(warnings).toEqual([
      [
        '@shipshape/config: loadConfig() ignores unknown option "overides"; known options: cwd, env, files, overrides, logger',
        { code: 'SHIPSHAPE_CONFIG_UNKNOWN_OPTION' },
      ],
    ]);
  });
});

describe('loadConfig: precedence', () => {
  const schema = {
    A: str({ default: 'default' }),
    B: str({ default: 'default' }),
    C: str({ default: 'default' }),
    D: str({ default: 'default' }),
    E: str({ default: 'default' }),
    F: str({ default: 'default' }),
  };
  const files = {
    '.env': 'B=.env\nC=.env\nD=.env\nE=.env\nF=.env\n',
    '.env.development':
      'C=.env.development\nD=.env.development\nE=.env.development\nF=.env.development\n',
    '.env.test': 'C=.env.test\nD=.env.test\nE=.env.test\nF=.env.test\n',
    '.env.local': 'D=.env.local\nE=.env.local\nF=.env.local\n',
  };

  it('defaults < .env < .env.<NODE_ENV> < .env.local < environment < overrides', () => {
    const cwd = tempDir(files);
    const config = loadConfig(schema, {
      cwd,
      env: { E: 'environment', F: 'environment' },
      overrides: { F: 'overrides' },
    });
    expect(config).toEqual({
      A: 'default',
      B: '.env',
      C: '.env.development',
      D: '.env.local',
      E: 'environment',
      F: 'overrides',
      NODE_ENV: 'development',
    });
  });

  it('skips .env.local in test and reads .env.test', () => {
    const cwd = tempDir(files);
    expect(loadConfig(schema, { cwd, env: { NODE_ENV: 'test' } })).toMatchObject({
      C: '.env.test',
      D: '.env.test',
    });
  });

  it('takes NODE_ENV from .env when the environment does not set it', () => {
    const cwd = tempDir({ ...files, '.env': `NODE_ENV=test\n${files['.env']}` });
    expect(loadConfig(schema, { cwd, env: {} })).toMatchObject({
      NODE_ENV: 'test',
      C: '.env.test',
    });
  });

  it('never writes the values it read from files into process.env', () => {
    const cwd = tempDir({ '.env': 'SHIPSHAPE_CONFIG_FILE_ONLY=from-file\n' });
    const before = { ...process.env };
    const config = loadConfig({ SHIPSHAPE_CONFIG_FILE_ONLY: str() }, { cwd });
    expect(config.SHIPSHAPE_CONFIG_FILE_ONLY).toBe('from-file');
    expect(process.env.SHIPSHAPE_CONFIG_FILE_ONLY).toBeUndefined();
    expect({ ...process.env }).toEqual(before);
  });

  it('an empty environment value counts as set', () => {
    const cwd = tempDir(files);
    expect(loadConfig(schema, { cwd, env: { B: '' } }).B).toBe('');
  });

  it('files: false reads no file; files: [...] reads exactly those, later winning', () => {
    const cwd = tempDir({ ...files, 'conf/one.env': 'A=one\nB=one\n', 'conf/two.env': 'B=two\n' });
    expect(loadConfig(schema, { cwd, env: {}, files: false }).B).toBe('default');
    expect(
      loadConfig(schema, { cwd, env: {}, files: ['conf/one.env', 'conf/two.env'] }),
    ).toMatchObject({
      A: 'one',
      B: 'two',
      C: 'default',
    });
  });

  it('overrides accept typed values and raw strings', () => {
    const config = loadConfig(
      { PORT: port(), TIMEOUT: duration(), DEBUG: bool() },
      { env: { PORT: '1' }, files: false, overrides: { PORT: 0, TIMEOUT: '2m', DEBUG: true } },
    );
    expect(config).toMatchObject({ PORT: 0, TIMEOUT: 120_000, DEBUG: true });
  });
});

describe('loadConfig: aggregated errors', () => {
  it('reports every problem at once, one line each, naming the source', () => {
    const cwd = tempDir({ '.env': 'PORT=70000\nRATE=fast\nPORT=70001\n' });
    const error = configError(() =>
      loadConfig(
        { PORT: port(), RATE: int(), API: url(), NAME: str(), LEVEL: enums(['info', 'debug']) },
        { cwd, env: { API: 'localhost:3000', LEVEL: 'loud' } },
      ),
    );
    expect(error.code).toBe('SHIPSHAPE_CONFIG_INVALID');
    expect(error.issues.map((i) => i.message)).toEqual([
      '.env:3: duplicate key PORT (first set on line 1)',
      'PORT: expected a port number (integer 0-65535), got "70001" (from .env:3)',
      'RATE: expected an integer, got "fast" (from .env:2)',
      'API: expected an absolute URL (scheme://host...), got "localhost:3000" (from environment)',
      'NAME: required but not set; expected a string',
      'LEVEL: expected one of: info, debug, got "loud" (from environment)',
    ]);
    expect(error.issues[1]).toEqual({
      code: 'invalid',
      variable: 'PORT',
      received: '70001',
      expected: 'a port number (integer 0-65535)',
      source: '.env:3',
      message: 'PORT: expected a port number (integer 0-65535), got "70001" (from .env:3)',
    });
    expect(error.message).toBe(
      `@shipshape/config: 6 problems in the configuration (NODE_ENV=development):\n${error.issues.map((i) => `  - ${i.message}`).join('\n')}`,
    );
    expect(Object.isFrozen(error.issues)).toBe(true);
  });

  it('reports an unknown NODE_ENV and still checks the rest', () => {
    const error = configError(() =>
      loadConfig({ PORT: port() }, { env: { NODE_ENV: 'prod', PORT: 'x' }, files: false }),
    );
    expect(error.nodeEnv).toBe('prod');
    expect(error.issues.map((i) => [i.code, i.variable])).toEqual([
      ['node_env', 'NODE_ENV'],
      ['invalid', 'PORT'],
    ]);
    expect(error.issues[0]?.message).toBe(
      'NODE_ENV: expected one of: development, test, staging, production, got "prod" (from environment); the other variables were checked as in development',
    );
  });

  it('an unreadable .env file is one clear issue, not a raw fs error', () => {
    const cwd = tempDir();
    mkdirSync(join(cwd, '.env'));
    const error = configError(() => loadConfig({ A: str({ default: 'a' }) }, { cwd, env: {} }));
    expect(error.issues).toEqual([
      {
        code: 'unreadable_file',
        variable: '.env',
        received: undefined,
        expected: 'a readable .env file',
        source: '.env',
        message: '.env: it is a directory, not a file (EISDIR)',
      },
    ]);
  });

  it('a cwd that is a file, or does not exist, is one clear issue', () => {
    const file = join(tempDir({ 'plain.txt': 'x' }), 'plain.txt');
    const error = configError(() =>
      loadConfig({ A: str({ default: 'a' }) }, { cwd: file, env: {} }),
    );
    expect(error.issues.map((i) => i.message)).toEqual([
      `cwd: ${file} is not a directory; no .env file was read`,
    ]);
    const absent = join(tempDir(), 'absent');
    const error2 = configError(() =>
      loadConfig({ A: str({ default: 'a' }) }, { cwd: absent, env: {} }),
    );
    expect(error2.issues.map((i) => i.message)).toEqual([
      `cwd: ${absent} cannot be used: file not found (ENOENT); no .env file was read`,
    ]);
    // with files: false the cwd is not used at all
    expect(loadConfig({ A: str({ default: 'a' }) }, { cwd: absent, env: {}, files: false }).A).toBe(
      'a',
    );
  });

  it('a missing file listed explicitly is an issue; missing default files are skipped', () => {
    const cwd = tempDir();
    expect(loadConfig({ A: str({ default: 'a' }) }, { cwd, env: {} }).A).toBe('a');
    const error = configError(() =>
      loadConfig({ A: str({ default: 'a' }) }, { cwd, env: {}, files: ['nope.env'] }),
    );
    expect(error.issues.map((i) => i.message)).toEqual(['nope.env: file not found (ENOENT)']);
  });

  it('syntax errors in a .env file are reported with file:line', () => {
    const cwd = tempDir({ '.env': 'A=1\nthis is not an assignment\n' });
    const error = configError(() => loadConfig({ A: int() }, { cwd, env: {} }));
    expect(error.issues.map((i) => i.message)).toEqual(['.env:2: expected KEY=value']);
  });

  it('a bad override is reported like any other value', () => {
    const error = configError(() =>
      loadConfig({ PORT: port() }, { env: {}, files: false, overrides: { PORT: -1 } }),
    );
    expect(error.issues.map((i) => i.message)).toEqual([
      'PORT: expected a port number (integer 0-65535), got "-1" (from overrides)',
    ]);
  });
});

describe('secrets', () => {
  const schema = {
    PORT: port({ default: 3000 }),
    SESSION_SECRET: str({ secret: true, minLength: 12, devDefault: 'dev-only-secret' }),
    DATABASE_URL: url({ secret: true, optional: true }),
    API_KEYS: list(str(), { secret: true, default: ['k1-aaaaaaaa', 'k2-bbbbbbbb'] }),
  };

  it('masks secret values in issues', () => {
    const error = configError(() =>
      loadConfig(schema, {
        env: { SESSION_SECRET: 'tooshort', DATABASE_URL: 'not a url with pw hunter2' },
        files: false,
      }),
    );
    expect(error.issues.map((i) => [i.variable, i.received])).toEqual([
      ['SESSION_SECRET', '[REDACTED]'],
      ['DATABASE_URL', '[REDACTED]'],
    ]);
    expect(error.message).not.toContain('tooshort');
    expect(error.message).not.toContain('hunter2');
    expect(error.message).toContain(
      'SESSION_SECRET: expected a string of at least 12 characters, got [REDACTED] (from environment)',
    );
  });

  it('JSON.stringify, util.inspect and redact() mask every secret; secretValues() lists them', () => {
    const config = loadConfig(schema, {
      env: {
        SESSION_SECRET: 'a-long-session-secret',
        DATABASE_URL: 'postgres://u:hunter2@127.0.0.1/db',
      },
      files: false,
    });
    expect(config.SESSION_SECRET).toBe('a-long-session-secret');
    const json = JSON.parse(JSON.stringify(config));
    expect(json).toEqual({
      PORT: 3000,
      SESSION_SECRET: '[REDACTED]',
      DATABASE_URL: '[REDACTED]',
      API_KEYS: '[REDACTED]',
      NODE_ENV: 'development',
    });
    expect(redact(config)).toEqual(json);
    expect(Object.isFrozen(redact(config))).toBe(true);
    const printed = inspect(config);
    expect(printed).not.toContain('hunter2');
    expect(printed).not.toContain('a-long-session-secret');
    expect(printed).toContain('[REDACTED]');
    expect(secretValues(config)).toEqual([
      'a-long-session-secret',
      'postgres://u:hunter2@127.0.0.1/db',
      'k1-aaaaaaaa',
      'k2-bbbbbbbb',
      'k1-aaaaaaaa,k2-bbbbbbbb',
      // The password inside the URL on its own, for a log line that quotes only the password.
      'hunter2',
    ]);
  });

  it('leaves unset optional secrets undefined in redact() and out of secretValues()', () => {
    const config = loadConfig(schema, { env: {}, files: false });
    expect(redact(config).DATABASE_URL).toBeUndefined();
    expect(secretValues(config)).toEqual([
      'dev-only-secret',
      'k1-aaaaaaaa',
      'k2-bbbbbbbb',
      'k1-aaaaaaaa,k2-bbbbbbbb',
    ]);
  });

  it('redact() and secretValues() refuse objects that loadConfig did not return', () => {
    expect(() => redact({ A: 1 })).toThrow(
      '@shipshape/config: expected a config returned by loadConfig()',
    );
    expect(() => secretValues({})).toThrow(
      '@shipshape/config: expected a config returned by loadConfig()',
    );
  });
});

describe('production guards', () => {
  const schema = {
    SESSION_SECRET: str({ secret: true, minLength: 16, devDefault: 'dev-only-secret-value' }),
    SIGNING_KEY: str({ secret: true, default: 'shipped-default-key' }),
  };
  const prod = (env: Record<string, string>) => () =>
    loadConfig(schema, { env: { NODE_ENV: 'production', ...env }, files: false });

  it('requires secrets to be set explicitly (no default of any kind)', () => {
    const error = configError(prod({}));
    expect(error.issues.map((i) => i.message)).toEqual([
      'SESSION_SECRET: required but not set (secrets must be set explicitly in production); expected a string of at least 16 characters',
      'SIGNING_KEY: a secret must be set explicitly in production; the schema default is not used',
    ]);
    expect(error.issues.map((i) => i.code)).toEqual(['missing', 'secret_not_explicit']);
  });

  it.each(['changeme', 'CHANGEME', 'secret', 'password', 'Password', ''])(
    'rejects the weak value %j',
    (weak) => {
      const error = configError(() =>
        loadConfig(
          { TOKEN: str({ secret: true }) },
          { env: { NODE_ENV: 'production', TOKEN: weak }, files: false },
        ),
      );
      expect(error.issues).toEqual([
        expect.objectContaining({ code: 'weak_secret', variable: 'TOKEN', received: '[REDACTED]' }),
      ]);
      expect(error.issues[0]?.message).toMatch(
        /^TOKEN: weak secret in production \((empty|a known placeholder), from environment\)$/,
      );
    },
  );

  it('rejects secrets shorter than minLength', () => {
    const error = configError(
      prod({ SESSION_SECRET: 'short-secret', SIGNING_KEY: 'an-explicit-signing-key' }),
    );
    expect(error.issues.map((i) => i.message)).toEqual([
      'SESSION_SECRET: expected a string of at least 16 characters, got [REDACTED] (from environment)',
    ]);
  });

  it('accepts explicit strong secrets, from a .env file too', () => {
    const cwd = tempDir({ '.env.production': 'SIGNING_KEY="an explicit signing key"\n' });
    const config = loadConfig(schema, {
      cwd,
      env: { NODE_ENV: 'production', SESSION_SECRET: 'a-long-random-session-secret' },
    });
    expect(config).toEqual({
      SESSION_SECRET: 'a-long-random-session-secret',
      SIGNING_KEY: 'an explicit signing key',
      NODE_ENV: 'production',
    });
  });

  it('does not apply the weak-value guard outside production', () => {
    const config = loadConfig(
      { TOKEN: str({ secret: true }) },
      { env: { NODE_ENV: 'staging', TOKEN: 'changeme' }, files: false },
    );
    expect(config.TOKEN).toBe('changeme');
  });
});

describe('loadConfigOrExit', () => {
  it('writes the report and exits with 78 on a ConfigError', () => {
    let written = '';
    let code: number | undefined;
    class Exit extends Error {}
    expect(() =>
      loadConfigOrExit(
        { PORT: port() },
        {
          env: { PORT: 'abc' },
          files: false,
          stderr: { write: (chunk: string) => (written += chunk) },
          exit: (c: number) => {
            code = c;
            throw new Exit();
          },
        },
      ),
    ).toThrow(Exit);
    expect(code).toBe(EX_CONFIG);
    expect(code).toBe(78);
    expect(written).toBe(
      '@shipshape/config: 1 problem in the configuration (NODE_ENV=development):\n  - PORT: expected a port number (integer 0-65535), got "abc" (from environment)\n',
    );
  });

  it('returns the config when valid', () => {
    expect(loadConfigOrExit({ PORT: port() }, { env: { PORT: '1' }, files: false }).PORT).toBe(1);
  });
});
