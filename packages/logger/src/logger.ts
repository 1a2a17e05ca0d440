import * as fs from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { LEVEL, MESSAGE } from 'triple-beam';
import winston from 'winston';
import Transport from 'winston-transport';
import { storage } from './context.js';
import { type FileStreamName, StreamFileTransport } from './files.js';
import { invalidOption, UNKNOWN_OPTION, unknownOptions, warnUnknownOptions } from './options.js';
import { renderPretty } from './pretty.js';
import { buildRedactorConfig, type RedactorConfig, Sanitizer } from './serialize.js';
import { PRESERIALIZED, RECORD, STREAM } from './symbols.js';
import type {
  FlushOptions,
  LevelState,
  LogFilesOptions,
  LogFormat,
  Logger,
  LoggerOptions,
  LogLevel,
  SetLevelOptions,
} from './types.js';

export const LEVELS: Readonly<Record<LogLevel, number>> = {
  error: 0,
  warn: 1,
  info: 2,
  http: 3,
  verbose: 4,
  debug: 5,
  silly: 6,
};

const knownOptions: { [K in keyof Required<LoggerOptions>]: true } = {
  level: true,
  service: true,
  env: true,
  version: true,
  format: true,
  console: true,
  colors: true,
  files: true,
  redactKeys: true,
  secretValues: true,
  maxStringLength: true,
  defaultFields: true,
  transports: true,
  ignoreWarnings: true,
  onInternalError: true,
};

const knownFileOptions: { [K in keyof Required<LogFilesOptions>]: true } = {
  dir: true,
  streams: true,
  maxSize: true,
  maxFiles: true,
  zippedArchive: true,
  datePattern: true,
  utc: true,
};

const knownSetLevelOptions: { [K in keyof Required<SetLevelOptions>]: true } = { ttlMs: true };
const knownFlushOptions: { [K in keyof Required<FlushOptions>]: true } = { timeoutMs: true };

type Info = Record<string | symbol, unknown> & { level: string; message?: unknown };

/** @internal what accessLog needs from a logger created here. */
export interface LoggerInternals {
  /**
   * Delivers a pre-serialised access line straight to the transports (level-filtered like winston).
   * Our own file and JSON stdout transports take the line as is; the winston info object is built
   * only for other transports (and after close()).
   */
  readonly dispatch: (level: LogLevel, message: string, line: string) => void;
  /** `,"service":…,"pid":…` — constant fields, pre-serialised once. */
  readonly baseJson: string;
  readonly base: Readonly<Record<string, unknown>>;
  readonly redactor: RedactorConfig;
  readonly keyCache: Map<string, boolean>;
}

export const INTERNALS: unique symbol = Symbol('shipshape.logger.internals');

function fail(message: string): never {
  return invalidOption(message);
}

function isLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && Object.hasOwn(LEVELS, value);
}

const LEVEL_LIST = Object.keys(LEVELS).join(', ');

function parseSize(value: number | string): number {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 1024)
      fail(`files "maxSize" must be an integer of at least 1024 bytes, got ${value}`);
    return value;
  }
  const match = /^(\d+)([kmg])$/i.exec(value);
  if (!match)
    fail(
      `files "maxSize" must be bytes or a string like "10m", "500k", "1g", got ${JSON.stringify(value)}`,
    );
  const unit = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[
    String(match[2]).toLowerCase() as 'k' | 'm' | 'g'
  ];
  const bytes = Number(match[1]) * unit;
  if (bytes < 1024) fail(`files "maxSize" must be at least 1k, got ${JSON.stringify(value)}`);
  return bytes;
}

/** The sanitised record of a line; access lines carry only their JSON, parsed on demand. */
export function recordOf(info: Record<string | symbol, unknown>): Record<string, unknown> {
  return (
    (info[RECORD] as Record<string, unknown> | undefined) ?? JSON.parse(info[MESSAGE] as string)
  );
}

/** Writes to stdout; pretty output is rendered from the sanitised record, never from raw input. */
/** Accepts every line and writes it nowhere: the one output of a logger configured with none. */
class DiscardTransport extends Transport {
  override log(_info: unknown, callback: () => void): void {
    callback();
  }
}

class StdoutTransport extends Transport {
  constructor(
    private readonly format_: LogFormat,
    private readonly colors: boolean,
  ) {
    super();
  }
  get pretty(): boolean {
    return this.format_ === 'pretty';
  }
  writeLine(line: string): void {
    process.stdout.write(`${line}\n`);
  }
  override log(info: Info, callback: () => void): void {
    this.writeLine(
      this.pretty ? renderPretty(recordOf(info), this.colors) : (info[MESSAGE] as string),
    );
    callback();
  }
}

