// part 1: headers, rate limits, proxy, IP filter, CORS, trusted hosts, CSRF
export type { CorsMiddleware, CorsOptions } from './cors.js';
export { cors } from './cors.js';
export type {
  CsrfCookieOptions,
  CsrfMiddleware,
  CsrfOptions,
  CsrfTokenFunction,
} from './csrf.js';
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

// part 2: validation, safe bodies, upload guard, threat monitor, csvSafe, problem+json errors
export type { JsonBodyOptions, UrlencodedBodyOptions } from './body.js';
export { jsonBody, urlencodedBody } from './body.js';
export type { CsvSafeOptions } from './csv-safe.js';
export { csvSafe } from './csv-safe.js';
export type { ErrorHandlerOptions, NotFoundOptions } from './error-handler.js';
export { errorHandler, notFound, toSecurityError } from './error-handler.js';
export type { ProblemDetails, ProblemFieldError, SecurityErrorInit } from './problem.js';
export { SecurityError, sendProblem } from './problem.js';
export type { ThreatLocation, ThreatMonitorOptions, ThreatRule } from './threat-monitor.js';
export { matchThreats, threatMonitor } from './threat-monitor.js';
export type {
  UploadContentCheck,
  UploadedFile,
  UploadFileType,
  UploadFileTypeName,
  UploadGuardOptions,
} from './upload.js';
export { uploadedFiles, uploadFileTypes, uploadGuard } from './upload.js';
export type { ValidatedValues, ValidateOptions, ValidateSchemas } from './validate.js';
export { validate, validated } from './validate.js';
// end part 2

// authentication and roles (issue 19)
export type {
  ApiKeysOptions,
  AuditLogOptions,
  AuthenticateOptions,
  Authenticator,
  AuthThrottleOptions,
  CookieSessions,
  CookieSessionsOptions,
  CreateApiKeyOptions,
  GuardHealthOptions,
  JwtBearerOptions,
  MemoryKeyStore,
  RedisSessionStoreOptions,
} from './auth/index.js';
export {
  apiKeyId,
  apiKeys,
  auditLog,
  authenticate,
  bearerToken,
  cookieSessions,
  createApiKey,
  guardHealth,
  hashApiKey,
  jwtBearer,
  memoryKeyStore,
  memorySessionStore,
  principalOf,
  redisSessionStore,
  requireRole,
} from './auth/index.js';
export type {
  ApiKeyStore,
  CredentialCheck,
  CredentialSource,
  Principal,
  PrincipalInit,
  SessionRecord,
  SessionStore,
  StoredApiKey,
} from './types.js';
// end authentication
