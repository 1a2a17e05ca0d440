import { bytes, type Config, enums, host, int, list, port, str, url } from '@shipshape/config';

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
    secret: true,
    minLength: 24,
    devDefault: 'dev-only-admin-token-change-me-please',
    description: 'Bearer token for /health/detailed, /health/history and the admin routes.',
  }),
};

export type GlassConfig = Config<typeof schema>;
