/**
 * What a storage failure means for the service: the database cannot be reached right now
 * (`STORAGE_UNAVAILABLE`, 503, retried) or the disk under it is full (`STORAGE_FULL`, 507).
 * Driver errors never leave the storage layer as they are: their codes (`ECONNREFUSED`, `57P01`,
 * `42P01`, `SQLITE_FULL`…) are for the log, not for API clients.
 */
export type StorageFault = 'unavailable' | 'full';

export class StorageError extends Error {
  readonly code: 'STORAGE_UNAVAILABLE' | 'STORAGE_FULL';
  readonly fault: StorageFault;
  /** HTTP status an API answers with: 503 (unavailable) or 507 (full). */
  readonly status: 503 | 507;
  /** The driver's own code, for logs. */
  readonly driverCode: string | undefined;

  constructor(fault: StorageFault, message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = 'StorageError';
    this.fault = fault;
    this.code = fault === 'full' ? 'STORAGE_FULL' : 'STORAGE_UNAVAILABLE';
    this.status = fault === 'full' ? 507 : 503;
    this.driverCode = driverCodeOf(options.cause);
  }
}

function driverCodeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

const FULL_CODES = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL']);

// Node socket errors, and PostgreSQL SQLSTATEs that mean "not reachable / not usable right now":
// class 08 (connection exception), 57P01-57P03 (shutdown, crash, starting up), 53300 (too many
// connections), 3D000 (database missing), 42P01/3F000 (tables or schema missing: a fresh server).
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EROFS',
  'EIO',
  'EACCES',
  'EPERM',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '3D000',
  '42P01',
  '3F000',
]);

// pg reports a lost or refused connection as plain Errors; better-sqlite3 a closed handle likewise.
const UNAVAILABLE_MESSAGES = [
  /^Connection terminated/,
  /timeout exceeded when trying to connect/,
  /Client has encountered a connection error/,
  /Client was closed and is not queryable/,
  /Cannot use a pool after calling end/,
  /The database connection is not open/,
  /^Query read timeout/,
];

/** Whether an error comes from the storage being unreachable or full; `undefined` otherwise. */
export function storageFault(err: unknown): StorageFault | undefined {
  if (err instanceof StorageError) return err.fault;
  if (typeof err !== 'object' || err === null) return undefined;
  const code = driverCodeOf(err);
  if (code !== undefined) {
    if (FULL_CODES.has(code)) return 'full';
    if (UNAVAILABLE_CODES.has(code) || code.startsWith('08')) return 'unavailable';
    // Every SQLite I/O, open, lock-timeout, read-only or corruption error: the file is not usable.
    if (/^SQLITE_(IOERR|CANTOPEN|READONLY|BUSY|LOCKED|CORRUPT|NOTADB|PROTOCOL)/.test(code))
      return 'unavailable';
  }
  const message = (err as { message?: unknown }).message;
  if (typeof message === 'string' && UNAVAILABLE_MESSAGES.some((re) => re.test(message)))
    return 'unavailable';
  // AggregateError (pg connecting to several addresses) and wrapped causes.
  const nested = (err as { errors?: unknown; cause?: unknown }).errors;
  if (Array.isArray(nested)) for (const e of nested) if (storageFault(e)) return storageFault(e);
  const cause = (err as { cause?: unknown }).cause;
  return cause !== undefined && cause !== err ? storageFault(cause) : undefined;
}

/** `err` as a StorageError when it is a storage fault, else `err` itself. */
export function asStorageError(err: unknown): unknown {
  if (err instanceof StorageError) return err;
  const fault = storageFault(err);
  if (!fault) return err;
  const detail = (err as { message?: unknown }).message;
  return new StorageError(
    fault,
    fault === 'full'
      ? `the disk under the storage is full${typeof detail === 'string' ? ` (${detail})` : ''}`
      : `the storage is unavailable${typeof detail === 'string' ? ` (${detail})` : ''}`,
    { cause: err },
  );
}

export interface GuardOptions {
  /**
   * After the storage was found unavailable, calls fail at once for this long (503 without
   * waiting for a connection timeout); then one call goes through again. `ping()` always tries.
   * @default 1000
   */
  readonly cooldownMs?: number;
  /** Told when the storage goes down and when it answers again. */
  readonly onStateChange?: (state: 'down' | 'up', error?: StorageError) => void;
}

// Methods that return async iterables rather than promises.
const ITERATORS = new Set<PropertyKey>([
  'iterateIsolates',
  'iterateFirstIsolateKeys',
  'iterateAggregateRows',
]);

/**
 * The storage as the HTTP side uses it: every driver error becomes a `StorageError` (503/507),
 * and while the storage is down calls fail fast instead of each waiting for the driver.
 */
export function guardStorage<S extends object>(storage: S, options: GuardOptions = {}): S {
  const cooldownMs = options.cooldownMs ?? 1000;
  let down: StorageError | undefined;
  let retryAt = 0;
  const failed = (err: unknown): unknown => {
    const error = asStorageError(err);
    if (error instanceof StorageError && error.fault === 'unavailable') {
      if (!down) options.onStateChange?.('down', error);
      down = error;
      retryAt = Date.now() + cooldownMs;
    }
    return error;
  };
  const answered = () => {
    if (!down) return;
    down = undefined;
    options.onStateChange?.('up');
  };
  const gate = () => {
    if (down && Date.now() < retryAt)
      throw new StorageError('unavailable', down.message, { cause: down.cause });
  };
  async function* guardIterable<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
    gate();
    try {
      yield* source;
      answered();
    } catch (err) {
      throw failed(err);
    }
  }
  return new Proxy(storage, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => unknown;
      if (ITERATORS.has(property))
        return (...args: unknown[]) =>
          guardIterable(method.apply(target, args) as AsyncIterable<unknown>);
      if (property === 'close') return method.bind(target);
      const always = property === 'ping' || property === 'init';
      return async (...args: unknown[]) => {
        if (!always) gate();
        try {
          const result = await method.apply(target, args);
          answered();
          return result;
        } catch (err) {
          throw failed(err);
        }
      };
    },
  });
}
