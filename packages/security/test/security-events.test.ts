import express from 'express';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { listen } from '../../../test/helpers/index.js';
import { cors } from '../src/cors.js';
import { ipFilter } from '../src/ip-filter.js';
import { rateLimit } from '../src/rate-limit.js';
import { emitSecurityEvent } from '../src/types.js';
import { captureLogger, send } from './helpers/http.js';

/** Everything written to stderr while a test runs (and still passed through). */
let written: string[] = [];
beforeEach(() => {
  written = [];
  const original = process.stderr.write.bind(process.stderr);
  vi.spyOn(process.stderr, 'write').mockImplementation(((chunk: string | Uint8Array) => {
    written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return original(chunk);
  }) as typeof process.stderr.write);
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** Our event lines among what was written to stderr. */
function eventLines(): Record<string, unknown>[] {
  return written
    .join('')
    .split('\n')
    .filter((line) => line.includes('"source":"@shipshape/security"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('security events without a logger', () => {
  it('go to stderr as one JSON line each: rate limit hit, IP block, CORS refusal', async () => {
    const blocks = ipFilter({ deny: ['10.9.9.9'] });
    const app = express();
    app.use('/blocked', (req, _res, next) => {
      Object.defineProperty(req, 'ip', { value: '10.9.9.9' });
      next();
    });
    app.use(blocks);
    app.use(cors({ origins: ['https://app.example.com'] }));
    app.use(rateLimit({ limit: 1, windowMs: 60_000 }));
    app.use((_req, res) => {
      res.json({ ok: true });
    });
    const server = await listen(app);
    try {
      expect((await send(`${server.url}/a`)).status).toBe(200);
      expect((await send(`${server.url}/a`)).status).toBe(429);
      expect((await send(`${server.url}/blocked`)).status).toBe(403);
      const refused = await send(`${server.url}/a`, {
        method: 'OPTIONS',
        headers: {
          origin: 'https://evil.example","level":"info',
          'access-control-request-method': 'PUT',
        },
      });
      expect(refused.status).toBe(403);
    } finally {
      await server.close();
    }
    const lines = eventLines();
    expect(lines.map((l) => l.event)).toEqual(['rate_limited', 'ip_blocked', 'cors_rejected']);
    for (const line of lines) {
      expect(line.level).toBe('warn');
      expect(Date.parse(String(line.time))).not.toBeNaN();
    }
    expect(lines[0]).toMatchObject({ event: 'rate_limited', details: { limiter: 'default' } });
    expect(lines[1]).toMatchObject({ event: 'ip_blocked', details: { ip: '10.9.9.9' } });
    // what an attacker sends stays inside its JSON string
    expect(lines[2]).toMatchObject({
      level: 'warn',
      details: { origin: 'https://evil.example","level":"info', preflight: true },
    });
    await blocks.close();
  });

  it('an injected logger receives them instead, and nothing goes to stderr', () => {
    const logger = captureLogger();
    emitSecurityEvent(logger, 'auth_failed', { reason: 'bad key' });
    const plain = captureLogger(false);
    emitSecurityEvent(plain, 'auth_failed', { reason: 'bad key' });
    expect(logger.entries).toEqual([
      { level: 'security', message: 'auth_failed', meta: { reason: 'bad key' } },
    ]);
    expect(plain.entries).toEqual([
      { level: 'warn', message: 'auth_failed', meta: { event: 'auth_failed', reason: 'bad key' } },
    ]);
    expect(eventLines()).toEqual([]);
  });

  it('activity events are info; details cannot overwrite our fields; odd values are safe', () => {
    emitSecurityEvent(undefined, 'signed_in', { principal: 'ada' });
    emitSecurityEvent(undefined, 'auth_failed', {
      event: 'something_else',
      source: 'jwt',
      level: 'debug',
      count: 10n,
      error: new Error('boom'),
    });
    expect(eventLines()).toEqual([
      expect.objectContaining({
        level: 'info',
        source: '@shipshape/security',
        event: 'signed_in',
        details: { principal: 'ada' },
      }),
      expect.objectContaining({
        level: 'warn',
        source: '@shipshape/security',
        event: 'auth_failed',
        details: {
          event: 'something_else',
          source: 'jwt',
          level: 'debug',
          count: '10',
          error: { name: 'Error', message: 'boom' },
        },
      }),
    ]);
  });
});
