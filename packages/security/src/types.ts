/**
 * The logger shape every middleware of this package accepts. A winston logger (and
 * `@shipshape/logger`'s logger) satisfies it; `security` is used for security events when present.
 */
export interface SecurityLogger {
  info(message: string, meta?: Record<string, unknown>): unknown;
  warn(message: string, meta?: Record<string, unknown>): unknown;
  error(message: string, meta?: Record<string, unknown>): unknown;
  debug?(message: string, meta?: Record<string, unknown>): unknown;
  /** Dedicated channel for security events (`rate_limited`, `ip_blocked`, ...). */
  security?(event: string, details?: Record<string, unknown>): unknown;
}

/** Names of the security events this package emits. */
export type SecurityEventName =
  | 'rate_limited'
  | 'ip_blocked'
  | 'ip_auto_blocked'
  | 'csrf_rejected'
  | 'host_rejected'
  | 'cors_rejected'
  | 'auth_failed'
  | 'auth_throttled'
  | 'auth_forbidden'
  | 'signed_in'
  | 'signed_out'
  | 'data_access'
  | 'validation_failed'
  | 'body_rejected'
  | 'upload_rejected'
  | 'suspicious_input'
  | (string & {});

/**
 * Minimal prom-client `Registry` shape: what `new Counter({ registers: [registry] })` needs plus
 * a lookup so two factories sharing one registry reuse one metric instead of throwing.
 */
export interface MetricsRegistry {
  registerMetric(metric: never): void;
  getSingleMetric(name: string): unknown;
}

/**
 * Any Redis client through one function: node-redis v4+ `client.sendCommand(args)` satisfies it;
 * for ioredis pass `{ sendCommand: (args) => redis.call(args[0], ...args.slice(1)) }`.
 */
export interface RedisCommandClient {
  sendCommand(args: string[]): Promise<unknown>;
}

/** Events that record normal activity rather than something refused or suspicious. */
const INFO_EVENTS: ReadonlySet<string> = new Set(['signed_in', 'signed_out', 'data_access']);

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

/**
 * Without a logger, one JSON line per event on stderr (stdout is the app's), so refusals and
 * attacks are never silent: `{"time":…,"level":"warn","source":"@shipshape/security","event":…,"details":{…}}`.
 */
function writeDefaultEvent(event: string, details: Record<string, unknown>): void {
  // Details stay in their own object: theirs may be called `source` or `level` too.
  const line = {
    time: new Date().toISOString(),
    level: INFO_EVENTS.has(event) ? 'info' : 'warn',
    source: '@shipshape/security',
    event,
    details,
  };
  process.stderr.write(`${JSON.stringify(line, jsonSafe)}\n`);
}

/**
 * Emits a security event: `logger.security(event, details)` when the logger has that channel,
 * else `logger.warn(event, { event, ...details })`; without a logger, one JSON line on stderr.
 * A throwing logger (or stream) never breaks a request.
 */
export function emitSecurityEvent(
  logger: SecurityLogger | undefined,
  event: SecurityEventName,
  details: Record<string, unknown> = {},
): void {
  try {
    if (!logger) writeDefaultEvent(event, details);
    else if (typeof logger.security === 'function') logger.security(event, details);
    else logger.warn(event, { event, ...details });
  } catch {
    // Logging must never turn a rejected request into a crash.
  }
}

export type {
  ApiKeyStore,
  CredentialCheck,
  CredentialSource,
  Principal,
  PrincipalInit,
  SessionRecord,
  SessionStore,
  StoredApiKey,
} from './auth/types.js';
