// Authentication and roles: credential sources, sessions, requireRole, audit, health guard.
export type {
  AuditLogOptions,
  AuthenticateOptions,
  Authenticator,
  AuthThrottleOptions,
  GuardHealthOptions,
} from './authenticate.js';
export { auditLog, authenticate, guardHealth, requireRole } from './authenticate.js';
export { principalOf } from './context.js';
export type { JwtBearerOptions } from './jwt.js';
export { jwtBearer } from './jwt.js';
export type { ApiKeysOptions, CreateApiKeyOptions, MemoryKeyStore } from './keys.js';
export {
  apiKeyId,
  apiKeys,
  bearerToken,
  createApiKey,
  hashApiKey,
  memoryKeyStore,
} from './keys.js';
export type {
  CookieSessions,
  CookieSessionsOptions,
  RedisSessionStoreOptions,
} from './sessions.js';
export { cookieSessions, memorySessionStore, redisSessionStore } from './sessions.js';
