// Turns anything handed to the logger into a JSON-safe, redacted value without ever throwing.

export const REDACTED = '[REDACTED]';

const DEFAULT_REDACT_KEYS = [
  'password',
  'passwd',
  'pwd',
  'secret',
  'token',
  'authorization',
  'proxyauthorization',
  'cookie',
  'setcookie',
  'apikey',
  'xapikey',
  'apisecret',
  'privatekey',
  'clientsecret',
  'creditcard',
  'creditcardnumber',
  'cardnumber',
  'ccnumber',
  'cc',
  'pan',
  'cvv',
  'cvc',
];

const SENSITIVE_SUFFIXES = ['password', 'secret', 'token', 'apikey'];

const MAX_DEPTH = 12;
const MAX_KEYS = 500;
const MAX_ARRAY = 500;

/** Lower-case and drop separators so `API-Key`, `api_key` and `apiKey` compare equal. */
export function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, '');
}

export interface RedactorConfig {
  readonly keys: ReadonlySet<string>;
  readonly secrets: readonly string[];
  readonly maxStringLength: number;
}

export function buildRedactorConfig(
  extraKeys: readonly string[],
  secrets: readonly string[],
  maxStringLength: number,
): RedactorConfig {
  const keys = new Set(DEFAULT_REDACT_KEYS);
  for (const key of extraKeys) keys.add(normalizeKey(key));
  // Longest first so a secret that contains another is replaced whole.
  const sorted = [...new Set(secrets)].sort((a, b) => b.length - a.length);
  return { keys, secrets: sorted, maxStringLength };
}

/** One sanitising pass; `truncated` tells whether any string had to be cut. */
export class Sanitizer {
  truncated = false;
  private readonly seen = new Set<object>();
  private readonly keyCache: Map<string, boolean>;

  constructor(
    private readonly config: RedactorConfig,
    keyCache: Map<string, boolean>,
  ) {
    this.keyCache = keyCache;
  }

  isSensitiveKey(key: string): boolean {
    const cached = this.keyCache.get(key);
    if (cached !== undefined) return cached;
    const normalized = normalizeKey(key);
    let sensitive = this.config.keys.has(normalized);
    if (!sensitive) {
      for (const suffix of SENSITIVE_SUFFIXES) {
        if (normalized.endsWith(suffix)) {
          sensitive = true;
          break;
        }
      }
    }
    // Bounded so a stream of random keys cannot grow memory.
    if (this.keyCache.size < 2000) this.keyCache.set(key, sensitive);
    return sensitive;
  }

  string(value: string): string {
    let out = value;
    for (const secret of this.config.secrets) {
      if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    }
    const max = this.config.maxStringLength;
    if (out.length > max) {
      this.truncated = true;
      out = `${out.slice(0, max)}…[+${out.length - max} chars]`;
    }
    return out;
  }

  value(value: unknown, depth = 0): unknown {
    switch (typeof value) {
      case 'string':
        return this.string(value);
      case 'number':
        return Number.isFinite(value) ? value : String(value);
      case 'boolean':
        return value;
      case 'bigint':
        return value.toString();
      case 'symbol':
        return this.string(value.toString());
      case 'undefined':
        return undefined;
      case 'function':
        return `[Function ${value.name || 'anonymous'}]`;
    }
    if (value === null) return null;
    const object = value as object;
    if (this.seen.has(object)) return '[Circular]';
    if (depth >= MAX_DEPTH) return Array.isArray(object) ? '[Array]' : '[Object]';
    this.seen.add(object);
    try {
      return this.objectValue(object, depth);
    } catch (error) {
      return `[Unserializable: ${this.string(String((error as Error)?.message ?? error))}]`;
    } finally {
      this.seen.delete(object);
    }
  }

  private objectValue(object: object, depth: number): unknown {
    if (object instanceof Error) return this.error(object, depth);
    if (object instanceof Date)
      return Number.isNaN(object.getTime()) ? 'Invalid Date' : object.toISOString();
    if (Array.isArray(object)) {
      const out: unknown[] = [];
      const n = Math.min(object.length, MAX_ARRAY);
      for (let i = 0; i < n; i++) {
        const item = this.value(object[i], depth + 1);
        out.push(item === undefined ? null : item);
      }
      if (object.length > n) {
        this.truncated = true;
        out.push(`…[+${object.length - n} items]`);
      }
      return out;
    }
    if (ArrayBuffer.isView(object))
      return `[${object.constructor.name} ${object.byteLength} bytes]`;
    if (object instanceof Map) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of object) this.assign(out, String(k), v, depth);
      return out;
    }
    if (object instanceof Set) return this.value([...object], depth);
    const toJSON = (object as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return this.value(toJSON.call(object), depth + 1);
    return this.plain(object as Record<string, unknown>, depth);
  }

  plain(object: Record<string, unknown>, depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    let count = 0;
    for (const key in object) {
      if (!Object.hasOwn(object, key)) continue;
      if (++count > MAX_KEYS) {
        this.truncated = true;
        out['…'] = 'more keys omitted';
        break;
      }
      this.assign(out, key, object[key], depth);
    }
    return out;
  }

  assign(out: Record<string, unknown>, key: string, raw: unknown, depth: number): void {
    if (raw === undefined) return;
    out[key] = this.isSensitiveKey(key) ? REDACTED : this.value(raw, depth + 1);
  }

  error(error: Error, depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {
      name: this.string(String(error.name)),
      message: this.string(String(error.message)),
    };
    if (typeof error.stack === 'string') out.stack = this.string(error.stack);
    const code = (error as { code?: unknown }).code;
    if (code !== undefined) out.code = this.value(code, depth + 1);
    for (const key of Object.keys(error)) {
      if (key === 'stack' || key === 'message' || key === 'name' || key === 'code') continue;
      // winston stamps `level` on an Error logged on its own.
      if (key === 'cause' || key === 'level') continue;
      this.assign(out, key, (error as unknown as Record<string, unknown>)[key], depth);
    }
    if ('cause' in error && error.cause !== undefined)
      out.cause = this.value(error.cause, depth + 1);
    if (error instanceof AggregateError && Array.isArray(error.errors))
      out.errors = this.value(error.errors, depth + 1);
    return out;
  }
}
