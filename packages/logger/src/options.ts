/** The package's option policy: an invalid value throws, an unknown key is warned about once. */

export const INVALID_OPTION = 'SHIPSHAPE_LOGGER_INVALID_OPTION';
export const UNKNOWN_OPTION = 'SHIPSHAPE_LOGGER_UNKNOWN_OPTION';

/** A `TypeError` (like Node's own argument errors) with the stable `code` of this package. */
export function invalidOption(message: string): never {
  throw Object.assign(new TypeError(`@shipshape/logger: ${message}`), { code: INVALID_OPTION });
}

/** The warning text for keys of `options` that `known` does not list, or undefined. */
export function unknownOptions(
  where: string,
  options: object,
  known: Readonly<Record<string, true>>,
): string | undefined {
  const unknown = Object.keys(options).filter((key) => !Object.hasOwn(known, key));
  if (unknown.length === 0) return undefined;
  return `${where} ignores unknown option${unknown.length === 1 ? '' : 's'} ${unknown
    .map((key) => JSON.stringify(key))
    .join(', ')}; known options are ${Object.keys(known).join(', ')}`;
}

/**
 * One coded warning per factory call for unknown keys: through the factory's logger when it has
 * one (`logger.warn("SHIPSHAPE_LOGGER_UNKNOWN_OPTION: …", { code })`), else `process.emitWarning`.
 */
export function warnUnknownOptions(
  where: string,
  options: object,
  known: Readonly<Record<string, true>>,
  logger?: { warn(message: string, meta?: Record<string, unknown>): unknown },
): void {
  const message = unknownOptions(where, options, known);
  if (message === undefined) return;
  try {
    if (logger && typeof logger.warn === 'function')
      logger.warn(`${UNKNOWN_OPTION}: ${message}`, { code: UNKNOWN_OPTION });
    else process.emitWarning(`@shipshape/logger: ${message}`, { code: UNKNOWN_OPTION });
  } catch {
    // A broken logger must not break the factory.
  }
}
