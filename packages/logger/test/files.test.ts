import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readlinkSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import Transport from 'winston-transport';
import { createLogger, runWithRequestContext } from '../src/index.js';
import { readStream, removeDir, streamFiles, tempDir } from './helpers.js';

const dirs: string[] = [];
function dir(name: string): string {
  const d = tempDir(name);
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

const padding = 'p'.repeat(120);

function sequence(lines: Record<string, unknown>[], message: string): number[] {
  return lines
    .filter((l) => l.message === message)
    .map((l) => l.i as number)
    .sort((a, b) => a - b);
}

describe('rotated files per stream', () => {
  it('routes app / error / security / access lines to their files, with a current-file symlink', async () => {
    const d = dir('streams');
    const logger = createLogger({ console: false, files: { dir: d } });
    logger.info('app line');
    logger.debug('below level');
    logger.error('error line');
    logger.security('ip_blocked', { ip: '10.1.1.1' });
    logger.write({
      level: 'info',
      message: 'not access: plain winston write',
      [Symbol.for('level')]: 'info',
    } as never);
    await logger.close();
    const app = readStream(d, 'app').map((l) => l.message);
    expect(app).toEqual(['app line', 'error line', 'not access: plain winston write']);
    expect(readStream(d, 'error').map((l) => l.message)).toEqual(['error line']);
    expect(readStream(d, 'security')).toEqual([
      expect.objectContaining({ message: 'ip_blocked', stream: 'security', ip: '10.1.1.1' }),
    ]);
    expect(readStream(d, 'access')).toEqual([]);
    expect(readlinkSync(join(d, 'app.log'))).toMatch(/^app-\d{4}-\d\d-\d\d\.log$/);
  });

  it('10,000 lines then close(): all 10,000 are in the file, in order', async () => {
    const d = dir('ten-k');
    const logger = createLogger({ console: false, files: { dir: d } });
    for (let i = 0; i < 10_000; i++) logger.info('n', { i, padding });
    await logger.close();
    const lines = readStream(d, 'app');
    expect(lines).toHaveLength(10_000);
    expect(lines.map((l) => l.i)).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
  });

  it('10,000 lines across forced rotations (gzip on): every line is in exactly one file', async () => {
    const d = dir('rotate');
    const logger = createLogger({
      console: false,
      files: { dir: d, maxSize: '64k', maxFiles: 1000, zippedArchive: true },
    });
    for (let i = 0; i < 10_000; i++) logger.info('r', { i, padding });
    await logger.close();
    const files = streamFiles(d, 'app');
    const zipped = files.filter((f) => f.endsWith('.gz'));
    expect(zipped.length).toBeGreaterThan(10);
    // Archived files replace their source: no .log left beside its .gz.
    for (const gz of zipped) expect(files).not.toContain(gz.slice(0, -3));
    expect(sequence(readStream(d, 'app'), 'r')).toEqual(
      Array.from({ length: 10_000 }, (_, i) => i),
    );
  });

  it('flush() resolves with every line on disk while the logger stays usable', async () => {
    const d = dir('flush');
    const logger = createLogger({
      console: false,
      files: { dir: d, maxSize: '32k', maxFiles: 1000 },
    });
    for (let i = 0; i < 3000; i++) logger.info('f', { i, padding });
    await logger.flush();
    expect(sequence(readStream(d, 'app'), 'f')).toHaveLength(3000);
    logger.info('after flush');
    await logger.close();
    const all = readStream(d, 'app');
    expect(all).toHaveLength(3001);
    expect(all.filter((l) => l.message === 'after flush')).toHaveLength(1);
  });

  it('maxFiles is honoured: old files are really deleted, the newest lines kept', async () => {
    const d = dir('max-files');
    const logger = createLogger({
      console: false,
      files: { dir: d, maxSize: '4k', maxFiles: 3, zippedArchive: true },
    });
    for (let i = 0; i < 2000; i++) logger.info('m', { i, padding });
    await logger.close();
    const files = streamFiles(d, 'app');
    expect(files.length).toBeGreaterThan(0);
    expect(files.length).toBeLessThanOrEqual(3);
    const kept = sequence(readStream(d, 'app'), 'm');
    expect(kept.at(-1)).toBe(1999);
    expect(kept.length).toBeLessThan(2000);
    // What is kept is a contiguous tail: nothing lost in the middle of the kept files.
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, k) => 2000 - kept.length + k));
  });

  it('access lines written inside a request carry the request id in access.log', async () => {
    const d = dir('access');
    const logger = createLogger({ console: false, files: { dir: d, streams: { app: false } } });
    runWithRequestContext({ requestId: 'r-1' }, () => logger.info('in request'));
    await logger.close();
    expect(streamFiles(d, 'app')).toEqual([]);
    expect(readdirSync(d)).toContain('access.log');
  });

  it('close() is idempotent and later lines are reported once, not thrown', async () => {
    const d = dir('after-close');
    const errors: Error[] = [];
    const logger = createLogger({
      console: false,
      files: { dir: d },
      onInternalError: (e) => errors.push(e),
    });
    logger.info('before');
    await Promise.all([logger.close(), logger.close()]);
    logger.info('after 1');
    logger.info('after 2');
    await new Promise((r) => setTimeout(r, 20));
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toMatch(/^@shipshape\/logger: logger failed: write after end/);
    expect(readStream(d, 'app').map((l) => l.message)).toEqual(['before']);
  });
});

