// Type-level proof of ARCHITECTURE.md's dependency rule: each package accepts small structural
// interfaces, and the concrete objects of its siblings (and of the clients we document) fit them.
import type {
  Cache,
  CacheCheckFunction,
  CacheLogger,
  RedisCommandClient as CacheRedisClient,
  RedisSubscriber,
} from '@shipshape/cache';
import type { Logger as ConfigLogger } from '@shipshape/config';
import type {
  CheckFunction,
  Health,
  HealthLogger,
  PostgresLike,
  RedisLike,
} from '@shipshape/health';
import type { HealthStateTarget, Lifecycle, LifecycleLogger } from '@shipshape/lifecycle';
import type { Logger } from '@shipshape/logger';
import type {
  MetricsRegistry,
  SecurityLogger,
  RedisCommandClient as SecurityRedisClient,
} from '@shipshape/security';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import type { createClient } from 'redis';
import { describe, expectTypeOf, it } from 'vitest';

type NodeRedis = ReturnType<typeof createClient>;

describe('structural interfaces between packages', () => {
  it("@shipshape/logger's Logger is accepted by every package that logs", () => {
    expectTypeOf<Logger>().toMatchTypeOf<SecurityLogger>();
    expectTypeOf<Logger>().toMatchTypeOf<HealthLogger>();
    expectTypeOf<Logger>().toMatchTypeOf<LifecycleLogger>();
    expectTypeOf<Logger>().toMatchTypeOf<CacheLogger>();
    expectTypeOf<Logger>().toMatchTypeOf<ConfigLogger>();
  });

  it("@shipshape/health's registry receives the lifecycle's state and the others' metrics", () => {
    expectTypeOf<Health>().toMatchTypeOf<HealthStateTarget>();
    expectTypeOf<Health['registry']>().toMatchTypeOf<MetricsRegistry>();
    expectTypeOf<Registry>().toMatchTypeOf<MetricsRegistry>();
    expectTypeOf<Parameters<Cache['metrics']>[0]>().toEqualTypeOf<Registry>();
  });

  it("@shipshape/cache's health check plugs into @shipshape/health", () => {
    expectTypeOf<CacheCheckFunction>().toMatchTypeOf<CheckFunction>();
    expectTypeOf<ReturnType<Cache['healthCheck']>>().toMatchTypeOf<CheckFunction>();
  });

  it("@shipshape/security's guardHealth() fits @shipshape/health's router options", () => {
    type HealthRouterOptions = import('@shipshape/health').RouterOptions;
    expectTypeOf<
      ReturnType<typeof import('@shipshape/security').guardHealth>
    >().toMatchTypeOf<HealthRouterOptions>();
  });

  it('the official redis client and pg pool fit every Redis/PostgreSQL shape', () => {
    expectTypeOf<NodeRedis>().toMatchTypeOf<SecurityRedisClient>();
    expectTypeOf<NodeRedis>().toMatchTypeOf<CacheRedisClient>();
    expectTypeOf<NodeRedis>().toMatchTypeOf<RedisSubscriber>();
    expectTypeOf<NodeRedis>().toMatchTypeOf<RedisLike>();
    expectTypeOf<pg.Pool>().toMatchTypeOf<PostgresLike>();
    expectTypeOf<pg.Client>().toMatchTypeOf<PostgresLike>();
  });

  it("the lifecycle's public object is what harden() hands back", () => {
    expectTypeOf<import('../src/index.js').HardenedService['lifecycle']>().toEqualTypeOf<
      Lifecycle | undefined
    >();
  });
});
