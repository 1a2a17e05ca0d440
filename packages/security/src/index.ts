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
export type { JsonBodyOptions, UrlencodedBodyOptions } from './body.js';
export { jsonBody, urlencodedBody } from './body.js';
export type {
  CorsMiddleware,
  CorsOptions,
  CorsOriginDecision,
  CorsOriginEntry,
  CorsOriginFunction,
} from './cors.js';
export { cors } from './cors.js';
export type {
  CsrfCookieOptions,
  CsrfMiddleware,
  CsrfOptions,
  CsrfTokenFunction,
} from './csrf.js';
export { csrf } from './csrf.js';
export type { CsvSafeOptions } from './csv-safe.js';
export { csvSafe } from './csv-safe.js';
export type { ErrorHandlerOptions, NotFoundOptions } from './error-handler.js';
export { errorHandler, notFound, toSecurityError } from './error-handler.js';
export type {
  CspDirectives,
  CspDirectiveValue,
  CspSourceFunction,
  HelmetCspOptions,
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
export type { SecurityOptionError } from './options.js';
export type { ProblemDetails, ProblemFieldError, SecurityErrorInit } from './problem.js';
export { SecurityError, sendProblem } from './problem.js';
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
export type { ThreatLocation, ThreatMonitorOptions, ThreatRule } from './threat-monitor.js';
export { matchThreats, threatMonitor } from './threat-monitor.js';
export type {
  ParsedHost,
  TrustedHostsMiddleware,
  TrustedHostsOptions,
} from './trusted-hosts.js';
export { effectiveHost, parseHost, trustedHosts } from './trusted-hosts.js';
export type {
  ApiKeyStore,
  CredentialCheck,
  CredentialSource,
  MetricsRegistry,
  Principal,
  PrincipalInit,
  RedisCommandClient,
  SecurityEventName,
  SecurityLogger,
  SessionRecord,
  SessionStore,
  StoredApiKey,
} from './types.js';
export { emitSecurityEvent } from './types.js';
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
export type { SecurityWarningCode, WarningsOption } from './warnings.js';
