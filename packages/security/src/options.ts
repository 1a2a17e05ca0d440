/** The `code` of every error a factory of this package throws for a bad option. */
export const INVALID_OPTION = 'SHIPSHAPE_SECURITY_INVALID_OPTION';

/**
 * What a factory throws for a bad option: a `TypeError` whose message starts with
 * `@shipshape/security:`, names the factory and the option, shows the value and says what is
 * accepted, with a stable `code` to branch on.
 */
export interface SecurityOptionError extends TypeError {
  readonly code: typeof INVALID_OPTION;
}

export function optionError(message: string, options?: { cause?: unknown }): SecurityOptionError {
  const text = message.startsWith('@shipshape/security:')
    ? message
    : `@shipshape/security: ${message}`;
  const error = new TypeError(text, options) as TypeError & { code: typeof INVALID_OPTION };
  error.code = INVALID_OPTION;
  return error;
}
