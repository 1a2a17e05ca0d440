import type { IncomingMessage, ServerResponse } from 'node:http';
import type winston from 'winston';
import type Transport from 'winston-transport';

/** The npm levels winston uses by default, most severe first. */
export type LogLevel = 'error' | 'warn' | 'info' | 'http' | 'verbose' | 'debug' | 'silly';

/** Output format for the console transport. */
export type LogFormat = 'json' | 'pretty';

/** The streams a line can belong to; `app` is everything that is not access or security. */
export type LogStream = 'app' | 'access' | 'security';

/** Event names the shipshape packages write to the security stream (any other string is allowed). */
export type SecurityEventName =
  | 'rate_limited'
  | 'ip_blocked'
  | 'csrf_rejected'
  | 'upload_rejected'
  | 'validation_failed'
  | 'suspicious_input'
  | 'auth_failed'
  | 'config_changed'
  | (string & {});

/** Rotated files, one per stream, written under `dir`. */
export interface LogFilesOptions {
  /** Directory for the files; created if missing. It must be writable or `createLogger` throws. */
  readonly dir: string;
  /**
   * Which files to write.
   * @default { app: true, error: true, security: true, access: true }
   */
  readonly streams?: Readonly<Partial<Record<'app' | 'error' | 'security' | 'access', boolean>>>;
  /**
   * Rotate a file once it is larger than this: bytes, or a string such as `'10m'`, `'500k'`, `'1g'`.
   * @default '10m'
   */
  readonly maxSize?: number | string;
  /**
   * How many files of each stream to keep (the current one included); older ones are deleted.
   * @default 5
   */
  readonly maxFiles?: number;
  /**
   * Gzip rotated files (after the rotated-out file has been completely written).
   * @default true
   */
  readonly zippedArchive?: boolean;
  /**
   * moment.js date pattern in the file names (`app-2026-01-31.log`); a new file starts when it changes.
   * @default 'YYYY-MM-DD'
   */
  readonly datePattern?: string;
  /**
   * Use UTC for the date in file names.
   * @default true
   */
  readonly utc?: boolean;
}

/** Options of `createLogger`. Every option is optional. */
export interface LoggerOptions {
  /**
   * Minimum level written (to the console and `app.log`).
   * @default process.env.LOG_LEVEL ?? 'info'
   */
  readonly level?: LogLevel;
  /**
   * `service` field on every line.
   * @default process.env.npm_package_name ?? 'app'
   */
  readonly service?: string;
  /**
   * `env` field on every line.
   * @default process.env.NODE_ENV ?? 'development'
   */
  readonly env?: string;
  /**
   * `version` field on every line.
   * @default process.env.npm_package_version ?? '0.0.0'
   */
  readonly version?: string;
  /**
   * Console output: one JSON object per line, or a single-line human format with control
   * characters escaped.
   * @default 'json'
   */
  readonly format?: LogFormat;
  /**
   * Write to stdout at all.
   * @default true
   */
  readonly console?: boolean;
  /**
   * Colour the level in the pretty format.
   * @default process.stdout.isTTY === true
   */
  readonly colors?: boolean;
  /**
   * Rotated files per stream; no files when not set.
   * @default undefined
   */
  readonly files?: LogFilesOptions;
  /**
   * Extra keys to redact (matched case-insensitively, ignoring `-`, `_` and `.`), added to the
   * default list (password, passwd, secret, token, authorization, cookie, set-cookie, api key
   * variants, credit card number keys; also any key ending in password/secret/token/apikey).
   * @default []
   */
  readonly redactKeys?: readonly string[];
  /**
   * Exact secret values (e.g. `secretValues()` of `@shipshape/config`) replaced by `[REDACTED]`
   * wherever they appear inside a string. Values shorter than 4 characters are ignored with
   * the warning `SHIPSHAPE_LOGGER_SHORT_SECRET`.
   * @default []
   */
  readonly secretValues?: Iterable<string>;
  /**
   * Strings longer than this (message or field) are cut and the line gets `truncated: true`.
   * @default 8192
   */
  readonly maxStringLength?: number;
  /**
   * Fields added to every line (after redaction).
   * @default {}
   */
  readonly defaultFields?: Readonly<Record<string, unknown>>;
  /**
   * More winston transports; they receive every line (all streams) already formatted as JSON in
   * `info[Symbol.for('message')]`.
   * @default []
   */
  readonly transports?: readonly Transport[];
  /**
   * Coded warnings to suppress, or `false` to suppress all.
   * @default []
   */
  readonly ignoreWarnings?: readonly string[] | false;
  /**
   * Where internal failures (a transport error, disk full) are reported, once per transport.
   * @default a line on process.stderr
   */
  readonly onInternalError?: (error: Error) => void;
}

