import type { Express, NextFunction, Request, Response } from 'express';
import Joi from 'joi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachExpress, type Listening, listen } from '../../../test/helpers/index.js';
import { errorHandler, notFound, SecurityError, toSecurityError } from '../src/index.js';
import { rawRequest, recordingLogger } from './helpers/raw.js';

/** Errors shaped like the ones other libraries pass to next(err). */
function withProps(message: string, props: Record<string, unknown>): Error {
  return Object.assign(new Error(message), props);
}

const thrown: Record<string, () => unknown> = {
  security: () =>
    new SecurityError({ status: 429, code: 'RATE_LIMITED', headers: { 'Retry-After': '7' } }),
  joi: () => Joi.object({ age: Joi.number().min(18) }).validate({ age: 3 }).error,
  bodyParserTooLarge: () =>
    withProps('request entity too large', { type: 'entity.too.large', status: 413 }),
  bodyParserSyntax: () =>
    withProps('Unexpected token } in JSON', { type: 'entity.parse.failed', status: 400 }),
  bodyParserCharset: () =>
    withProps('unsupported charset "UTF-7"', { type: 'charset.unsupported', status: 415 }),
  csrfToken: () => withProps('invalid csrf token', { code: 'EBADCSRFTOKEN', status: 403 }),
  crossOrigin: () => withProps('cross-origin request refused', { code: 'CROSS_ORIGIN_REQUEST' }),
  multer: () => withProps('File too large', { name: 'MulterError', code: 'LIMIT_FILE_SIZE' }),
  busboy: () => new Error('Unexpected end of form'),
  fastifyBusboy: () => new Error('Unexpected end of multipart data'),
  draining: () => withProps('server is shutting down', { status: 503 }),
  internal: () => new Error('database password is hunter2'),
  // A driver's error reaching the handler as it is (a table missing after a restore).
  driver: () =>
    withProps('relation "datasets" does not exist', { code: '42P01', severity: 'ERROR' }),
  refused: () => withProps('connect ECONNREFUSED 127.0.0.1:5432', { code: 'ECONNREFUSED' }),
  thrownString: () => 'a string was thrown',
};

