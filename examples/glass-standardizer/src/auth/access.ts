import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Authenticator,
  apiKeyId,
  apiKeys,
  authenticate,
  type CookieSessions,
  type CredentialSource,
  cookieSessions,
  guardHealth,
  hashApiKey,
  jwtBearer,
  type LimitHitSink,
  memoryKeyStore,
  type RedisCommandClient,
  redisIpStore,
  redisSessionStore,
  type SecurityLogger,
  type StoredApiKey,
} from '@shipshape/security';
import type { GlassConfig } from '../config.js';
import { type KeyFile, openKeyFile } from './key-file.js';
import { isRole, ROLE_INHERITANCE, ROLES } from './roles.js';

/** A setting that is valid on its own but not usable for authentication: exit 78 like the config report. */
export class AccessConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AccessConfigError';
  }
}

export interface AccessOptions {
  readonly config: GlassConfig;
  readonly dataDir: string;
  readonly redis?: RedisCommandClient;
  readonly logger: SecurityLogger;
  /** Fed with throttled clients (the IP auto-block). */
  readonly ipFilter?: LimitHitSink;
  /** Where a generated development admin key is shown (never the log files). @default stdout */
  readonly announce?: (text: string) => void;
}

export interface Access {
  readonly auth: Authenticator;
  readonly sessions: CookieSessions;
  readonly keyFile: KeyFile;
  /** Secret of the CSRF double-submit tokens (derived from the session secret). */
  readonly csrfSecret: string;
  /** `authorize` / `authorizeMetrics` for the health router. */
  readonly health: ReturnType<typeof guardHealth>;
  /** Whether an OIDC identity provider is configured. */
  readonly oidc: boolean;
  close(): Promise<void>;
}

const LOCAL_ADMIN = 'local admin (development)';

/** `<key id>:<role>:<sha256 hex>` entries of API_KEYS. */
function configuredKeys(config: GlassConfig): StoredApiKey[] {
  const out: StoredApiKey[] = [];
  for (const entry of config.API_KEYS) {
    const m =
      /^([a-z][a-z0-9]{0,15}_[0-9a-f]{8,16}|token_[0-9a-f]{12}):([a-z]+):(?:sha256:)?([0-9a-f]{64})$/.exec(
        entry,
      );
    if (!m || !isRole(m[2] as string))
      throw new AccessConfigError(
        `API_KEYS: expected "<key id>:<role>:<sha256 hex>" entries with a role of ${ROLES.join(', ')}, got "${entry.slice(0, 40)}${entry.length > 40 ? '…' : ''}"`,
      );
    out.push({
      id: m[1] as string,
      roles: [m[2] as string],
      hash: `sha256:${m[3]}`,
      name: m[1] as string,
    });
  }
  if (config.ADMIN_TOKEN)
    out.push({
      id: apiKeyId(config.ADMIN_TOKEN),
      hash: hashApiKey(config.ADMIN_TOKEN),
      roles: ['admin'],
      name: 'ADMIN_TOKEN',
    });
  return out;
}