/** Options of `Logger.setLevel`. */
export interface SetLevelOptions {
  /** Revert to the base level after this many milliseconds. Without it the change is permanent. */
  readonly ttlMs?: number;
}

/** Current level state of a logger. */
export interface LevelState {
  readonly level: LogLevel;
  /** The level a temporary change reverts to. */
  readonly baseLevel: LogLevel;
  /** When a temporary level reverts (ISO timestamp), or null when the level is permanent. */
  readonly expiresAt: string | null;
}

/** Options of `Logger.flush` / `Logger.close`. */
export interface FlushOptions {
  /**
   * Give up (reject) after this many milliseconds.
   * @default 10000
   */
  readonly timeoutMs?: number;
}

/**
 * The logger `createLogger` returns: a winston logger (every winston API and transport works) with
 * a security stream, runtime level control and a flush/close that wait for the disk.
 */
export interface Logger extends Omit<winston.Logger, 'close'> {
  /** Writes one line to the security stream (level warn, `stream: 'security'`, `event`). */
  security(event: SecurityEventName, details?: Record<string, unknown>): void;
  /** Changes the level now; with `ttlMs` it reverts to the base level by itself. */
  setLevel(level: LogLevel, options?: SetLevelOptions): LevelState;
  /** The current level, base level and expiry. */
  levelState(): LevelState;
  /** Resolves once every line logged so far has been written to its file or stream. */
  flush(options?: FlushOptions): Promise<void>;
  /** Flushes, ends every transport, waits for files to be closed and archives gzipped. Idempotent. */
  close(options?: FlushOptions): Promise<void>;
}

/** The structural logger other shipshape packages accept; a `Logger` satisfies it. */
export interface LoggerLike {
  info(message: string, meta?: Record<string, unknown>): unknown;
  warn(message: string, meta?: Record<string, unknown>): unknown;
  error(message: string, meta?: Record<string, unknown>): unknown;
  debug?(message: string, meta?: Record<string, unknown>): unknown;
  security?(event: string, details?: Record<string, unknown>): unknown;
}

/** The request context held in AsyncLocalStorage for the duration of a request. */
export interface RequestContext {
  readonly requestId: string;
  /** Fields added with `addContextFields`; they appear on every line logged inside the request. */
  readonly fields: Readonly<Record<string, unknown>>;
}

/** Options of `requestContext`. */
export interface RequestContextOptions {
  /**
   * Request header holding an incoming id (accepted when it is 1–128 chars of `[A-Za-z0-9._:-]`).
   * @default 'x-request-id'
   */
  readonly header?: string;
  /**
   * Trust an incoming id at all; when false every request gets a new UUID.
   * @default true
   */
  readonly trustIncoming?: boolean;
  /**
   * Response header the id is echoed in, or `false` for none.
   * @default 'X-Request-Id'
   */
  readonly responseHeader?: string | false;
  /**
   * Id generator for requests without a usable incoming id.
   * @default crypto.randomUUID
   */
  readonly generateId?: () => string;
}

/** A request as the access log sees it (Express's `req`). */
export type AccessRequest = IncomingMessage & {
  readonly id?: string;
  readonly ip?: string | undefined;
  readonly baseUrl?: string;
  readonly originalUrl?: string;
  readonly route?: { readonly path?: unknown } | undefined;
};

/** Options of `accessLog`. */
export interface AccessLogOptions {
  /**
   * Requests slower than this many milliseconds log at warn with `slow: true`.
   * @default 1000
   */
  readonly slowMs?: number;
  /**
   * Per-route `slowMs`, keyed by route template (`'/api/uploads/:id'`) or method and template
   * (`'POST /api/uploads'`, which wins over the template alone).
   * @default {}
   */
  readonly slowRoutes?: Readonly<Record<string, number>>;
  /**
   * Requests not logged: a predicate, or `false` to log everything. The default skips health
   * probes (`/health`, `/health/*`, `/healthz`, `/livez`, `/readyz`) and `/metrics`.
   * @default health probes and /metrics
   */
  readonly skip?: ((req: AccessRequest, res: ServerResponse) => boolean) | false;
  /**
   * Message of access lines.
   * @default 'request'
   */
  readonly message?: string;
}

/** Options of `loggerAdminRouter`. */
export interface LoggerAdminOptions {
  /** The logger exposed as `root` (and the one security events are written to). */
  readonly logger: Logger;
  /** More loggers by name. */
  readonly loggers?: Readonly<Record<string, Logger>>;
  /**
   * Decides whether a request may read or change levels. Required: an admin endpoint that anyone
   * can call is a vulnerability.
   */
  readonly authorize: (req: IncomingMessage) => boolean | Promise<boolean>;
  /**
   * Largest TTL accepted in a PUT, in milliseconds (0 = no TTL required).
   * @default 3600000
   */
  readonly maxTtlMs?: number;
}