describeEachExpress('errorHandler / notFound', (express, version) => {
  let prod: Listening;
  let dev: Listening;
  const logger = recordingLogger();

  const build = (production: boolean) => {
    const app: Express = express();
    app.use((_req: Request, res: Response, next: NextFunction) => {
      res.setHeader('X-Request-Id', 'req-123');
      next();
    });
    app.get('/throw/:kind', (req: Request) => {
      throw (thrown[req.params.kind as string] as () => unknown)();
    });
    const failAsync = async () => {
      await Promise.resolve();
      throw new Error('async failure with secret detail');
    };
    // Express 5 forwards rejected promises itself; Express 4 needs the explicit catch(next).
    if (version.major === 5) app.get('/async', failAsync);
    else
      app.get('/async', (_req: Request, _res: Response, next: NextFunction) => {
        failAsync().catch(next);
      });
    app.get('/partial', (_req: Request, res: Response, next: NextFunction) => {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '100' });
      res.write('first half');
      next(new Error('failed mid-response'));
    });
    app.use(notFound());
    app.use(errorHandler({ production, logger, exposeStack: true }));
    return app;
  };

  beforeAll(async () => {
    prod = await listen(build(true));
    dev = await listen(build(false));
  });
  afterAll(async () => {
    await prod.close();
    await dev.close();
  });

  const get = async (server: Listening, path: string) => {
    const res = await fetch(`${server.url}${path}`);
    return {
      status: res.status,
      headers: res.headers,
      body: (await res.json()) as Record<string, unknown>,
    };
  };

  const expected: [string, number, string][] = [
    ['security', 429, 'RATE_LIMITED'],
    ['joi', 400, 'VALIDATION_FAILED'],
    ['bodyParserTooLarge', 413, 'BODY_TOO_LARGE'],
    ['bodyParserSyntax', 400, 'INVALID_BODY'],
    ['bodyParserCharset', 415, 'UNSUPPORTED_CHARSET'],
    ['csrfToken', 403, 'EBADCSRFTOKEN'],
    ['crossOrigin', 403, 'CROSS_ORIGIN_REQUEST'],
    ['multer', 413, 'LIMIT_FILE_SIZE'],
    ['busboy', 400, 'MALFORMED_MULTIPART'],
    ['fastifyBusboy', 400, 'MALFORMED_MULTIPART'],
    ['draining', 503, 'SERVICE_UNAVAILABLE'],
    ['internal', 500, 'INTERNAL'],
    ['driver', 500, 'INTERNAL'],
    ['refused', 500, 'INTERNAL'],
    ['thrownString', 500, 'INTERNAL'],
  ];
  for (const [kind, status, code] of expected) {
    it(`maps ${kind} to ${status} ${code} as RFC 9457 problem+json`, async () => {
      const res = await get(prod, `/throw/${kind}`);
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({
        type: 'about:blank',
        status,
        code,
        instance: `/throw/${kind}`,
        requestId: 'req-123',
      });
      expect(typeof res.body.title).toBe('string');
    });
  }

  it('lists joi field errors in errors[]', async () => {
    const res = await get(prod, '/throw/joi');
    expect(res.body.errors).toEqual([
      { field: 'age', rule: 'number.min', message: '"age" must be greater than or equal to 18' },
    ]);
  });

  it('keeps SecurityError headers (Retry-After)', async () => {
    const res = await get(prod, '/throw/security');
    expect(res.headers.get('retry-after')).toBe('7');
  });

  it('production 5xx bodies carry no internal message or stack; the logger gets both', async () => {
    const before = logger.entries.filter((e) => e.level === 'error').length;
    const res = await get(prod, '/throw/internal');
    const text = JSON.stringify(res.body);
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('at ');
    expect(res.body.stack).toBeUndefined();
    expect(res.body.detail).toBeUndefined();
    const errors = logger.entries.filter((e) => e.level === 'error');
    expect(errors.length).toBe(before + 1);
    expect(errors.at(-1)?.meta).toMatchObject({
      status: 500,
      error: 'database password is hunter2',
      route: '/throw/:kind',
    });
    expect(String(errors.at(-1)?.meta?.stack)).toContain('Error: database password is hunter2');
  });

  it('a driver error code stays out of the answer, in production and outside it; the log has it', async () => {
    for (const server of [prod, dev]) {
      const res = await get(server, '/throw/driver');
      expect(res.body.code).toBe('INTERNAL');
      expect(JSON.stringify(res.body)).not.toContain('42P01');
    }
    const errors = logger.entries.filter((e) => e.level === 'error');
    expect(errors.at(-1)?.meta).toMatchObject({
      status: 500,
      code: 'INTERNAL',
      errorCode: '42P01',
    });
  });

  it('async handler rejections (Express 5) or next(err) reach the handler', async () => {
    const res = await fetch(`${prod.url}/async`);
    expect(res.status).toBe(500);
    expect(await res.text()).not.toContain('secret detail');
  });

  it('outside production a 5xx shows the message and (opt-in) the stack', async () => {
    const res = await get(dev, '/throw/internal');
    expect(res.body.detail).toBe('database password is hunter2');
    expect(String(res.body.stack)).toContain('Error: database password is hunter2');
  });

  it('notFound answers 404 problem+json naming the method and path', async () => {
    const res = await get(prod, '/nope?x=1');
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({
      code: 'NOT_FOUND',
      detail: 'No route for GET /nope',
      instance: '/nope',
    });
  });

  it('headers already sent: delegates to Express, which closes the socket (truncated body)', async () => {
    const res = await rawRequest(prod.port, 'GET /partial HTTP/1.1\r\nHost: x\r\n\r\n', {
      timeoutMs: 3000,
    });
    expect(res?.status).toBe(200);
    expect(res?.body).toBe('first half');
    // Express's default handler destroyed the socket: the client saw the close, not our timeout.
    expect(res?.endedBy).toBe('close');
    // The process still serves.
    expect((await get(prod, '/nope')).status).toBe(404);
  });
});

describe('toSecurityError / errorHandler options', () => {
  it('hides messages of 4xx errors marked expose: false', () => {
    const err = toSecurityError(withProps('internal auth detail', { status: 401, expose: false }));
    expect(err.status).toBe(401);
    expect(err.detail).toBe('Unauthorized');
  });

  it('throws for a non-boolean production option', () => {
    expect(() => errorHandler({ production: 'yes' as unknown as boolean })).toThrow(
      /errorHandler "production" must be a boolean, got "yes"/,
    );
  });
});
