import type { RequestHandler } from 'express';
import { describe, expectTypeOf, it } from 'vitest';
import type { Authenticator } from '../../src/auth/authenticate.js';
import { principalOf } from '../../src/auth/context.js';
import type { MemoryKeyStore } from '../../src/auth/keys.js';
import type { CookieSessions } from '../../src/auth/sessions.js';
import type {
  ApiKeyStore,
  CredentialSource,
  Principal,
  SessionStore,
} from '../../src/auth/types.js';
import type { IpBlockStore } from '../../src/ip-store.js';
import type { LimitHitSink } from '../../src/rate-limit.js';

describe('authentication types', () => {
  it('the authenticator and requireRole are Express middleware; sessions are a credential source', () => {
    expectTypeOf<Authenticator>().toExtend<RequestHandler>();
    expectTypeOf<CookieSessions>().toExtend<CredentialSource>();
    expectTypeOf<MemoryKeyStore>().toExtend<ApiKeyStore>();
  });
  it('the throttle takes any IpBlockStore and feeds any LimitHitSink (an ipFilter())', () => {
    type Throttle = Exclude<
      NonNullable<import('../../src/auth/authenticate.js').AuthenticateOptions['throttle']>,
      false
    >;
    expectTypeOf<IpBlockStore>().toExtend<NonNullable<Exclude<Throttle['store'], 'memory'>>>();
    expectTypeOf<import('../../src/ip-filter.js').IpFilterMiddleware>().toExtend<LimitHitSink>();
  });
  it('principalOf gives a fixed-shape Principal; session stores are plain interfaces', () => {
    expectTypeOf(principalOf).returns.toEqualTypeOf<Principal | undefined>();
    expectTypeOf<SessionStore['get']>().parameter(0).toBeString();
  });
});
