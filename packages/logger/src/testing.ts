import { isDeepStrictEqual } from 'node:util';
import Transport from 'winston-transport';
import { createLogger, recordOf } from './logger.js';
import type { Logger, LoggerOptions } from './types.js';

/** One captured line: the exact record (redacted, sanitised) that would be written as JSON. */
export type LogRecord = Readonly<Record<string, unknown>> & {
  readonly level: string;
  readonly message: string;
  readonly timestamp: string;
};

/**
 * What `find`/`expectLogged` accept: a predicate, or a partial record where each value must be
 * equal (deeply), match (a RegExp against a string), or partially match (a nested object).
 */
export type LogMatch = ((record: LogRecord) => boolean) | Readonly<Record<string, unknown>>;

export interface TestLogger {
  /** A real logger from `createLogger` (same format, redaction and context), writing to memory. */
  readonly logger: Logger;
  /** Every captured record, oldest first. */
  readonly records: readonly LogRecord[];
  /** Records matching `match`. */
  find(match: LogMatch): LogRecord[];
  /** The first record matching `match`; throws an assertion-style error listing what was logged. */
  expectLogged(match: LogMatch): LogRecord;
  /** Forgets every captured record. */
  clear(): void;
}

function matches(actual: unknown, expected: unknown): boolean {
  if (expected instanceof RegExp) return typeof actual === 'string' && expected.test(actual);
  if (
    typeof expected === 'object' &&
    expected !== null &&
    !Array.isArray(expected) &&
    typeof actual === 'object' &&
    actual !== null
  ) {
    for (const key of Object.keys(expected))
      if (
        !matches(
          (actual as Record<string, unknown>)[key],
          (expected as Record<string, unknown>)[key],
        )
      )
        return false;
    return true;
  }
  return isDeepStrictEqual(actual, expected);
}

function describeMatch(match: LogMatch): string {
  if (typeof match === 'function') return `a record satisfying ${match.name || 'the predicate'}`;
  return JSON.stringify(match, (_k, v: unknown) => (v instanceof RegExp ? String(v) : v));
}

class CaptureTransport extends Transport {
  constructor(private readonly sink: LogRecord[]) {
    super(); // follows the logger's level, so setLevel() behaves as in production
  }
  override log(info: Record<string | symbol, unknown>, callback: () => void): void {
    this.sink.push(recordOf(info) as LogRecord);
    callback();
  }
}

/**
 * A logger for tests that keeps structured records in memory. It is a real `createLogger` logger
 * (level `silly` unless set), so redaction, request context and the security/access streams
 * behave exactly as in production.
 */
export function createTestLogger(
  options: Omit<LoggerOptions, 'console' | 'files'> = {},
): TestLogger {
  const records: LogRecord[] = [];
  const logger = createLogger({
    level: 'silly',
    service: 'test',
    env: 'test',
    ...options,
    console: false,
    transports: [...(options.transports ?? []), new CaptureTransport(records)],
  });
  const find = (match: LogMatch) =>
    records.filter((record) =>
      typeof match === 'function' ? match(record) : matches(record, match),
    );
  return {
    logger,
    records,
    find,
    expectLogged(match: LogMatch): LogRecord {
      const found = find(match)[0];
      if (found) return found;
      const seen = records
        .slice(-20)
        .map((r) => `  ${JSON.stringify(r)}`)
        .join('\n');
      throw new Error(
        `@shipshape/logger: expected a log record matching ${describeMatch(match)}, but none of the ${records.length} records matched.${records.length ? `\nLast records:\n${seen}` : ''}`,
      );
    },
    clear() {
      records.length = 0;
    },
  };
}
