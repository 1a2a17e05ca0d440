import { createHash } from 'node:crypto';
import { CacheError, show } from './errors.js';

// Printable ASCII without space and without Redis glob characters (* ? [ ] \).
const PRINTABLE = /^[\x21-\x7e]+$/;
const GLOB = /[*?[\]\\]/;

/**
 * Maps a caller's key to a storage key inside the namespace. Short, plain keys stay readable;
 * long or odd ones (spaces, unicode, control or glob characters) become a SHA-256, so a 10 kB
 * key costs 64 bytes in Redis and can never escape its namespace.
 */
export function storageKey(
  namespace: string,
  kind: 'k' | 't',
  key: unknown,
  maxLength: number,
): string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new CacheError(
      'INVALID_KEY',
      `a cache ${kind === 'k' ? 'key' : 'tag'} must be a non-empty string, got ${show(key)}`,
    );
  }
  if (key.length <= maxLength && PRINTABLE.test(key) && !GLOB.test(key))
    return `${namespace}${kind}:${key}`;
  return `${namespace}${kind}#${createHash('sha256').update(key).digest('base64url')}`;
}
