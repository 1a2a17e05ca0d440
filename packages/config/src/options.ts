/** The package's option policy: an invalid value throws, an unknown key is warned about once. */
import type { Logger } from './types.js';

export const INVALID_OPTION = 'SHIPSHAPE_CONFIG_INVALID_OPTION';
export const UNKNOWN_OPTION = 'SHIPSHAPE_CONFIG_UNKNOWN_OPTION';

/**
 * A programming mistake found when a builder or `loadConfig` is called: a `TypeError` (like
 * Node's own argument errors) with the stable `code` of this package. `message` carries the prefix.
 */
export function optionError(message: string): TypeError & { readonly code: typeof INVALID_OPTION } {
  return Object.assign(new TypeError(message), { code: INVALID_OPTION } as const);
}

/** Keys of `options` that `known` does not list, in the caller's order. */
export function unknownKeys(options: object, known: Iterable<string>): string[] {
  const set = new Set(known);
  return Object.keys(options).filter((key) => !set.has(key));
}

/**
 * One coded warning per call for unknown keys, through `logger.warn` when the caller gave one,
 * else `process.emitWarning`; the options are used without them.
 */
export function warnUnknownOptions(
  where: string,
  unknown: readonly string[],
  known: Iterable<string>,
  logger?: Pick<Logger, 'warn'>,
): void {
  if (unknown.length === 0) return;
  const message = `@shipshape/config: ${where} ignores unknown option${unknown.length === 1 ? '' : 's'} ${unknown
    .map((key) => JSON.stringify(key))
    .join(', ')}; known options: ${[...known].join(', ')}`;
  try {
    if (logger) logger.warn(message, { code: UNKNOWN_OPTION });
    else process.emitWarning(message, { code: UNKNOWN_OPTION });
  } catch {
    // A broken logger must not break loading the configuration.
  }
}
