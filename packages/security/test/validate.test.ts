import type { Express, Request, Response } from 'express';
import Joi from 'joi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachExpress, type Listening, listen } from '../../../test/helpers/index.js';
import { errorHandler, jsonBody, validate, validated } from '../src/index.js';
import { recordingLogger } from './helpers/raw.js';

describeEachExpress('validate', (express) => {
  let server: Listening;
  const logger = recordingLogger();

  beforeAll(async () => {
    const app: Express = express();
    app.use(jsonBody());
    app.post(
      '/users/:id',
      validate(
        {
          params: Joi.object({ id: Joi.number().integer().positive().required() }),
          query: Joi.object({
            page: Joi.number().integer().min(1).default(1),
            q: Joi.string().max(20),
          }),
          headers: Joi.object({ 'x-tenant': Joi.string().valid('acme', 'globex').required() }),
          body: Joi.object({
            email: Joi.string().email().required(),
            age: Joi.number().integer().min(18),
            password: Joi.string().min(8),
          }),
        },
        { logger },
      ),
      (req: Request, res: Response) => {
        res.json({
          params: req.params,
          query: req.query,
          body: req.body,
          validated: validated(req),
          typeOfId: typeof req.params.id,
        });
      },
    );
    app.get(
      '/strict',
      validate(
        { query: Joi.object({ a: Joi.string() }) },
        { stripUnknown: false, onError: 'respond' },
      ),
      (req: Request, res: Response) => {
        res.json({ query: req.query });
      },
    );
    app.use(errorHandler({ production: true }));
    server = await listen(app);
  });
  afterAll(() => server.close());

  const call = async (path: string, body: unknown, tenant = 'acme') => {
    const res = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-tenant': tenant },
      body: JSON.stringify(body),
    });
    return {
      status: res.status,
      type: res.headers.get('content-type'),
      json: (await res.json()) as Record<string, unknown>,
    };
  };

  it('converts, applies defaults and strips unknown keys; req.query works under Express 4 and 5', async () => {
    const res = await call('/users/42?page=3&extra=1', {
      email: 'ada@example.com',
      age: '37',
      isAdmin: true,
    });
    expect(res.status).toBe(200);
    expect(res.json.params).toEqual({ id: 42 });
    expect(res.json.typeOfId).toBe('number');
    expect(res.json.query).toEqual({ page: 3 });
    expect(res.json.body).toEqual({ email: 'ada@example.com', age: 37 });
    expect(res.json.validated).toMatchObject({ query: { page: 3 }, params: { id: 42 } });
    expect((res.json.validated as { headers: Record<string, unknown> }).headers['x-tenant']).toBe(
      'acme',
    );
  });

  it('400 problem+json lists each failing field with rule and message', async () => {
    const res = await call(
      '/users/abc?page=0',
      { email: 'not-an-email', age: 12, password: 'hunter2' },
      'evil',
    );
    expect(res.status).toBe(400);
    expect(res.type).toMatch(/^application\/problem\+json/);
    expect(res.json.code).toBe('VALIDATION_FAILED');
    const errors = res.json.errors as { field: string; rule: string; message: string }[];
    expect(errors.map((e) => [e.field, e.rule])).toEqual([
      ['params.id', 'number.base'],
      ['query.page', 'number.min'],
      ['headers.x-tenant', 'any.only'],
      ['body.email', 'string.email'],
      ['body.age', 'number.min'],
      ['body.password', 'string.min'],
    ]);
    for (const e of errors) expect(e.message.length).toBeGreaterThan(5);
  });

  it('emits validation_failed with field names only, never values', async () => {
    await call('/users/1', { email: 'x', password: 'hunter2' });
    const event = logger.events('validation_failed').at(-1);
    expect(event?.meta).toMatchObject({
      fields: ['body.email', 'body.password'],
      method: 'POST',
      path: '/users/1',
    });
    expect(JSON.stringify(event?.meta)).not.toContain('hunter2');
  });

  it('stripUnknown: false rejects unknown keys; onError respond answers directly', async () => {
    const res = await fetch(`${server.url}/strict?a=1&b=2`);
    expect(res.status).toBe(400);
    const json = (await res.json()) as { errors: { field: string; rule: string }[] };
    expect(json.errors).toEqual([
      expect.objectContaining({ field: 'query.b', rule: 'object.unknown' }),
    ]);
    const ok = await fetch(`${server.url}/strict?a=1`);
    expect(await ok.json()).toEqual({ query: { a: '1' } });
  });
});

describe('validate options', () => {
  it('throws at factory time for missing or non-joi schemas and unknown parts', () => {
    expect(() => validate({})).toThrow(/needs at least one schema/);
    expect(() => validate({ body: { email: 'string' } as unknown as Joi.Schema })).toThrow(
      /"body" must be a joi schema/,
    );
    expect(() => validate({ cookies: Joi.object() } as unknown as { body: Joi.Schema })).toThrow(
      /got "cookies"/,
    );
    expect(() => validate({ body: Joi.object() }, { onError: 'throw' as 'next' })).toThrow(
      /"onError" must be 'next' or 'respond', got "throw"/,
    );
  });
});
