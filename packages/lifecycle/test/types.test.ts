import type { RequestListener, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expectTypeOf, it } from 'vitest';
import type {
  HealthStateTarget,
  Lifecycle,
  LifecycleLogger,
  LifecycleOptions,
  LifecycleState,
  ShutdownReport,
} from '../src/index.js';
import type { TestServer } from '../src/testing.js';

describe('public types', () => {
  it('accepts console and winston-like loggers', () => {
    expectTypeOf(console).toExtend<LifecycleLogger>();
    const winstonLike = {
      info: (_m: string, _meta?: Record<string, unknown>) => winstonLike,
      warn: (_m: string, _meta?: Record<string, unknown>) => winstonLike,
      error: (_m: string, _meta?: Record<string, unknown>) => winstonLike,
      debug: (_m: string, _meta?: Record<string, unknown>) => winstonLike,
    };
    expectTypeOf(winstonLike).toExtend<LifecycleLogger>();
    expectTypeOf<{ info(m: string): void }>().not.toExtend<LifecycleLogger>();
  });

  it('takes any setState(state) as health', () => {
    expectTypeOf<{ setState(s: LifecycleState): void }>().toExtend<HealthStateTarget>();
    expectTypeOf<{ setState(s: string): Promise<void> }>().toExtend<HealthStateTarget>();
    expectTypeOf<LifecycleState>().toEqualTypeOf<'starting' | 'ready' | 'draining' | 'stopped'>();
  });

  it('has readonly, optional options and a typed API', () => {
    expectTypeOf<Record<never, never>>().toExtend<LifecycleOptions>();
    expectTypeOf<LifecycleOptions['server']>().toEqualTypeOf<Server | undefined>();
    expectTypeOf<LifecycleOptions['app']>().toEqualTypeOf<RequestListener | undefined>();
    expectTypeOf<Lifecycle['listen']>().returns.toEqualTypeOf<Promise<AddressInfo | undefined>>();
    expectTypeOf<Lifecycle['shutdown']>().returns.toEqualTypeOf<Promise<ShutdownReport>>();
    expectTypeOf<ShutdownReport['exitCode']>().toEqualTypeOf<0 | 1>();
    expectTypeOf<Lifecycle['task']>().toBeCallableWith('x', async (signal: AbortSignal) =>
      signal.aborted ? 1 : 2,
    );
    expectTypeOf<TestServer>().toHaveProperty('url').toEqualTypeOf<string>();
  });
});