/** SESSION_SECRET, or a random one kept (mode 0600) in DATA_DIR so sessions survive restarts. */
function sessionSecret(config: GlassConfig, dataDir: string): string {
  if (config.SESSION_SECRET) return config.SESSION_SECRET;
  const dir = join(dataDir, 'auth');
  const file = join(dir, 'session.secret');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, randomBytes(48).toString('base64url'), { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return readFileSync(file, 'utf8').trim();
}

/**
 * Who may do what: API keys (ADMIN_TOKEN, API_KEYS, the key file), OIDC bearer tokens, console
 * sessions, brute-force throttling, and the guard of /health/detailed and /metrics.
 */
export function createAccess(options: AccessOptions): Access {
  const { config, dataDir, redis, logger } = options;
  const production = config.NODE_ENV === 'production' || config.NODE_ENV === 'staging';
  const keyFile = openKeyFile(dataDir);
  const fromConfig = memoryKeyStore(configuredKeys(config));
  const keyStore = {
    get: (id: string) => fromConfig.get(id) ?? keyFile.get(id),
  };
  const sources: CredentialSource[] = [apiKeys({ store: keyStore })];

  const oidcSettings = [config.OIDC_ISSUER, config.OIDC_JWKS_URL, config.OIDC_AUDIENCE];
  const oidc = oidcSettings.some((v) => v !== undefined);
  if (oidc) {
    if (oidcSettings.some((v) => v === undefined))
      throw new AccessConfigError(
        'OIDC_ISSUER, OIDC_JWKS_URL and OIDC_AUDIENCE: set all three for the OIDC/JWT mode, or none',
      );
    const roleMap: Record<string, string> = {};
    for (const role of ROLES) {
      roleMap[role] = role;
      roleMap[`glass-${role}`] = role;
    }
    sources.push(
      jwtBearer({
        jwksUrl: config.OIDC_JWKS_URL as string,
        issuer: config.OIDC_ISSUER as string,
        audience: config.OIDC_AUDIENCE as string,
        roles: config.OIDC_ROLES_CLAIM,
        roleMap,
        clockToleranceSec: Math.round(config.OIDC_CLOCK_TOLERANCE / 1000),
      }),
    );
  }

  const admins = () =>
    fromConfig.list().some((k) => k.roles.includes('admin')) ||
    keyFile.list().some((k) => k.roles.includes('admin') && k.revokedAt === undefined);
  if (!admins() && !oidc) {
    if (config.NODE_ENV === 'development') {
      const { key } = keyFile.create('admin', LOCAL_ADMIN);
      (options.announce ?? ((text) => process.stdout.write(text)))(
        [
          '',
          '  glass-standardizer: generated a local admin key (shown once; only its hash is kept):',
          '',
          `      ${key}`,
          '',
          '  Sign in to the console with it, or send it as "Authorization: Bearer <key>".',
          `  It lives in ${keyFile.path}; glass-standardizer-keys creates and revokes keys.`,
          '',
          '',
        ].join('\n'),
      );
    } else if (config.NODE_ENV !== 'test') {
      throw new AccessConfigError(
        'ADMIN_TOKEN: required in staging and production (at least 24 characters), unless API_KEYS holds an admin key, glass-standardizer-keys created one, or OIDC_* is set',
      );
    }
  }

  const secret = sessionSecret(config, dataDir);
  const sessions = cookieSessions({
    secret,
    production,
    idleTimeoutMs: config.SESSION_IDLE_TIMEOUT,
    absoluteTimeoutMs: config.SESSION_ABSOLUTE_TIMEOUT,
    logger,
    ...(redis
      ? { store: redisSessionStore(redis, { prefix: `${config.REDIS_PREFIX}sess:` }) }
      : {}),
  });
  const auth = authenticate({
    sources,
    sessions,
    roleInheritance: ROLE_INHERITANCE,
    throttle: {
      limit: config.AUTH_FAILURE_LIMIT,
      windowMs: config.AUTH_FAILURE_WINDOW,
      ...(redis ? { store: redisIpStore(redis, { prefix: `${config.REDIS_PREFIX}auth:` }) } : {}),
    },
    realm: 'glass-standardizer',
    logger,
    production,
    ...(options.ipFilter ? { ipFilter: options.ipFilter } : {}),
  });
  const health = guardHealth({
    authenticator: auth,
    role: 'admin',
    scrapeTokens: config.METRICS_TOKEN ? [config.METRICS_TOKEN] : [],
    // Production: an admin key or the scraper's METRICS_TOKEN; open only when asked for (and
    // then with a coded warning).
    metrics: production && !config.METRICS_PUBLIC ? 'protected' : 'open',
    production,
    logger,
  });
  return {
    auth,
    sessions,
    keyFile,
    csrfSecret: createHmac('sha256', secret).update('glass csrf tokens').digest('hex'),
    health,
    oidc,
    async close() {
      await auth.close();
      await sessions.close();
    },
  };
}
