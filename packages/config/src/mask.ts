// Credentials inside URLs (`scheme://user:password@host`), wherever a configuration value is shown.

/** Shown instead of the password (or the token) inside a URL's userinfo. */
export const MASKED = '***';

// The authority ends at the first "/", "?", "#" or "\" (WHATWG); its userinfo ends at the last "@"
// before that, so an unencoded "@" in a password is still inside the masked part.
const WHOLE_VALUE = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#\\]*)@/i;
// Inside longer text (a JSON value, a list item with spaces around it) a URL ends at whitespace.
const IN_TEXT = /([a-z][a-z0-9+.-]*:\/\/)([^/?#\\\s]*)@/gi;

/**
 * `user:password` → `user:***`, `:password` → `:***`; a userinfo without a password
 * (`https://token@host`) is masked whole (`***`), since that form usually carries a token.
 */
function maskUserinfo(userinfo: string): string {
  if (userinfo === '') return userinfo;
  const colon = userinfo.indexOf(':');
  if (colon === -1) return MASKED;
  return `${userinfo.slice(0, colon)}:${MASKED}`;
}

/** Masks the credentials of every URL in `text`; text without them comes back unchanged. */
export function maskUrlCredentials(text: string): string {
  if (!text.includes('://') || !text.includes('@')) return text;
  return text
    .replace(WHOLE_VALUE, (_m, scheme: string, userinfo: string) => {
      return `${scheme}${maskUserinfo(userinfo)}@`;
    })
    .replace(IN_TEXT, (match, scheme: string, userinfo: string) =>
      userinfo.includes(MASKED) ? match : `${scheme}${maskUserinfo(userinfo)}@`,
    );
}

/**
 * For values that failed validation (they may not parse as URLs at all): everything between the
 * scheme (`scheme://`, a mistyped `scheme//`, or the start) and the last `@` is masked, whatever
 * it contains.
 */
export function maskInvalidValue(text: string): string {
  const at = text.lastIndexOf('@');
  if (at === -1) return text;
  const scheme = text.indexOf('://');
  const slashes = text.indexOf('//');
  const start = scheme !== -1 ? scheme + 3 : slashes !== -1 ? slashes + 2 : 0;
  if (at < start) return maskUrlCredentials(text);
  return `${text.slice(0, start)}${MASKED}${text.slice(at)}`;
}

/** Applies `mask` to every string in a value (arrays and plain objects are copied, not changed). */
export function maskDeep(value: unknown, mask: (text: string) => string): unknown {
  if (typeof value === 'string') return mask(value);
  if (Array.isArray(value)) {
    let changed = false;
    const out = value.map((item) => {
      const masked = maskDeep(item, mask);
      if (masked !== item) changed = true;
      return masked;
    });
    return changed ? out : value;
  }
  if (
    typeof value === 'object' &&
    value !== null &&
    Object.getPrototypeOf(value) === Object.prototype
  ) {
    let changed = false;
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      const masked = maskDeep(item, mask);
      if (masked !== item) changed = true;
      out[key] = masked;
    }
    return changed ? out : value;
  }
  return value;
}

/**
 * The credentials found in URLs inside `value` (passwords, and tokens written as a lone userinfo),
 * as written and percent-decoded, for scrubbing log lines.
 */
export function urlCredentials(value: unknown, out: Set<string>): void {
  if (typeof value === 'string') {
    if (!value.includes('://') || !value.includes('@')) return;
    const found: string[] = [];
    const whole = WHOLE_VALUE.exec(value);
    if (whole?.[2]) found.push(whole[2]);
    for (const match of value.matchAll(IN_TEXT)) if (match[2]) found.push(match[2]);
    for (const userinfo of found) {
      const colon = userinfo.indexOf(':');
      const secret = colon === -1 ? userinfo : userinfo.slice(colon + 1);
      if (secret === '') continue;
      out.add(secret);
      try {
        const decoded = decodeURIComponent(secret);
        if (decoded !== '') out.add(decoded);
      } catch {
        // Not valid percent-encoding: the raw form is all there is.
      }
    }
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value) urlCredentials(item, out);
    return;
  }
  if (typeof value === 'object' && value !== null) {
    for (const item of Object.values(value)) urlCredentials(item, out);
  }
}
