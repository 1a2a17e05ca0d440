// part 1: headers, rate limits, proxy, IP filter, CORS, trusted hosts, CSRF
export type { CorsMiddleware, CorsOptions } from './cors.js';
export { cors } from './cors.js';
export type { CsrfCookieOptions, CsrfMiddleware, CsrfOptions } from './csrf.js';
export { csrf } from './csrf.js';
export type {
  CspDirectives,
  HstsOptions,
  SecurityHeadersMiddleware,
  SecurityHeadersOptions,
} from './headers.js';
export { DEFAULT_PERMISSIONS_POLICY, securityHeaders } from './headers.js';
export type {
  AutoBlockOptions,
  IpFilterMiddleware,
  IpFilterOptions,
} from './ip-filter.js';
export { ipFilter } from './ip-filter.js';
export type { IpBlock, IpBlockStore, RedisIpStoreOptions } from './ip-store.js';
export { memoryIpStore, redisIpStore } from './ip-store.js';
export type { AppSettings, TrustProxySetting } from './proxy.js';
export { assertSafeTrustProxy, trustProxy } from './proxy.js';
export type {
  LimitHitSink,
  RateLimitMiddleware,
  RateLimitOptions,
  RateLimitStore,
  RedisRateLimitStoreOptions,
} from './rate-limit.js';
export { rateLimit, redisRateLimitStore } from './rate-limit.js';
export type {
  ParsedHost,
  TrustedHostsMiddleware,
  TrustedHostsOptions,
} from './trusted-hosts.js';
export { effectiveHost, parseHost, trustedHosts } from './trusted-hosts.js';
export type {
  MetricsRegistry,
  RedisCommandClient,
  SecurityEventName,
  SecurityLogger,
} from './types.js';
export { emitSecurityEvent } from './types.js';
export type { SecurityWarningCode, WarningsOption } from './warnings.js';
// end part 1