describe('await close() at the end of a script', () => {
  it('keeps the process alive until every line is on disk (child process)', async () => {
    const d = dir('script');
    const entry = new URL('../dist/index.js', import.meta.url).href;
    const script = `
      import { createLogger } from ${JSON.stringify(entry)};
      const logger = createLogger({ console: false, files: { dir: process.argv[1], maxSize: '16k', maxFiles: 500 } });
      for (let i = 0; i < 5000; i++) logger.info('s', { i, pad: 'q'.repeat(100) });
      await logger.close();
      process.stdout.write('closed');
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, d], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => {
      out += c;
    });
    child.stderr.on('data', (c) => {
      err += c;
    });
    const [code] = await once(child, 'exit');
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toBe('closed');
    expect(sequence(readStream(d, 'app'), 's')).toEqual(Array.from({ length: 5000 }, (_, i) => i));
  });
});

describe('runtime failures are reported once and never crash', () => {
  it('the log directory replaced by a file: rotation fails, reported once, close() still resolves', async () => {
    const base = dir('broken');
    const d = join(base, 'logs');
    const errors: Error[] = [];
    const logger = createLogger({
      console: false,
      files: { dir: d, maxSize: '1k', maxFiles: 100, zippedArchive: false },
      onInternalError: (e) => errors.push(e),
    });
    for (let i = 0; i < 5; i++) logger.info('ok', { i, padding });
    await logger.flush();
    renameSync(d, join(base, 'moved'));
    writeFileSync(d, 'not a directory');
    for (let i = 0; i < 200; i++) logger.info('lost', { i, padding });
    await logger.close();
    const appErrors = errors.filter((e) => e.message.includes('app log file'));
    expect(appErrors).toHaveLength(1);
    expect(appErrors[0]?.message).toMatch(
      /^@shipshape\/logger: app log file failed: .*(ENOTDIR|ENOENT).*\(further errors from it are not reported\)/,
    );
    expect(readStream(join(base, 'moved'), 'app').length).toBeGreaterThanOrEqual(5);
  });

  it('a transport that emits errors at runtime: reported once, other transports keep working', async () => {
    const d = dir('bad-transport');
    const errors: Error[] = [];
    class Failing extends Transport {
      override log(_info: unknown, callback: () => void) {
        this.emit(
          'error',
          Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }),
        );
        callback();
      }
    }
    const logger = createLogger({
      console: false,
      files: { dir: d },
      transports: [new Failing()],
      onInternalError: (e) => errors.push(e),
    });
    for (let i = 0; i < 50; i++) logger.info('still written', { i });
    await logger.close();
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toContain('ENOSPC');
    expect(readStream(d, 'app')).toHaveLength(50);
  });

  it('by default the report goes to stderr, once', async () => {
    const d = dir('stderr');
    const written: string[] = [];
    const original = process.stderr.write;
    process.stderr.write = ((chunk: string) => {
      written.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    try {
      class Failing extends Transport {
        override log(_info: unknown, callback: () => void) {
          this.emit('error', new Error('transport down'));
          callback();
        }
      }
      const logger = createLogger({
        console: false,
        files: { dir: d },
        transports: [new Failing()],
      });
      logger.info('a');
      logger.info('b');
      await logger.close();
    } finally {
      process.stderr.write = original;
    }
    expect(written.filter((w) => w.includes('transport down'))).toHaveLength(1);
  });
});
