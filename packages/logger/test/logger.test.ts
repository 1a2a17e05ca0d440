import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger, type Logger, runWithRequestContext } from '../src/index.js';
import { LinesTransport, removeDir, tempDir } from './helpers.js';

const open: Logger[] = [];
function make(options: Parameters<typeof createLogger>[0] = {}) {
  const lines = new LinesTransport();
  const logger = createLogger({
    console: false,
    service: 'svc',
    env: 'test',
    version: '1.2.3',
    ...options,
    transports: [lines],
  });
  open.push(logger);
  return { logger, lines };
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((l) => l.close()));
  vi.restoreAllMocks();
});

/** Captures what the logger writes to process.stdout while `fn` runs. */
async function captureStdout(fn: () => Promise<void> | void): Promise<string[]> {
  const written: string[] = [];
  const original = process.stdout.write.bind(process.stdout);
  vi.spyOn(process.stdout, 'write').mockImplementation(((
    chunk: string | Uint8Array,
    ...rest: unknown[]
  ) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    if (text.startsWith('{"timestamp"') || /^\d{4}-\d\d-\d\dT/.test(text)) {
      written.push(text);
      return true;
    }
    return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write);
  await fn();
  vi.restoreAllMocks();
  return written;
}

describe('createLogger: fields and formats', () => {
  it('writes one JSON line to stdout by default with every base field', async () => {
    const out = await captureStdout(async () => {
      const logger = createLogger({ service: 'svc', env: 'prod', version: '9.9.9' });
      logger.info('hello', { orderId: 42 });
      await logger.close();
    });
    expect(out).toHaveLength(1);
    expect(out[0]?.endsWith('\n')).toBe(true);
    const line = JSON.parse(out[0] as string);
    expect(line).toMatchObject({
      level: 'info',
      message: 'hello',
      service: 'svc',
      env: 'prod',
      version: '9.9.9',
      hostname: hostname(),
      pid: process.pid,
      orderId: 42,
    });
    expect(new Date(line.timestamp).toISOString()).toBe(line.timestamp);
    expect(line).not.toHaveProperty('requestId');
  });

  it('adds requestId and context fields inside a request context', () => {
    const { logger, lines } = make();
    runWithRequestContext({ requestId: 'abc-1', fields: { userId: 'u7' } }, () => {
      logger.warn('inside');
    });
    logger.info('outside');
    const [inside, outside] = lines.parsed();
    expect(inside).toMatchObject({ requestId: 'abc-1', userId: 'u7', message: 'inside' });
    expect(outside).not.toHaveProperty('requestId');
  });

  it('pretty format: one line, CR/LF/ANSI escaped in message and fields', async () => {
    const out = await captureStdout(async () => {
      const logger = createLogger({ format: 'pretty', colors: false });
      logger.info('first\r\nFAKE 2026-01-01T00:00:00.000Z ERROR forged \u001b[31mred', {
        note: 'a\nb',
        clean: 'x',
      });
      await logger.close();
    });
    expect(out).toHaveLength(1);
    const line = out[0] as string;
    expect(line.split('\n')).toEqual([expect.any(String), '']);
    expect(line).not.toContain('\r');
    expect(line).not.toContain('\u001b');
    expect(line).toContain('first\\r\\nFAKE');
    expect(line).toContain('\\u001b[31mred');
    expect(line).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z INFO {2}first/);
    expect(line).toContain('note="a\\nb"');
    expect(line).toContain('clean=x');
  });

  it('pretty format renders access lines (which carry only their JSON) on one line too', async () => {
    const out = await captureStdout(async () => {
      const logger = createLogger({ format: 'pretty', colors: false });
      const { accessLog } = await import('../src/index.js');
      const middleware = accessLog(logger);
      const { EventEmitter } = await import('node:events');
      const req = Object.assign(new EventEmitter(), {
        method: 'GET',
        url: '/x?y=1',
        originalUrl: '/x?y=1',
        headers: { 'user-agent': 'evil\r\nFAKE' },
        socket: { bytesWritten: 0, remoteAddress: '127.0.0.1' },
      });
      const res = Object.assign(new EventEmitter(), {
        req,
        statusCode: 200,
        headersSent: true,
        writableFinished: true,
      });
      middleware(req as never, res as never, () => {});
      res.emit('close');
      await logger.close();
    });
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/ INFO {2}request stream=access method=GET route=\/x status=200 /);
    expect(out[0]).toContain('userAgent="evil\\r\\nFAKE"');
    expect(out[0]?.split('\n')).toHaveLength(2);
  });

  it('winston child loggers keep their metadata and go through the same format', () => {
    const { logger, lines } = make();
    const child = logger.child({ component: 'billing', apiKey: 'k-1' });
    child.info('charged', { amount: 5 });
    expect(lines.parsed()[0]).toMatchObject({
      message: 'charged',
      component: 'billing',
      apiKey: '[REDACTED]',
      amount: 5,
      service: 'svc',
    });
  });

  it('JSON output escapes control characters too (a message cannot forge a second line)', () => {
    const { logger, lines } = make();
    logger.info('a\nb\u001b[2J', { v: '\r\n' });
    for (const c of ['\n', '\r', '\u001b']) expect(lines.lines[0]).not.toContain(c);
    expect(lines.parsed()[0]).toMatchObject({ message: 'a\nb\u001b[2J', v: '\r\n' });
  });
});

