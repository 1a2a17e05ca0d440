import express from 'express';
import Joi from 'joi';
import { afterEach, describe, expect, it } from 'vitest';
import * as security from '../src/index.js';
import type { RedisCommandClient } from '../src/types.js';
import { captureLogger } from './helpers/http.js';

/** A client that answers every command; nothing here reaches Redis. */
const client: RedisCommandClient = { sendCommand: async () => 'OK' };
const keys = security.memoryKeyStore();
const authenticator = () => security.authenticate({ sources: [security.apiKeys({ store: keys })] });

type Logger = ReturnType<typeof captureLogger>;

interface Row {
  /** Calls the factory with its minimal valid options plus `extra` (and `logger` where it takes one). */
  readonly make: (extra: Record<string, unknown>, logger: Logger) => unknown;
  /** Whether the factory has a `logger` option (else its warnings go to process.emitWarning). */
  readonly logs: boolean;
  /** Calls the factory with one invalid value… */
  readonly invalid: () => unknown;
  /** …which the error must name, shown as the message shows it. */
  readonly option: string;
  readonly shown: string;
}

const opts = <T>(value: Record<string, unknown>) => value as T;

/** Every exported factory that takes an options object. */
const factories: Record<string, Row> = {
  securityHeaders: {
    make: (extra, logger) => security.securityHeaders(opts({ logger, ...extra })),
    logs: true,
    invalid: () => security.securityHeaders({ cacheControl: '' }),
    option: 'cacheControl',
    shown: '""',
  },
  rateLimit: {
    make: (extra, logger) => security.rateLimit(opts({ logger, ...extra })),
    logs: true,
    invalid: () => security.rateLimit({ limit: 'abc' as never }),
    option: 'limit',
    shown: '"abc"',
  },
  'rateLimit.api': {
    make: (extra, logger) => security.rateLimit.api(opts({ logger, ...extra })),
    logs: true,
    invalid: () => security.rateLimit.api({ windowMs: -1 }),
    option: 'windowMs',
    shown: '-1',
  },
  redisRateLimitStore: {
    make: (extra) => security.redisRateLimitStore(client, opts(extra)),
    logs: false,
    invalid: () => security.redisRateLimitStore(client, { prefix: 5 as never }),
    option: 'prefix',
    shown: '5',
  },
  ipFilter: {
    make: (extra, logger) => security.ipFilter(opts({ logger, ...extra })),
    logs: true,
    invalid: () => security.ipFilter({ deny: ['not-an-ip'] }),
    option: 'deny',
    shown: '"not-an-ip"',
  },
  redisIpStore: {
    make: (extra) => security.redisIpStore(client, opts(extra)),
    logs: false,
    invalid: () => security.redisIpStore(client, { prefix: [] as never }),
    option: 'prefix',
    shown: '[]',
  },
  cors: {
    make: (extra, logger) =>
      security.cors(opts({ logger, origins: ['https://a.example'], ...extra })),
    logs: true,
    invalid: () => security.cors({ origins: ['https://a.example'], maxAge: -1 }),
    option: 'maxAge',
    shown: '-1',
  },
  trustedHosts: {
    make: (extra, logger) =>
      security.trustedHosts(opts({ logger, hosts: ['a.example'], ...extra })),
    logs: true,
    invalid: () => security.trustedHosts({ hosts: ['a.example'], status: 404 as never }),
    option: 'status',
    shown: '404',
  },
  csrf: {
    make: (extra, logger) => security.csrf(opts({ logger, ...extra })),
    logs: true,
    invalid: () => security.csrf({ token: 'sometimes' as never }),
    option: 'token',
    shown: '"sometimes"',
  },
  jsonBody: {
    make: (extra, logger) => security.jsonBody(opts({ logger, ...extra })),
    logs: true,
    invalid: () => security.jsonBody({ limit: 'lots' }),
    option: 'limit',
    shown: '"lots"',
  },
  urlencodedBody: {
    make: (extra, logger) => security.urlencodedBody(opts({ logger, ...extra })),
    logs: true,
    invalid: () => security.urlencodedBody({ parameterLimit: 0 }),
    option: 'parameterLimit',
    shown: '0',
  },
  validate: {
    make: (extra, logger) => security.validate({ body: Joi.object() }, opts({ logger, ...extra })),
    logs: true,
    invalid: () => security.validate({ body: Joi.object() }, { onError: 'throw' as never }),
    option: 'onError',
    shown: '"throw"',
  },
  uploadGuard: {
    make: (extra, logger) => security.uploadGuard(opts({ logger, dir: '/tmp/uploads', ...extra })),
    logs: true,
    invalid: () => security.uploadGuard({ dir: 'uploads' }),
    option: 'dir',
    shown: '"uploads"',
  },
  threatMonitor: {
    make: (extra, logger) => security.threatMonitor(opts({ logger, ...extra })),
    logs: true,
    invalid: () => security.threatMonitor({ mode: 'shout' as never }),
    option: 'mode',
    shown: '"shout"',
  },
  errorHandler: {
    make: (extra, logger) => security.errorHandler(opts({ logger, ...extra })),
    logs: true,
    invalid: () => security.errorHandler({ production: 'yes' as never }),
    option: 'production',
    shown: '"yes"',
  },
  notFound: {
    make: (extra) => security.notFound(opts(extra)),
    logs: false,
    invalid: () => security.notFound({ detail: 'yes' as never }),
    option: 'detail',
    shown: '"yes"',
  },
  authenticate: {
    make: (extra, logger) =>
      security.authenticate(
        opts({ logger, sources: [security.apiKeys({ store: keys })], ...extra }),
      ),
    logs: true,
    invalid: () => security.authenticate({ sources: [] }),
    option: 'sources',
    shown: '[]',
  },
  apiKeys: {
    make: (extra) => security.apiKeys(opts({ store: keys, ...extra })),
    logs: false,
    invalid: () => security.apiKeys({ store: keys, headers: ['cookie' as never] }),
    option: 'headers',
    shown: '["cookie"]',
  },
  jwtBearer: {
    make: (extra) =>
      security.jwtBearer(
        opts({
          jwksUrl: 'https://idp.example/jwks',
          issuer: 'https://idp.example',
          audience: 'api',
          ...extra,
        }),
      ),
    logs: false,
    invalid: () =>
      security.jwtBearer({
        jwksUrl: 'https://idp.example/jwks',
        issuer: 'https://idp.example',
        audience: 'api',
        algorithms: ['HS256'],
      }),
    option: 'algorithms',
    shown: '["HS256"]',
  },
  cookieSessions: {
    make: (extra, logger) =>
      security.cookieSessions(opts({ logger, secret: 's'.repeat(32), ...extra })),
    logs: true,
    invalid: () => security.cookieSessions({ secret: 'short' }),
    option: 'secret',
    shown: 'too short',
  },
  redisSessionStore: {
    make: (extra) => security.redisSessionStore(client, opts(extra)),
    logs: false,
    invalid: () => security.redisSessionStore(client, { prefix: 1 as never }),
    option: 'prefix',
    shown: '1',
  },
  createApiKey: {
    make: (extra) => security.createApiKey(opts({ roles: ['viewer'], ...extra })),
    logs: false,
    invalid: () => security.createApiKey({ roles: 'viewer' as never }),
    option: 'roles',
    shown: '"viewer"',
  },
  auditLog: {
    make: (extra, logger) => security.auditLog(opts({ logger, ...extra })),
    logs: true,
    invalid: () => security.auditLog({ logger: 'console' as never }),
    option: 'logger',
    shown: '"console"',
  },
  guardHealth: {
    make: (extra, logger) =>
      security.guardHealth(opts({ logger, authenticator: authenticator(), ...extra })),
    logs: true,
    invalid: () =>
      security.guardHealth({ authenticator: authenticator(), metrics: 'public' as never }),
    option: 'metrics',
    shown: '"public"',
  },
};

