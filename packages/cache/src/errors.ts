const PREFIX = '@shipshape/cache';

export type CacheErrorCode =
  | 'INVALID_OPTION'
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

export function invalidOption(
  where: string,
  option: string,
  value: unknown,
  expected: string,
): CacheError {
  return new CacheError(
    'INVALID_OPTION',
    `${where} "${option}" must be ${expected}, got ${show(value)}`,
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

/** Rejects option keys a JavaScript caller may have mistyped. */
export function rejectUnknownKeys(
  where: string,
  options: object,
  known: Record<string, true>,
): void {
  const unknown = Object.keys(options).find((key) => !(key in known));
  if (unknown === undefined) return;
  throw new CacheError(
    'INVALID_OPTION',
    `${where} has no option "${unknown}"; known options: ${Object.keys(known).join(', ')}`,
  );
}