function waitUntil(check: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const poll = () => {
      if (check()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`@shipshape/logger: ${what()}`));
      // Deliberately not unref()'d: a caller awaiting flush()/close() at the end of a script must
      // keep the process alive until the lines are on disk. Bounded by timeoutMs.
      setTimeout(poll, 2);
    };
    // Never decide synchronously: a file stream created in this tick opens on nextTick, and until
    // it does its buffered lines have no fs operation in flight to be seen.
    setImmediate(poll);
  });
}

// One 'error' listener on process.stdout for every console logger in the process (a listener per
// logger made the eleventh createLogger() trip MaxListenersExceededWarning on the socket).
const stdoutWatchers = new Set<(error: Error) => void>();
const fanOutStdoutError = (error: Error): void => {
  for (const watcher of stdoutWatchers) watcher(error);
};
function watchStdout(watcher: (error: Error) => void): void {
  if (stdoutWatchers.size === 0) process.stdout.on('error', fanOutStdoutError);
  stdoutWatchers.add(watcher);
}
function unwatchStdout(watcher: (error: Error) => void): void {
  if (stdoutWatchers.delete(watcher) && stdoutWatchers.size === 0)
    process.stdout.off('error', fanOutStdoutError);
}

/**
 * A winston logger with JSON (or pretty) stdout, optional rotated files per stream, redaction,
 * request context on every line, a security stream, runtime level changes and a flush/close that
 * wait until every line is on disk.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  if (typeof options !== 'object' || options === null)
    fail(`createLogger options must be an object, got ${String(options)}`);
  const ignore = options.ignoreWarnings;
  const pendingWarnings: [string, string][] = [];
  const unknown = unknownOptions('createLogger', options, knownOptions);
  if (unknown !== undefined) pendingWarnings.push([UNKNOWN_OPTION, unknown]);

  const envLevel = process.env.LOG_LEVEL;
  const level = options.level ?? (envLevel === undefined || envLevel === '' ? 'info' : envLevel);
  if (!isLevel(level))
    fail(
      `${options.level === undefined ? 'LOG_LEVEL' : '"level"'} must be one of ${LEVEL_LIST}, got ${JSON.stringify(level)}`,
    );
  const format = options.format ?? 'json';
  if (format !== 'json' && format !== 'pretty')
    fail(`"format" must be "json" or "pretty", got ${JSON.stringify(format)}`);
  const maxStringLength = options.maxStringLength ?? 8192;
  if (!Number.isInteger(maxStringLength) || maxStringLength < 16)
    fail(`"maxStringLength" must be an integer of at least 16, got ${String(maxStringLength)}`);
  for (const name of ['service', 'env', 'version'] as const) {
    const value = options[name];
    if (value !== undefined && typeof value !== 'string')
      fail(`"${name}" must be a string, got ${typeof value}`);
  }
  const redactKeys = options.redactKeys ?? [];
  if (!Array.isArray(redactKeys) || redactKeys.some((k) => typeof k !== 'string' || k === ''))
    fail(`"redactKeys" must be an array of non-empty strings, got ${JSON.stringify(redactKeys)}`);
  const secrets: string[] = [];
  if (options.secretValues !== undefined) {
    if (typeof (options.secretValues as Iterable<string>)[Symbol.iterator] !== 'function')
      fail('"secretValues" must be an iterable of strings');
    for (const value of options.secretValues) {
      if (typeof value !== 'string') fail(`"secretValues" must hold strings, got ${typeof value}`);
      if (value.length < 4) {
        pendingWarnings.push([
          'SHIPSHAPE_LOGGER_SHORT_SECRET',
          `a secret value of ${value.length} characters is too short to redact safely inside strings and is ignored (keys are still redacted)`,
        ]);
        continue;
      }
      secrets.push(value);
    }
  }
  const onInternalError =
    options.onInternalError ??
    ((error: Error) => {
      process.stderr.write(`${error.message}\n`);
    });
  if (typeof onInternalError !== 'function') fail('"onInternalError" must be a function');
  const extraTransports = options.transports ?? [];
  if (!Array.isArray(extraTransports)) fail('"transports" must be an array of winston transports');
  const defaultFields = options.defaultFields ?? {};
  if (typeof defaultFields !== 'object' || defaultFields === null || Array.isArray(defaultFields))
    fail('"defaultFields" must be a plain object');

  const redactor = buildRedactorConfig(redactKeys, secrets, maxStringLength);
  const keyCache = new Map<string, boolean>();
  const base: Record<string, unknown> = {
    service: options.service ?? process.env.npm_package_name ?? 'app',
    env: options.env ?? process.env.NODE_ENV ?? 'development',
    version: options.version ?? process.env.npm_package_version ?? '0.0.0',
    hostname: hostname(),
    pid: process.pid,
    ...new Sanitizer(redactor, keyCache).plain(defaultFields as Record<string, unknown>, 0),
  };
  const baseJson = JSON.stringify(base).slice(1, -1);
  let dispatch: LoggerInternals['dispatch'] = () => {};
  const internals: LoggerInternals = {
    base,
    baseJson: `,${baseJson}`,
    redactor,
    keyCache,
    dispatch: (level, message, line) => dispatch(level, message, line),
  };

  const reported = new Set<string>();
  const report = (error: Error, source: string) => {
    if (reported.has(source)) return;
    reported.add(source);
    try {
      onInternalError(
        new Error(
          `@shipshape/logger: ${source} failed: ${error?.message ?? String(error)} (further errors from it are not reported)`,
          { cause: error },
        ),
      );
    } catch {
      // A failing error reporter must not take the app down either.
    }
  };

  const fileTransports: StreamFileTransport[] = [];
  if (options.files !== undefined)
    fileTransports.push(
      ...createFiles(options.files, report, (message) =>
        pendingWarnings.push([UNKNOWN_OPTION, message]),
      ),
    );

  const transports: Transport[] = [];
  if (options.console ?? true)
    transports.push(
      new StdoutTransport(format, options.colors ?? process.stdout.isTTY === true) as Transport,
    );
  transports.push(...(fileTransports as unknown as Transport[]), ...extraTransports);
  // No output at all (console: false, no files, no transports): lines are dropped. Without a
  // transport winston would keep every line in its buffer — memory that only grows, and a
  // flush()/close() that waits for them until its timeout.
  if (transports.length === 0) transports.push(new DiscardTransport());

  const shipshapeFormat = {
    options: {},
    transform(info: Info): Info {
      if (info[PRESERIALIZED] === true) return info;
      const sanitizer = new Sanitizer(redactor, keyCache);
      const record: Record<string, unknown> = {
        timestamp: new Date().toISOString(),
        level: info.level,
        message: '',
      };
      const raw = info.message;
      let error: unknown;
      if (info instanceof Error) error = info;
      if (typeof raw === 'string') record.message = sanitizer.string(raw);
      else if (raw instanceof Error) {
        record.message = sanitizer.string(String(raw.message));
        error = raw;
      } else if (raw !== undefined) {
        const value = sanitizer.value(raw);
        record.message = typeof value === 'string' ? value : JSON.stringify(value);
      }
      Object.assign(record, base);
      const store = storage.getStore();
      if (store) {
        record.requestId = store.requestId;
        if (store.fields) {
          for (const key in store.fields) sanitizer.assign(record, key, store.fields[key], 0);
        }
      }
      const stream = info[STREAM];
      if (stream !== undefined) record.stream = stream;
      for (const key in info) {
        if (
          key === 'level' ||
          key === 'message' ||
          key === 'timestamp' ||
          !Object.hasOwn(info, key)
        )
          continue;
        if (error !== undefined && error === info && (key === 'stack' || key === 'cause')) continue;
        sanitizer.assign(record, key, info[key], 0);
      }
      if (error !== undefined) record.error = sanitizer.value(error);
      if (sanitizer.truncated) record.truncated = true;
      let json: string;
      try {
        json = JSON.stringify(record);
      } catch (e) {
        json = JSON.stringify({
          timestamp: record.timestamp,
          level: record.level,
          message: `unserializable log line: ${(e as Error).message}`,
        });
      }
      info[MESSAGE] = json;
      info[RECORD] = record;
      return info;
    },
  };

  const logger = winston.createLogger({
    levels: { ...LEVELS },
    level,
    format: shipshapeFormat as unknown as winston.Logform.Format,
    transports,
    exitOnError: false,
  }) as unknown as Logger & winston.Logger;

  // Without these, a transport error (re-emitted on the logger) or a write after close() would
  // be an unhandled 'error' event and crash the process.
  logger.on('error', (error: Error) => report(error, 'logger'));
  const onStdoutError = (error: Error) => report(error, 'stdout');
  if (options.console ?? true) watchStdout(onStdoutError);

  let baseLevel: LogLevel = level;
  let revertTimer: NodeJS.Timeout | undefined;
  let expiresAt: number | null = null;
  const levelState = (): LevelState => ({
    level: logger.level as LogLevel,
    baseLevel,
    expiresAt: expiresAt === null ? null : new Date(expiresAt).toISOString(),
  });

  const allTransports = () => logger.transports as unknown as Transport[];
  const drained = () => {
    if (logger.readableLength > 0 || logger.writableLength > 0) return false;
    for (const t of allTransports()) if (t.writableLength > 0) return false;
    // Rotated files count as written once archived: a reader must not find half a .gz.
    let pending = false;
    for (const t of fileTransports) {
      // Lines just handed over may sit in a stream that opens on nextTick: look again next poll.
      if (t.writeBatch()) pending = true;
      if (t.tracker.inFlight > 0 || t.pendingArchives > 0) pending = true;
    }
    if (pending) return false;
    return process.stdout.writableLength === 0 || !(options.console ?? true);
  };
  const describePending = () => {
    const parts: string[] = [];
    for (const t of fileTransports)
      if (t.tracker.inFlight > 0 || t.pendingArchives > 0)
        parts.push(
          `${t.streamName} file (${t.tracker.inFlight} fs operations, ${t.pendingArchives} archives)`,
        );
    if (logger.readableLength > 0) parts.push(`${logger.readableLength} lines in winston`);
    return `flush timed out with lines still pending: ${parts.join(', ') || 'a transport buffer'}`;
  };

  let closing: Promise<void> | undefined;

  // Access lines skip winston's object-mode stream chain (Transform → pipe → Writable per
  // transport): they are already serialised and there is one per request. Transports of our own
  // take the line directly; any other transport still gets it through its stream interface.
  const noop = () => {};
  const accessInfo = (level: LogLevel, message: string, line: string): Info => ({
    level,
    message,
    [LEVEL]: level,
    [STREAM]: 'access',
    [PRESERIALIZED]: true,
    [MESSAGE]: line,
  });
  dispatch = (level, message, line) => {
    if (closing || logger.silent) {
      logger.write(accessInfo(level, message, line)); // after close(): "write after end" once
      return;
    }
    const levelValue = LEVELS[level] ?? 0;
    let info: Info | undefined;
    for (const t of allTransports()) {
      const threshold = (t.level ?? logger.level) as LogLevel;
      if (t.silent || LEVELS[threshold] < levelValue) continue;
      if (t instanceof DiscardTransport) continue;
      if (t instanceof StreamFileTransport) {
        if (t.streamName === 'access') t.enqueue(line);
      } else if (t instanceof StdoutTransport && !t.pretty) t.writeLine(line);
      else {
        if (info === undefined) info = accessInfo(level, message, line);
        if (t instanceof StdoutTransport) t.log(info, noop);
        else t.write(info);
      }
    }
  };

  Object.assign(logger, {
    [INTERNALS]: internals,
    security(event: string, details?: Record<string, unknown>) {
      const info: Info = { ...details, level: 'warn', message: event, event };
      info[LEVEL] = 'warn';
      info[STREAM] = 'security';
      logger.write(info);
    },
    setLevel(next: LogLevel, opts: SetLevelOptions = {}): LevelState {
      if (!isLevel(next))
        fail(`setLevel level must be one of ${LEVEL_LIST}, got ${JSON.stringify(next)}`);
      if (typeof opts !== 'object' || opts === null)
        fail(`setLevel options must be an object, got ${String(opts)}`);
      // A typo such as { ttl } would otherwise make a temporary change permanent, silently.
      warnUnknownOptions('setLevel', opts, knownSetLevelOptions, logger);
      const ttlMs = opts.ttlMs;
      if (ttlMs !== undefined && (!Number.isInteger(ttlMs) || ttlMs <= 0 || ttlMs > 2 ** 31 - 1))
        fail(`setLevel "ttlMs" must be a positive integer of milliseconds, got ${String(ttlMs)}`);
      if (revertTimer) clearTimeout(revertTimer);
      revertTimer = undefined;
      expiresAt = null;
      logger.level = next;
      if (ttlMs === undefined) {
        baseLevel = next;
      } else {
        expiresAt = Date.now() + ttlMs;
        revertTimer = setTimeout(() => {
          revertTimer = undefined;
          expiresAt = null;
          const from = logger.level;
          logger.level = baseLevel;
          logger.info('log level reverted', { from, to: baseLevel });
        }, ttlMs);
        revertTimer.unref();
      }
      return levelState();
    },
    levelState,
    async flush(opts: FlushOptions = {}): Promise<void> {
      warnUnknownOptions('flush', opts, knownFlushOptions, logger);
      await waitUntil(drained, opts.timeoutMs ?? 10_000, describePending);
    },
    close(opts: FlushOptions = {}): Promise<void> {
      if (closing) return closing;
      warnUnknownOptions('close', opts, knownFlushOptions, logger);
      closing = (async () => {
        if (revertTimer) clearTimeout(revertTimer);
        const timeoutMs = opts.timeoutMs ?? 10_000;
        await waitUntil(drained, timeoutMs, describePending);
        const finished = new Promise<void>((resolve) => logger.once('finish', () => resolve()));
        logger.end();
        await finished;
        // 'finish' fires when the transports have been told to end, not when files are closed.
        await waitUntil(
          () => fileTransports.every((t) => t.tracker.inFlight === 0 && t.tracker.openCount === 0),
          timeoutMs,
          () => 'close timed out waiting for log files to be closed',
        );
        await Promise.all(fileTransports.map((t) => t.archivesDone()));
        unwatchStdout(onStdoutError);
      })();
      return closing;
    },
  });

  // Once per code, except that createLogger and its `files` may each have unknown keys.
  const warned = new Set<string>();
  for (const [code, message] of pendingWarnings) {
    const once = code === UNKNOWN_OPTION ? message : code;
    if (ignore === false || ignore?.includes(code) || warned.has(once)) continue;
    warned.add(once);
    logger.warn(`${code}: ${message}`, { code });
  }
  return logger;
}

/**
 * mkdir -p by hand: fs.mkdirSync(…, { recursive: true }) never returns on some pseudo file systems
 * (e.g. under /proc on Node 20), which would hang createLogger instead of failing it.
 */