/** Option checks of functions that take a value rather than an options object. */
const otherInvalid: Record<string, [() => unknown, string, string]> = {
  trustProxy: [() => security.trustProxy(express(), -1 as never), 'trustProxy setting', '-1'],
  requireRole: [() => security.requireRole(''), 'requireRole', '""'],
};

const made: unknown[] = [];
afterEach(async () => {
  for (const value of made.splice(0)) await (value as { close?: () => unknown }).close?.call(value);
});

/** Coded warnings emitted through process.emitWarning while `run` runs (they arrive on a tick). */
async function processWarnings(
  run: () => void,
): Promise<{ code?: string | undefined; message: string }[]> {
  const seen: { code?: string | undefined; message: string }[] = [];
  const listener = (warning: Error & { code?: string }) => {
    seen.push({ code: warning.code, message: warning.message });
  };
  process.on('warning', listener);
  try {
    run();
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', listener);
  }
  return seen.filter((w) => w.code?.startsWith('SHIPSHAPE_SECURITY_') ?? false);
}

describe('one option policy across every factory', () => {
  it('the table covers every exported factory', () => {
    const exported = Object.entries(security)
      .filter(([, value]) => typeof value === 'function')
      .map(([name]) => name);
    // functions that are not factories taking options, or take no options object
    const notFactories = [
      'SecurityError',
      'assertSafeTrustProxy',
      'apiKeyId',
      'bearerToken',
      'csvSafe',
      'effectiveHost',
      'emitSecurityEvent',
      'hashApiKey',
      'matchThreats',
      'memoryIpStore',
      'memoryKeyStore',
      'memorySessionStore',
      'parseHost',
      'principalOf',
      'sendProblem',
      'toSecurityError',
      'uploadedFiles',
      'validated',
    ];
    const covered = new Set([
      ...Object.keys(factories).map((name) => name.split('.')[0]),
      ...Object.keys(otherInvalid),
      ...notFactories,
    ]);
    expect(exported.filter((name) => !covered.has(name))).toEqual([]);
  });

  for (const [name, row] of Object.entries(factories)) {
    const factory = name.split('.')[0] as string;
    it(`${name}: an unknown option is one SHIPSHAPE_SECURITY_UNKNOWN_OPTION warning`, async () => {
      const logger = captureLogger();
      const viaProcess = await processWarnings(() => {
        made.push(row.make({ bogusOption: 1, otherTypo: true }, logger));
      });
      const viaLogger = logger.entries
        .filter((e) => e.level === 'warn' && e.meta?.code !== undefined)
        .map((e) => ({ code: e.meta?.code as string, message: e.message }));
      // one channel: the logger when the factory takes one, else process warnings
      const [channel, other] = row.logs ? [viaLogger, viaProcess] : [viaProcess, viaLogger];
      expect(other).toEqual([]);
      expect(channel).toEqual([
        {
          code: 'SHIPSHAPE_SECURITY_UNKNOWN_OPTION',
          message: `@shipshape/security: ${factory} ignores unknown option(s) "bogusOption", "otherTypo"`,
        },
      ]);
    });

    it(`${name}: an invalid value is a TypeError with code SHIPSHAPE_SECURITY_INVALID_OPTION`, () => {
      let thrown: unknown;
      try {
        made.push(row.invalid());
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(TypeError);
      expect(thrown).toMatchObject({ code: 'SHIPSHAPE_SECURITY_INVALID_OPTION' });
      const message = (thrown as Error).message;
      expect(message.startsWith(`@shipshape/security: ${factory}`), message).toBe(true);
      expect(message).toContain(`"${row.option}"`);
      expect(message).toContain(row.shown);
    });
  }

  for (const [name, row] of Object.entries(factories)) {
    if (!row.logs) continue;
    const factory = name.split('.')[0] as string;
    it(`${name}: the shared options (logger, warnings, production…) are checked the same way`, () => {
      const logger = captureLogger();
      expect(() => row.make({ logger: console.log }, logger)).toThrow(
        expect.objectContaining({
          code: 'SHIPSHAPE_SECURITY_INVALID_OPTION',
          message: `@shipshape/security: ${factory} "logger" must be a logger with info, warn and error methods, got a function`,
        }),
      );
      if (factory === 'auditLog') return; // it has neither option
      expect(() => row.make({ production: 'yes', warnings: 'quiet' }, logger)).toThrow(
        expect.objectContaining({ code: 'SHIPSHAPE_SECURITY_INVALID_OPTION' }),
      );
    });
  }

  for (const [name, [call, where, shown]] of Object.entries(otherInvalid))
    it(`${name}: an invalid value is a TypeError with code SHIPSHAPE_SECURITY_INVALID_OPTION`, () => {
      expect(call).toThrow(
        expect.objectContaining({
          name: 'TypeError',
          code: 'SHIPSHAPE_SECURITY_INVALID_OPTION',
          message: expect.stringContaining(`@shipshape/security: ${where}`),
        }),
      );
      expect(call).toThrow(shown);
    });

  it('warnings: false silences the unknown-option warning; the error class is TypeError', async () => {
    const logger = captureLogger();
    const viaProcess = await processWarnings(() => {
      made.push(security.rateLimit(opts({ logger, warnings: false, bogusOption: 1 })));
    });
    expect([...viaProcess, ...logger.entries]).toEqual([]);
  });
});
