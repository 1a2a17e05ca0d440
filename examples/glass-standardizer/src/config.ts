import {
  bool,
  bytes,
  type Config,
  duration,
  enums,
  host,
  int,
  list,
  num,
  port,
  str,
  url,
} from '@shipshape/config';

/** Every setting of the service, in one schema: it also generates `.env.example`. */
export const schema = {
  PORT: port({ default: 3000, description: 'HTTP port the service listens on.' }),
  HOST: host({
    default: '0.0.0.0',
    devDefault: '127.0.0.1',
    description: 'Interface to listen on.',
  }),
  DATA_DIR: str({
    default: './data',
    description: 'SQLite database and stored uploads live here (outside any static root).',
  }),
  LOG_DIR: str({ default: './logs', description: 'Rotated app, error, security and access logs.' }),
  LOG_LEVEL: enums(['error', 'warn', 'info', 'debug'] as const, {
    default: 'info',
    description: 'Lowest level written.',
  }),
  UPLOAD_MAX_BYTES: bytes({
    default: 100 * 1024 * 1024,
    example: '100mb',
    description: 'Largest accepted upload.',
  }),
  DATA_DIR_MIN_FREE: bytes({
    default: 100 * 1024 * 1024,
    example: '1gb',
    description:
      "Free space DATA_DIR's filesystem must keep: below it readiness fails and uploads are refused with 507.",
  }),
  ORPHAN_UPLOAD_GRACE_MS: int({
    default: 120_000,
    min: 0,
    description:
      'Stored uploads no dataset refers to (a transfer cut by a crash) are deleted once unmodified this long, at start and every minute; keep it above the upload idle timeout (30 s) when instances share DATA_DIR, 0 is safe with one instance per DATA_DIR.',
  }),
  REDIS_URL: url({
    optional: true,
    secret: true,
    protocols: ['redis', 'rediss'],
    example: 'redis://127.0.0.1:6379',
    description: 'When set, rate limits, IP blocks and the cache are shared through Redis.',
  }),
  DATABASE_URL: url({
    optional: true,
    secret: true,
    protocols: ['postgres', 'postgresql'],
    example: 'postgres://user:password@127.0.0.1:5432/glass',
    description: 'When set, datasets are stored in PostgreSQL instead of SQLite.',
  }),
  DATABASE_SCHEMA: str({
    default: 'public',
    description: 'PostgreSQL schema holding the tables (created when missing).',
  }),
  REDIS_PREFIX: str({
    default: 'glass:',
    description:
      'Prefix of every Redis key and channel, so several deployments can share a server.',
  }),
  CORS_ORIGINS: list(str(), {
    default: [],
    example: 'https://dashboard.example.org',
    description: 'Browser origins allowed to call the API (comma separated); empty = CORS off.',
  }),
  TRUST_PROXY: str({
    optional: true,
    example: '1',
    description: "Proxy hops to trust for client IPs: a hop count, 'loopback' or CIDR list.",
  }),
  EPISODE_DAYS: int({
    default: 365,
    min: 1,
    description: 'Episode length of the first-isolate rule.',
  }),
  ORIGIN_HOSPITAL_DAYS: int({
    default: 2,
    min: 0,
    description: 'Specimen taken more days than this after admission → hospital origin.',
  }),
  MIN_ISOLATES: int({
    default: 30,
    min: 1,
    description: 'Below this many tested isolates a percentage is not reported.',
  }),
  DRAIN_TIMEOUT_MS: int({
    default: 25_000,
    min: 0,
    description:
      'On SIGTERM: longest wait for requests and dataset processing; a dataset still running is then interrupted (re-processed at the next start).',
  }),
  READINESS_DELAY_MS: int({
    optional: true,
    min: 0,
    example: '5000',
    description:
      'On SIGTERM: time readiness answers 503 before the server stops accepting (unset: 5000 in production, 0 otherwise).',
  }),
  ADMIN_TOKEN: str({
    optional: true,
    secret: true,
    minLength: 24,
    description:
      'Admin API key (role admin), sent as `Authorization: Bearer`; also signs in to the console. Required in staging and production unless API_KEYS or OIDC gives an admin; in development an unset one is replaced by a generated local admin key, printed once.',
  }),
  API_KEYS: list(str(), {
    default: [],
    example:
      'glass_3fa9c1d2:analyst:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
    description:
      'More API keys, stored hashed: comma-separated `<key id>:<role>:<sha256 hex of the key>` entries (print one with `glass-standardizer-keys hash <key>`); roles: viewer, analyst, uploader, admin.',
  }),
  SESSION_SECRET: str({
    optional: true,
    secret: true,
    minLength: 32,
    description:
      'Signs console session cookies and CSRF tokens (at least 32 random characters; give every instance the same). Unset: a random one kept in DATA_DIR/auth/session.secret.',
  }),
  SESSION_IDLE_TIMEOUT: duration({
    default: 30 * 60_000,
    description: 'A console session unused this long ends.',
  }),
  SESSION_ABSOLUTE_TIMEOUT: duration({
    default: 12 * 3_600_000,
    description: 'A console session ends this long after sign-in, however active.',
  }),
  OIDC_ISSUER: url({
    optional: true,
    example: 'https://idp.example.org/realms/glass',
    description:
      'OIDC/JWT mode: bearer tokens whose `iss` is this are verified against OIDC_JWKS_URL (set both, and OIDC_AUDIENCE).',
  }),
  OIDC_JWKS_URL: url({
    optional: true,
    protocols: ['https', 'http'],
    example: 'https://idp.example.org/realms/glass/protocol/openid-connect/certs',
    description:
      "The identity provider's JWKS endpoint (signing keys; fetched, cached and rotated).",
  }),
  OIDC_AUDIENCE: str({
    optional: true,
    example: 'glass-api',
    description: 'Expected `aud` of the tokens (this API).',
  }),
  OIDC_ROLES_CLAIM: str({
    default: 'roles',
    example: 'realm_access.roles',
    description:
      'Claim (dotted path) listing the roles: viewer, analyst, uploader, admin, or glass-<role>.',
  }),
  OIDC_CLOCK_TOLERANCE: duration({
    default: 30_000,
    description: 'Clock skew tolerated on token exp/nbf/iat.',
  }),
  AUTH_FAILURE_LIMIT: int({
    default: 10,
    min: 1,
    description:
      'Failed sign-ins or key uses per client and per account within AUTH_FAILURE_WINDOW before they are refused (429).',
  }),
  AUTH_FAILURE_WINDOW: duration({
    default: 15 * 60_000,
    description: 'Window (and lockout) of AUTH_FAILURE_LIMIT.',
  }),
  METRICS_TOKEN: str({
    optional: true,
    secret: true,
    minLength: 16,
    description:
      'Bearer token a Prometheus scraper sends for /metrics. In production /metrics answers only this token and admin keys (unless METRICS_PUBLIC).',
  }),
  METRICS_PUBLIC: bool({
    default: false,
    description:
      'Leave /metrics open in production (a network policy guards it instead); logs SHIPSHAPE_SECURITY_METRICS_OPEN at start.',
  }),
  RATE_LIMIT_API: int({
    default: 100,
    min: 1,
    description: 'API requests per client per RATE_LIMIT_WINDOW.',
  }),
  RATE_LIMIT_UPLOADS: int({
    default: 10,
    min: 1,
    description: 'Uploads per client per RATE_LIMIT_WINDOW.',
  }),
  RATE_LIMIT_WINDOW: duration({ default: 60_000, description: 'Window of the rate limits.' }),
  IP_AUTOBLOCK_HITS: int({
    default: 5,
    min: 0,
    description:
      'Rate-limit, sign-in-throttle or threat hits within IP_AUTOBLOCK_WINDOW that block a client for IP_AUTOBLOCK_DURATION; 0 turns auto-block off.',
  }),
  IP_AUTOBLOCK_WINDOW: duration({
    default: 10 * 60_000,
    description: 'Window of IP_AUTOBLOCK_HITS.',
  }),
  IP_AUTOBLOCK_DURATION: duration({
    default: 15 * 60_000,
    description: 'How long an auto-blocked client is refused (403 IP_BLOCKED).',
  }),
  THREAT_MODE: enums(['monitor', 'block'] as const, {
    default: 'monitor',
    description: 'threatMonitor: log suspicious input, or also refuse it (400).',
  }),
  HEALTH_CHECK_INTERVAL: duration({
    default: 30_000,
    description:
      'Background health checks run this often (probes read their results); 0 = only on request.',
  }),
  ALERT_RESPONSE_TIME_MS: int({
    default: 2000,
    min: 1,
    description: 'Alert when the p95 response time stays above this (ms).',
  }),
  ALERT_MEMORY: bytes({
    default: 2 * 1024 ** 3,
    example: '2gb',
    description: 'Alert when the resident memory stays above this.',
  }),
  ALERT_CPU_PERCENT: num({
    default: 80,
    min: 1,
    description: 'Alert when process CPU stays above this percentage.',
  }),
  ALERT_ERROR_RATE: num({
    default: 0.01,
    min: 0,
    max: 1,
    description: 'Alert when the share of 5xx answers stays above this (0.01 = 1 %).',
  }),
  ALERT_FOR: duration({
    default: 60_000,
    description:
      'How long a value must stay past its threshold before the alert fires (and below it to resolve).',
  }),
  ALERT_WEBHOOK_URL: url({
    optional: true,
    secret: true,
    protocols: ['https', 'http'],
    description: 'Firing and resolved alerts are also POSTed here as JSON.',
  }),
};

export type GlassConfig = Config<typeof schema>;
