import type { HealthLogger } from './types.js';

const PKG = '@shipshape/health';

export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

export function fail(where: string, option: string, value: unknown, expected: string): never {
  throw new TypeError(`${PKG}: ${where} "${option}" must be ${expected}, got ${show(value)}`);
}

export function nonNegativeInt(where: string, option: string, value: unknown, fallback: number) {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    fail(where, option, value, 'a non-negative integer');
  }
  return value;
}

export function positiveInt(where: string, option: string, value: unknown, fallback: number) {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    fail(where, option, value, 'a positive integer');
  }
  return value;
}

export function finiteNumber(where: string, option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    fail(where, option, value, 'a finite number');
  }
  return value;
}

export function bool(where: string, option: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail(where, option, value, 'a boolean');
  return value;
}

export function optionalString(where: string, option: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') fail(where, option, value, 'a non-empty string');
  return value;
}

export function optionalFunction<T>(where: string, option: string, value: unknown): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') fail(where, option, value, 'a function');
  return value as T;
}

/** Throws unless `value` is a non-array object; does not narrow typed options. */
export function assertObject(
  where: string,
  option: string,
  value: unknown,
  expected = 'an object',
): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(where, option, value, expected);
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Warns (coded, once per call site owner) about option keys the type does not know. */
export function warnUnknownKeys(
  where: string,
  options: object,
  known: Readonly<Record<string, true>>,
  logger: HealthLogger | undefined,
): void {
  // One warning per call naming every unknown key, as the other packages do.
  const unknown = Object.keys(options).filter((key) => !(key in known));
  if (unknown.length === 0) return;
  const names = unknown.map((key) => `"${key}"`).join(', ');
  const message = `${PKG}: ${where} ignores unknown option${unknown.length > 1 ? 's' : ''} ${names} (known: ${Object.keys(known).join(', ')})`;
  const code = 'SHIPSHAPE_HEALTH_UNKNOWN_OPTION';
  if (logger) logger.warn(message, { code, options: unknown });
  else process.emitWarning(message, { code });
}

export { PKG };
