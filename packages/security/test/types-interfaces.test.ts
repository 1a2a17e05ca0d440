import type { RequestHandler } from 'express';
import type { Registry } from 'prom-client';
import type { createClient } from 'redis';
import { describe, expectTypeOf, it } from 'vitest';
import type { Logger as WinstonLogger } from 'winston';
import type { IpFilterMiddleware } from '../src/ip-filter.js';
import type { IpBlockStore } from '../src/ip-store.js';
import type { LimitHitSink, RateLimitMiddleware, RateLimitStore } from '../src/rate-limit.js';
import type { MetricsRegistry, RedisCommandClient, SecurityLogger } from '../src/types.js';

describe('structural interfaces accept the real implementations', () => {
  it('a winston logger is a SecurityLogger', () => {
    expectTypeOf<WinstonLogger>().toExtend<SecurityLogger>();
  });
  it('a prom-client Registry is a MetricsRegistry', () => {
    expectTypeOf<Registry>().toExtend<MetricsRegistry>();
  });
  it('a node-redis v6 client is a RedisCommandClient', () => {
    expectTypeOf<ReturnType<typeof createClient>>().toExtend<RedisCommandClient>();
  });
  it('an ipFilter() middleware can be fed by rateLimit()', () => {
    expectTypeOf<IpFilterMiddleware>().toExtend<LimitHitSink>();
    expectTypeOf<IpFilterMiddleware>().toExtend<RequestHandler>();
    expectTypeOf<RateLimitMiddleware>().toExtend<RequestHandler>();
  });
  it('stores are plain interfaces', () => {
    expectTypeOf<IpBlockStore['hit']>().returns.toEqualTypeOf<Promise<number> | number>();
    expectTypeOf<RateLimitStore['increment']>().parameter(0).toBeString();
  });
});
