const PREFIX = '@shipshape/cache';

export type CacheErrorCode =
  | 'INVALID_KEY'
  | 'INVALID_TTL'
  | 'UNSERIALISABLE_VALUE'
  | 'REDIS_UNAVAILABLE'
  | 'REDIS_TIMEOUT'
  | 'CLOSED';

/** Every error this package throws; `code` is stable, the message starts with the package name. */
export class CacheError extends Error {
  readonly code: CacheErrorCode;

  constructor(code: CacheErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${PREFIX}: ${message}`, options);
    this.name = 'CacheError';
    this.code = code;
  }
}

/**
 * `promise`, or a `REDIS_TIMEOUT` CacheError with `message()` once `ms` have passed. The timer is
 * unref'd and cleared either way; the message is built only on a timeout.
 */
export async function withinTime<T>(
  promise: Promise<T>,
  ms: number,
  message: () => string,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new CacheError('REDIS_TIMEOUT', message())), ms);
        timer.unref();
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function show(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return value.toString();
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** Code of the `TypeError` every factory throws for an invalid option value. */
export const INVALID_OPTION = 'SHIPSHAPE_CACHE_INVALID_OPTION';
/** Code of the warning for an option key a factory does not know. */
export const UNKNOWN_OPTION = 'SHIPSHAPE_CACHE_UNKNOWN_OPTION';

/** A `TypeError` (like Node's own argument errors) with the stable `code` of this package. */
export type CacheOptionError = TypeError & { readonly code: typeof INVALID_OPTION };

export function invalidOption(
  where: string,
  option: string,
  value: unknown,
  expected: string,
): CacheOptionError {
  return Object.assign(
    new TypeError(`${PREFIX}: ${where} "${option}" must be ${expected}, got ${show(value)}`),
    { code: INVALID_OPTION } as const,
  );
}

export function checkPositiveNumber(where: string, option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw invalidOption(where, option, value, 'a positive finite number of milliseconds');
  }
  return value;
}

export function checkNonNegativeNumber(where: string, option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw invalidOption(where, option, value, 'a finite number of milliseconds >= 0');
  }
  return value;
}

export function checkPositiveInteger(where: string, option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw invalidOption(where, option, value, 'a positive integer');
  }
  return value;
}

/** Where a factory's warnings go: its logger when it has one, else `process.emitWarning`. */
export type WarnChannel =
  | { warn(message: string, meta?: Record<string, unknown>): unknown }
  | undefined;

/**
 * One coded warning for option keys a JavaScript caller may have mistyped; the options are used
 * without them. Returns the message (undefined when every key is known).
 */
export function warnUnknownOptions(
  where: string,
  options: object,
  known: Readonly<Record<string, true>>,
  logger: WarnChannel,
): string | undefined {
  const unknown = Object.keys(options).filter((key) => !Object.hasOwn(known, key));
  if (unknown.length === 0) return undefined;
  const message = `${PREFIX}: ${where} ignores unknown option${unknown.length === 1 ? '' : 's'} ${unknown
    .map((key) => JSON.stringify(key))
    .join(', ')}; known options: ${Object.keys(known).join(', ')}`;
  try {
    if (logger) logger.warn(message, { code: UNKNOWN_OPTION, options: unknown });
    else process.emitWarning(message, { code: UNKNOWN_OPTION });
  } catch {
    // A broken logger must not break the factory.
  }
  return message;
}
