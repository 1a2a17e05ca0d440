import express4 from 'express4';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { describeEachExpress } from '../../../test/helpers/index.js';
import {
  type AvailabilityState,
  createHealth,
  type Health,
  type HealthLogger,
  type HealthStateTarget,
} from '../src/index.js';
import {
  expectHealthy,
  expectNotReady,
  expectReady,
  fakeCheck,
  metricValue,
} from '../src/testing.js';

describeEachExpress('@shipshape/health/testing', (express) => {
  const opened: Health[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((h) => h.close()));
  });

  function app(h: Health) {
    opened.push(h);
    const a = express();
    a.use(h.router());
    a.use(h.httpMetrics());
    a.get('/users/:id', (_req, res) => {
      res.send('u');
    });
    return a;
  }

  it('expectReady / expectNotReady / expectHealthy follow the real probes', async () => {
    const db = fakeCheck('db');
    const h = createHealth({ checks: [db], cacheTtlMs: 0 });
    const a = app(h);
    await expectNotReady(a);
    await expect(expectReady(a)).rejects.toThrow(
      '@shipshape/health/testing: expected ready (GET /health/ready → 200), got 503: {"status":"fail","state":"starting","checks":{"db":"pass"}}',
    );
    h.markReady();
    const ready = await expectReady(a);
    expect(ready.body).toEqual({ status: 'pass', state: 'ready', checks: { db: 'pass' } });
    await expectHealthy(a);
    await expect(expectNotReady(a)).rejects.toThrow('expected not ready');
    db.fail();
    await expectNotReady(a);
    await expect(expectHealthy(a)).rejects.toThrow('expected healthy (GET /health → 200), got 503');
  });

  it('fakeCheck counts calls and can hang, throw or return garbage', async () => {
    const fake = fakeCheck('fake', { timeoutMs: 50, critical: false, probes: ['liveness'] });
    const h = createHealth({ checks: [fake], cacheTtlMs: 0 });
    opened.push(h);
    fake.hang();
    expect((await h.report('liveness')).checks[0]?.output).toBe('timed out after 50 ms');
    fake.throws(new Error('nope'));
    expect((await h.report('liveness')).checks[0]?.output).toBe('nope');
    fake.returns(7);
    expect((await h.report('liveness')).checks[0]?.status).toBe('fail');
    fake.warn('meh');
    expect((await h.report('liveness')).checks[0]).toMatchObject({ status: 'warn', output: 'meh' });
    expect(fake.calls).toBe(4);
  });

  it('metricValue reads one series (or the sum of matching series)', async () => {
    const h = createHealth({ defaultMetrics: false, processMetrics: false });
    const a = app(h);
    h.markReady();
    const { probe } = await import('../src/testing.js');
    await probe(a, '/users/1');
    await probe(a, '/users/2');
    await probe(a, '/missing');
    expect(await metricValue(h.registry, 'http_requests_total', { route: '/users/:id' })).toBe(2);
    expect(await metricValue(h.registry, 'http_requests_total')).toBe(3);
    expect(
      await metricValue(h.registry, 'http_request_duration_seconds_count', { route: '/users/:id' }),
    ).toBe(2);
    expect(await metricValue(h.registry, 'no_such_metric')).toBeUndefined();
    expect(
      await metricValue(h.registry, 'http_requests_total', { route: '/nope' }),
    ).toBeUndefined();
  });
});

describe('public types', () => {
  it('Health satisfies the structural health target lifecycle accepts', () => {
    expectTypeOf<Health>().toExtend<HealthStateTarget>();
    expectTypeOf<HealthStateTarget['setState']>().parameter(0).toEqualTypeOf<AvailabilityState>();
  });

  it('console-like and winston-like loggers satisfy HealthLogger', () => {
    expectTypeOf(console).toExtend<HealthLogger>();
    type WinstonLike = {
      info(message: string, ...meta: unknown[]): WinstonLike;
      warn(message: string, ...meta: unknown[]): WinstonLike;
      error(message: string, ...meta: unknown[]): WinstonLike;
      debug(message: string, ...meta: unknown[]): WinstonLike;
    };
    expectTypeOf<WinstonLike>().toExtend<HealthLogger>();
  });

  it('an Express 4 app is accepted by the testing helpers', () => {
    expectTypeOf(express4()).toExtend<Parameters<typeof expectReady>[0]>();
  });
});
