import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  generateEnvExample,
  generateMarkdown,
  json,
  list,
  loadConfig,
  redact,
  secretValues,
  str,
  url,
} from '../src/index.js';

const PASSWORD = 'hunter2-Redis-pw';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('credentials inside URL values', () => {
  const schema = {
    REDIS_URL: url({ protocols: ['redis', 'rediss'] }),
    CACHE_URL: url({ optional: true }),
    GIT_REMOTE: url({ optional: true }),
    UPSTREAMS: list(url(), { optional: true }),
    PLAIN: str({ optional: true }),
    OPTIONS: json({ optional: true }),
  };
  const load = (env: Record<string, string>) => loadConfig(schema, { env, files: false });

  it('redact(), JSON.stringify and util.inspect mask the password and keep the user name', () => {
    const config = load({
      REDIS_URL: `redis://app:${PASSWORD}@redis.internal:6379/0`,
      CACHE_URL: `redis://:${PASSWORD}@cache:6380`,
      GIT_REMOTE: 'https://ghp_tokenABCDEF123456@github.com/org/repo.git',
      UPSTREAMS: `http://a:${PASSWORD}@one:80,http://two:80`,
      PLAIN: 'no url here @ all',
      OPTIONS: JSON.stringify({ dsn: `postgres://u:${PASSWORD}@db/x`, n: 1 }),
    });
    // The app still reads the real value.
    expect(config.REDIS_URL).toBe(`redis://app:${PASSWORD}@redis.internal:6379/0`);
    const shown = redact(config);
    expect(shown).toMatchObject({
      REDIS_URL: 'redis://app:***@redis.internal:6379/0',
      CACHE_URL: 'redis://:***@cache:6380',
      GIT_REMOTE: 'https://***@github.com/org/repo.git',
      UPSTREAMS: ['http://a:***@one:80', 'http://two:80'],
      PLAIN: 'no url here @ all',
      OPTIONS: { dsn: 'postgres://u:***@db/x', n: 1 },
    });
    for (const text of [JSON.stringify(shown), JSON.stringify(config), inspect(config)]) {
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain('ghp_tokenABCDEF123456');
      expect(text).toContain('redis://app:***@redis.internal:6379/0');
    }
  });

  it('masks URLs in any string value; an unencoded "@" in the password stays masked', () => {
    const config = load({ REDIS_URL: 'redis://r:6379', PLAIN: 'redis://app:p@ss@word@redis:6379' });
    expect(redact(config).PLAIN).toBe('redis://app:***@redis:6379');
    expect(secretValues(config)).toContain('p@ss@word');
  });

  it('secretValues() lists each URL password, as written and decoded, for log scrubbing', () => {
    const config = load({
      REDIS_URL: 'redis://app:pa%40ss-w0rd@redis:6379',
      GIT_REMOTE: 'https://ghp_tokenABCDEF123456@github.com/org/repo.git',
    });
    const values = secretValues(config);
    expect(values).toContain('pa%40ss-w0rd');
    expect(values).toContain('pa@ss-w0rd');
    expect(values).toContain('ghp_tokenABCDEF123456');
    expect(values).not.toContain('app');
    expect(values.some((v) => v.includes('redis:6379'))).toBe(false);
  });

  it('a url() marked secret is redacted whole, and its password is a secret value too', () => {
    const config = loadConfig(
      { DATABASE_URL: url({ secret: true }) },
      { env: { DATABASE_URL: `postgres://glass:${PASSWORD}@db:5432/glass` }, files: false },
    );
    expect(redact(config).DATABASE_URL).toBe('[REDACTED]');
    expect(secretValues(config)).toEqual([`postgres://glass:${PASSWORD}@db:5432/glass`, PASSWORD]);
  });

  it('the error report never echoes a password of a value that failed validation', () => {
    const error = configError(() =>
      load({
        REDIS_URL: `http://app:${PASSWORD}@redis:6379`, // wrong scheme
        CACHE_URL: `redis://app:${PASSWORD} with space@cache:99999999`, // does not parse at all
        UPSTREAMS: `ftp//x:${PASSWORD}@nope`,
      }),
    );
    expect(error.issues.map((issue) => issue.variable)).toEqual([
      'REDIS_URL',
      'CACHE_URL',
      'UPSTREAMS',
    ]);
    expect(error.message).not.toContain(PASSWORD);
    expect(JSON.stringify(error.issues)).not.toContain(PASSWORD);
    expect(error.issues[0]?.received).toBe('http://***@redis:6379');
    expect(error.message).toContain(
      'REDIS_URL: expected an absolute URL with scheme redis:// or rediss://, got "http://***@redis:6379"',
    );
  });

  it('generated .env.example and docs mask a default that carries credentials', () => {
    const withDefault = {
      REDIS_URL: url({ default: `redis://:${PASSWORD}@127.0.0.1:6379`, description: 'Redis.' }),
    };
    const example = generateEnvExample(withDefault);
    const docs = generateMarkdown(withDefault);
    expect(example).toContain('# REDIS_URL="redis://:***@127.0.0.1:6379"');
    expect(docs).toContain('default: redis://:***@127.0.0.1:6379');
    expect(example + docs).not.toContain(PASSWORD);
  });

  it('a bad default in the schema does not echo its password either', () => {
    expect(() => url({ default: `redis://u:${PASSWORD}@host:notaport` })).toThrow(
      /url\(\) "default" "redis:\/\/\*\*\*@host:notaport" is not valid/,
    );
  });
});