describe('createLogger with no output', () => {
  it('console: false and no files or transports: lines are dropped, nothing is kept, flush and close return at once', async () => {
    const logger = createLogger({ console: false, service: 'svc', env: 'test' });
    for (let i = 0; i < 1000; i++) logger.info('nowhere', { i });
    logger.warn('still nowhere');
    expect(logger.readableLength).toBe(0);
    const started = Date.now();
    await logger.flush({ timeoutMs: 2000 });
    await logger.close({ timeoutMs: 2000 });
    // Without a transport winston kept every line and both calls waited out their timeout.
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('createLogger: redaction', () => {
  it('redacts default keys case-insensitively at any depth, also inside arrays', () => {
    const { logger, lines } = make();
    logger.info('login', {
      user: 'ann',
      Password: 'p1',
      headers: { Authorization: 'Bearer t', cookie: 'sid=1', 'Set-Cookie': 'x', 'X-API-Key': 'k' },
      nested: { deeper: { api_key: 'k2', apiKey: 'k3', passwd: 'p2', creditCardNumber: '4111' } },
      list: [{ secret: 's' }, { token: 't', accessToken: 'a', keep: 'yes' }],
    });
    const line = lines.parsed()[0] as Record<string, unknown>;
    expect(line).toMatchObject({
      user: 'ann',
      Password: '[REDACTED]',
      headers: {
        Authorization: '[REDACTED]',
        cookie: '[REDACTED]',
        'Set-Cookie': '[REDACTED]',
        'X-API-Key': '[REDACTED]',
      },
      nested: {
        deeper: {
          api_key: '[REDACTED]',
          apiKey: '[REDACTED]',
          passwd: '[REDACTED]',
          creditCardNumber: '[REDACTED]',
        },
      },
      list: [
        { secret: '[REDACTED]' },
        { token: '[REDACTED]', accessToken: '[REDACTED]', keep: 'yes' },
      ],
    });
    expect(lines.lines[0]).not.toMatch(/p1|Bearer t|sid=1|k2|k3|p2|4111/);
  });

  it('redacts extra keys and exact secret values wherever they appear in strings', () => {
    const { logger, lines } = make({
      redactKeys: ['ssn'],
      secretValues: ['s3cr3t-db-pass', 'AKIAEXAMPLEKEY'],
    });
    const err = new Error('connect failed for postgres://app:s3cr3t-db-pass@db/x');
    logger.error('using s3cr3t-db-pass and AKIAEXAMPLEKEY twice: s3cr3t-db-pass', {
      SSN: '123-45-6789',
      dsn: 'postgres://app:s3cr3t-db-pass@db/x',
      deep: { list: ['AKIAEXAMPLEKEY'] },
      err,
    });
    const raw = lines.lines[0] as string;
    expect(raw).not.toContain('s3cr3t-db-pass');
    expect(raw).not.toContain('AKIAEXAMPLEKEY');
    expect(raw).not.toContain('123-45-6789');
    const line = JSON.parse(raw);
    expect(line.message).toBe('using [REDACTED] and [REDACTED] twice: [REDACTED]');
    expect(line.dsn).toBe('postgres://app:[REDACTED]@db/x');
    expect(line.deep.list).toEqual(['[REDACTED]']);
    expect(line.err.message).toBe('connect failed for postgres://app:[REDACTED]@db/x');
  });

  it('ignores secret values shorter than 4 characters with a coded warning', () => {
    const { lines } = make({ secretValues: ['ab'] });
    expect(lines.parsed()[0]).toMatchObject({
      level: 'warn',
      code: 'SHIPSHAPE_LOGGER_SHORT_SECRET',
    });
  });

  it('does not mutate the objects it is given', () => {
    const { logger } = make();
    const meta = { password: 'p', nested: { token: 't' } };
    logger.info('x', meta);
    expect(meta).toEqual({ password: 'p', nested: { token: 't' } });
  });
});

describe('createLogger: bad input is one valid line, never a throw', () => {
  it('circular structures, BigInt, Symbol, undefined, functions, NaN, Dates, Maps, Sets, buffers', () => {
    const { logger, lines } = make();
    const circular: Record<string, unknown> = { name: 'loop' };
    circular.self = circular;
    circular.list = [circular];
    logger.info('odd values', {
      circular,
      big: 12345678901234567890n,
      sym: Symbol('tag'),
      nothing: undefined,
      fn: function handler() {},
      nan: Number.NaN,
      when: new Date(0),
      bad: new Date('nope'),
      map: new Map([['k', 1n]]),
      set: new Set(['a']),
      buf: Buffer.from('abc'),
      throwing: {
        get boom() {
          throw new Error('getter exploded');
        },
      },
    });
    expect(lines.lines).toHaveLength(1);
    const line = lines.parsed()[0] as Record<string, unknown>;
    expect(line).toMatchObject({
      circular: { name: 'loop', self: '[Circular]', list: ['[Circular]'] },
      big: '12345678901234567890',
      sym: 'Symbol(tag)',
      fn: '[Function handler]',
      nan: 'NaN',
      when: '1970-01-01T00:00:00.000Z',
      bad: 'Invalid Date',
      map: { k: '1' },
      set: ['a'],
      buf: '[Buffer 3 bytes]',
    });
    expect(line).not.toHaveProperty('nothing');
    expect(String(line.throwing)).toContain('getter exploded');
  });

  it('non-string messages: undefined, BigInt, Symbol, objects', () => {
    const { logger, lines } = make();
    logger.info(undefined as unknown as string);
    logger.info(10n as unknown as string);
    logger.log('info', Symbol('m') as unknown as string);
    logger.info({ message: { a: 1 } } as unknown as string);
    expect(lines.parsed().map((l) => l.message)).toEqual(['', '10', 'Symbol(m)', '{"a":1}']);
  });

  it('Errors: message, stack, code and the whole cause chain, logged alone or as a field', () => {
    const { logger, lines } = make();
    const root = Object.assign(new Error('disk gone'), { code: 'ENOSPC', errno: -28 });
    const mid = new Error('write failed', { cause: root });
    const top = Object.assign(new Error('save failed', { cause: mid }), { code: 'E_SAVE' });
    logger.error(top);
    logger.error('request failed', { err: top });
    const [alone, field] = lines.parsed() as Record<string, Record<string, unknown>>[];
    expect(alone?.message).toBe('save failed');
    expect(alone?.error).toMatchObject({
      name: 'Error',
      message: 'save failed',
      code: 'E_SAVE',
      cause: {
        message: 'write failed',
        cause: { message: 'disk gone', code: 'ENOSPC', errno: -28 },
      },
    });
    expect(String(alone?.error?.stack)).toContain('save failed');
    expect(alone?.error).not.toHaveProperty('level');
    expect(field?.err).toMatchObject({ code: 'E_SAVE', cause: { cause: { code: 'ENOSPC' } } });
  });

  it('an Error with a circular cause chain terminates', () => {
    const { logger, lines } = make();
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    logger.error('loop', { a });
    expect(lines.parsed()[0]).toMatchObject({ a: { cause: { cause: '[Circular]' } } });
  });

  it('huge strings are truncated at maxStringLength with truncated: true', () => {
    const { logger, lines } = make({ maxStringLength: 100 });
    logger.info('x'.repeat(1000), { field: 'y'.repeat(500), small: 'ok' });
    logger.info('short');
    const [big, small] = lines.parsed();
    expect(big?.truncated).toBe(true);
    expect(String(big?.message).startsWith('x'.repeat(100))).toBe(true);
    expect(String(big?.message)).toContain('[+900 chars]');
    expect(String(big?.field).length).toBeLessThan(130);
    expect(big?.small).toBe('ok');
    expect(small).not.toHaveProperty('truncated');
  });
});

describe('createLogger: options are validated at factory time', () => {
  it.each([
    [
      { level: 'loud' },
      /"level" must be one of error, warn, info, http, verbose, debug, silly, got "loud"/,
    ],
    [{ format: 'xml' }, /"format" must be "json" or "pretty", got "xml"/],
    [{ maxStringLength: 3 }, /"maxStringLength" must be an integer of at least 16, got 3/],
    [{ redactKeys: 'password' }, /"redactKeys" must be an array/],
    [{ secretValues: [1] }, /"secretValues" must hold strings/],
    [{ files: { dir: '' } }, /files "dir" must be a directory path/],
    [
      { files: { dir: '/tmp/x', maxSize: '10 MB' } },
      /files "maxSize" must be bytes or a string like "10m"/,
    ],
    [
      { files: { dir: '/tmp/x', maxFiles: 0 } },
      /files "maxFiles" must be a positive integer, got 0/,
    ],
  ])('%j', (options, message) => {
    expect(() => createLogger(options as never)).toThrow(message);
    expect(() => createLogger(options as never)).toThrow(/^@shipshape\/logger: /);
  });

  it('LOG_LEVEL from the environment is validated too', () => {
    vi.stubEnv('LOG_LEVEL', 'chatty');
    try {
      expect(() => createLogger({ console: false })).toThrow(
        /LOG_LEVEL must be one of .* got "chatty"/,
      );
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('an unwritable directory fails at createLogger with a clear message', () => {
    const dir = tempDir('unwritable');
    try {
      const file = join(dir, 'not-a-dir');
      writeFileSync(file, 'x');
      expect(() => createLogger({ console: false, files: { dir: join(file, 'logs') } })).toThrow(
        /^@shipshape\/logger: files "dir" ".*not-a-dir\/logs" is not a writable directory \(.*(ENOTDIR|EEXIST).*\)/,
      );
      expect(() =>
        createLogger({ console: false, files: { dir: '/proc/shipshape-logs' } }),
      ).toThrow(/files "dir" "\/proc\/shipshape-logs" is not a writable directory/);
    } finally {
      removeDir(dir);
    }
  });

  it('unknown options produce a coded warning once', () => {
    const { lines } = make({ levle: 'debug' } as never);
    const warnings = lines.parsed().filter((l) => l.code === 'SHIPSHAPE_LOGGER_UNKNOWN_OPTION');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toContain('"levle"');
  });

  it('warnings can be switched off', () => {
    const { lines } = make({
      levle: 'debug',
      ignoreWarnings: ['SHIPSHAPE_LOGGER_UNKNOWN_OPTION'],
    } as never);
    expect(lines.lines).toHaveLength(0);
  });
});

describe('security stream and levels', () => {
  it('logger.security writes a warn line with stream "security" and the event, redacted', () => {
    const { logger, lines } = make();
    logger.security('csrf_rejected', { ip: '10.0.0.1', token: 'abc', path: '/x' });
    expect(lines.parsed()[0]).toMatchObject({
      level: 'warn',
      message: 'csrf_rejected',
      event: 'csrf_rejected',
      stream: 'security',
      ip: '10.0.0.1',
      token: '[REDACTED]',
    });
  });

  it('setLevel without ttl is permanent; with ttlMs it reverts by itself', async () => {
    const { logger, lines } = make({ level: 'info' });
    logger.debug('hidden');
    const state = logger.setLevel('debug', { ttlMs: 150 });
    expect(state.level).toBe('debug');
    expect(state.baseLevel).toBe('info');
    expect(Date.parse(state.expiresAt as string)).toBeGreaterThan(Date.now());
    logger.debug('shown');
    await vi.waitFor(() => expect(logger.levelState().level).toBe('info'), { timeout: 5000 });
    expect(logger.levelState().expiresAt).toBeNull();
    logger.debug('hidden again');
    const messages = lines.parsed().map((l) => l.message);
    expect(messages).toContain('shown');
    expect(messages).not.toContain('hidden');
    expect(messages).not.toContain('hidden again');
    expect(lines.parsed().find((l) => l.message === 'log level reverted')).toMatchObject({
      from: 'debug',
      to: 'info',
    });
    logger.setLevel('warn');
    expect(logger.levelState()).toEqual({ level: 'warn', baseLevel: 'warn', expiresAt: null });
  });

  it('a new temporary level replaces the previous timer and reverts to the base level', async () => {
    const { logger } = make({ level: 'warn' });
    logger.setLevel('debug', { ttlMs: 60_000 });
    logger.setLevel('info', { ttlMs: 100 });
    await vi.waitFor(() => expect(logger.levelState().level).toBe('warn'), { timeout: 5000 });
  });

  it('setLevel rejects unknown levels and bad ttl', () => {
    const { logger } = make();
    expect(() => logger.setLevel('loud' as never)).toThrow(/setLevel level must be one of/);
    expect(() => logger.setLevel('debug', { ttlMs: -1 })).toThrow(
      /"ttlMs" must be a positive integer/,
    );
    expect(logger.levelState().level).toBe('info');
  });

  it('two loggers do not share level, fields or redaction', () => {
    const a = make({ level: 'debug', secretValues: ['alpha-secret'] });
    const b = make({ level: 'warn' });
    a.logger.setLevel('silly', { ttlMs: 60_000 });
    expect(b.logger.levelState().level).toBe('warn');
    b.logger.warn('alpha-secret');
    expect(b.lines.parsed()[0]?.message).toBe('alpha-secret');
  });
});

describe('createLogger: process.stdout', () => {
  it('many console loggers share one stdout error listener; each still hears a stdout error', async () => {
    const before = process.stdout.listenerCount('error');
    const heard: string[] = [];
    const loggers = Array.from({ length: 12 }, (_, i) =>
      createLogger({ onInternalError: (e) => heard.push(`${i}:${e.message}`) }),
    );
    expect(process.stdout.listenerCount('error')).toBe(before + 1);
    process.stdout.emit('error', new Error('EPIPE'));
    expect(heard).toHaveLength(12);
    expect(heard[11]).toMatch(/^11:@shipshape\/logger: stdout failed: EPIPE/);
    await Promise.all(loggers.map((l) => l.close()));
    expect(process.stdout.listenerCount('error')).toBe(before);
  });
});