function ensureDir(dir: string): void {
  const missing: string[] = [];
  let current = dir;
  while (!fs.existsSync(current)) {
    missing.push(current);
    const parent = dirname(current);
    if (parent === current) break;
    current = parent;
  }
  for (const path of missing.reverse()) fs.mkdirSync(path);
  if (!fs.statSync(dir).isDirectory()) throw new Error(`${dir} is not a directory`);
}

function createFiles(
  files: LogFilesOptions,
  report: (error: Error, source: string) => void,
  warnUnknown: (message: string) => void,
): StreamFileTransport[] {
  if (typeof files !== 'object' || files === null) fail('"files" must be an object with a "dir"');
  const unknown = unknownOptions('createLogger "files"', files, knownFileOptions);
  if (unknown !== undefined) warnUnknown(unknown);
  if (typeof files.dir !== 'string' || files.dir === '')
    fail(`files "dir" must be a directory path, got ${JSON.stringify(files.dir)}`);
  const maxSize = parseSize(files.maxSize ?? '10m');
  const maxFiles = files.maxFiles ?? 5;
  if (!Number.isInteger(maxFiles) || maxFiles < 1)
    fail(`files "maxFiles" must be a positive integer, got ${String(maxFiles)}`);
  const datePattern = files.datePattern ?? 'YYYY-MM-DD';
  if (typeof datePattern !== 'string' || /[/\\]/.test(datePattern) || datePattern === '')
    fail(
      `files "datePattern" must be a moment.js pattern without path separators, got ${JSON.stringify(datePattern)}`,
    );
  const streams = files.streams ?? {};
  const dir = files.dir;
  try {
    ensureDir(resolve(dir));
    // A real write, not access(): root ignores modes, and read-only mounts only show on write.
    const probe = join(dir, `.shipshape-write-test-${process.pid}-${Date.now()}`);
    fs.writeFileSync(probe, '');
    fs.rmSync(probe);
  } catch (error) {
    // Not an option error: the value is fine, the file system refuses it.
    throw new Error(
      `@shipshape/logger: files "dir" ${JSON.stringify(dir)} is not a writable directory (${(error as Error).message}); create it with write permission for this process or choose another path`,
    );
  }
  const names: FileStreamName[] = ['app', 'error', 'security', 'access'];
  return names
    .filter((name) => streams[name] ?? true)
    .map(
      (name) =>
        new StreamFileTransport({
          dir,
          name,
          maxSize: Math.max(1, Math.round(maxSize / 1024)) * 1024,
          maxFiles,
          zippedArchive: files.zippedArchive ?? true,
          datePattern,
          utc: files.utc ?? true,
          report,
        }),
    );
}
