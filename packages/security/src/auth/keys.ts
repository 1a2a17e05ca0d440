import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { describeValue } from '../edge.js';
import { optionError } from '../options.js';
import { createWarner, warnUnknownOptions } from '../warnings.js';
import type { ApiKeyStore, CredentialCheck, CredentialSource, StoredApiKey } from './types.js';

const KEY_FORMAT = /^([a-z][a-z0-9]{0,15})_([0-9a-f]{8,16})_([A-Za-z0-9_-]{32,})$/;
const HASH_FORMAT = /^sha256:[0-9a-f]{64}$/;

function fail(where: string, option: string, want: string, got: unknown): never {
  throw optionError(
    `@shipshape/security: ${where} "${option}" must be ${want}, got ${describeValue(got)}`,
  );
}

/** `sha256:<hex>` of a key: what a key store keeps instead of the key. */
export function hashApiKey(key: string): string {
  return `sha256:${createHash('sha256').update(key, 'utf8').digest('hex')}`;
}

/**
 * The id a key is stored and logged under: the non-secret `prefix_id` part of a key made by
 * `createApiKey()`, or `token_` + 12 hex digits of its SHA-256 for any other token (an
 * `ADMIN_TOKEN` chosen by hand), so no part of the secret itself is ever logged.
 */
export function apiKeyId(key: string): string {
  const match = KEY_FORMAT.exec(key);
  if (match) return `${match[1]}_${match[2]}`;
  return `token_${createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 12)}`;
}

export interface CreateApiKeyOptions {
  /** Lower-case letters and digits, starting with a letter, at most 16. @default 'key' */
  readonly prefix?: string;
  readonly roles: readonly string[];
  readonly name?: string;
  /** Epoch ms after which the key is refused. @default never */
  readonly expiresAt?: number;
}

/**
 * A new random key (`<prefix>_<8 hex id>_<43 characters, 256 bits>`) and the record to store for
 * it. Show the key once; keep only the record.
 */
export function createApiKey(options: CreateApiKeyOptions): { key: string; record: StoredApiKey } {
  if (typeof options !== 'object' || options === null)
    fail('createApiKey', 'options', 'an object with "roles"', options);
  warnUnknownOptions(
    createWarner(undefined, undefined),
    'createApiKey',
    options,
    knownCreateApiKeyOptions,
  );
  const prefix = options.prefix ?? 'key';
  if (typeof prefix !== 'string' || !/^[a-z][a-z0-9]{0,15}$/.test(prefix))
    fail(
      'createApiKey',
      'prefix',
      'lower-case letters and digits starting with a letter (at most 16)',
      prefix,
    );
  if (
    !Array.isArray(options.roles) ||
    !options.roles.every((r) => typeof r === 'string' && r !== '')
  )
    fail('createApiKey', 'roles', 'an array of role names', options.roles);
  const key = `${prefix}_${randomBytes(4).toString('hex')}_${randomBytes(32).toString('base64url')}`;
  const record: StoredApiKey = {
    id: apiKeyId(key),
    hash: hashApiKey(key),
    roles: [...options.roles],
    ...(options.name !== undefined ? { name: options.name } : {}),
    ...(options.expiresAt !== undefined ? { expiresAt: options.expiresAt } : {}),
  };
  return { key, record };
}

function checkRecord(record: unknown, where: string): StoredApiKey {
  const r = record as Partial<StoredApiKey> | null;
  if (typeof r !== 'object' || r === null)
    fail(where, 'keys[]', 'key records { id, hash, roles }', record);
  if (typeof r.id !== 'string' || r.id === '') fail(where, 'keys[].id', 'a non-empty string', r.id);
  if (typeof r.hash !== 'string' || !HASH_FORMAT.test(r.hash))
    fail(
      where,
      `keys[${r.id}].hash`,
      '"sha256:" followed by 64 hex digits (hashApiKey(key))',
      r.hash,
    );
  if (!Array.isArray(r.roles) || !r.roles.every((x) => typeof x === 'string'))
    fail(where, `keys[${r.id}].roles`, 'an array of role names', r.roles);
  return r as StoredApiKey;
}

/** An in-memory key store, e.g. filled from configuration; `revoke` takes effect at once. */
export interface MemoryKeyStore extends ApiKeyStore {
  get(id: string): StoredApiKey | undefined;
  /** Adds or replaces a key record. */
  add(record: StoredApiKey): void;
  /** Marks a key revoked; resolves whether it existed. */
  revoke(id: string, at?: number): boolean;
  /** Every record (hashes included, never keys). */
  list(): readonly StoredApiKey[];
}

export function memoryKeyStore(keys: readonly StoredApiKey[] = []): MemoryKeyStore {
  if (!Array.isArray(keys)) fail('memoryKeyStore', 'keys', 'an array of key records', keys);
  const records = new Map<string, StoredApiKey>();
  for (const record of keys) {
    const checked = checkRecord(record, 'memoryKeyStore');
    if (records.has(checked.id)) fail('memoryKeyStore', 'keys[].id', 'unique', checked.id);
    records.set(checked.id, { ...checked, roles: [...checked.roles] });
  }
  return {
    get: (id) => records.get(id),
    add(record) {
      const checked = checkRecord(record, 'memoryKeyStore.add');
      records.set(checked.id, { ...checked, roles: [...checked.roles] });
    },
    revoke(id, at = Date.now()) {
      const record = records.get(id);
      if (!record) return false;
      records.set(id, { ...record, revokedAt: at });
      return true;
    },
    list: () => [...records.values()],
  };
}

const knownCreateApiKeyOptions: { readonly [K in keyof Required<CreateApiKeyOptions>]: true } = {
  prefix: true,
  roles: true,
  name: true,
  expiresAt: true,
};

export interface ApiKeysOptions {
  /** Where keys are looked up by id. */
  readonly store: ApiKeyStore;
  /**
   * Headers the key is read from: `authorization` (`Bearer <key>`) and/or `x-api-key`.
   * @default ['authorization', 'x-api-key']
   */
  readonly headers?: readonly ('authorization' | 'x-api-key')[];
  /** Source name in principals and logs. @default 'apiKey' */
  readonly name?: string;
}

const knownApiKeysOptions: { readonly [K in keyof Required<ApiKeysOptions>]: true } = {
  store: true,
  headers: true,
  name: true,
};

/** Reads `Authorization: Bearer <token>` (scheme case-insensitive). */
export function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (typeof header !== 'string' || header.length < 8) return undefined;
  if (header.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
  const token = header.slice(7).trim();
  return token === '' ? undefined : token;
}

const looksLikeJwt = (credential: string) => /^[\w-]+\.[\w-]+\.[\w-]*$/.test(credential);

function digestEquals(expectedHash: string, key: string): boolean {
  const expected = Buffer.from(expectedHash.slice(7), 'hex');
  const given = createHash('sha256').update(key, 'utf8').digest();
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/**
 * API keys / static bearer tokens. Only hashes are stored; the presented key is hashed and
 * compared in constant time. Revoked and expired keys are refused and count as misuse.
 */
export function apiKeys(options: ApiKeysOptions): CredentialSource {
  if (typeof options !== 'object' || options === null)
    fail('apiKeys', 'options', 'an object with "store"', options);
  warnUnknownOptions(createWarner(undefined, undefined), 'apiKeys', options, knownApiKeysOptions);
  const store = options.store;
  if (typeof store?.get !== 'function') fail('apiKeys', 'store', 'an object with get(id)', store);
  const headers = options.headers ?? ['authorization', 'x-api-key'];
  if (
    !Array.isArray(headers) ||
    headers.length === 0 ||
    !headers.every((h) => h === 'authorization' || h === 'x-api-key')
  )
    fail('apiKeys', 'headers', "a non-empty list of 'authorization' and 'x-api-key'", headers);
  const fromAuthorization = headers.includes('authorization');
  const fromHeader = headers.includes('x-api-key');
  const name = options.name ?? 'apiKey';

  const lookup = async (id: string): Promise<StoredApiKey | undefined> => store.get(id);

  return {
    name,
    read(req) {
      if (fromAuthorization) {
        const token = bearerToken(req);
        if (token !== undefined) return token;
      }
      if (fromHeader) {
        const value = req.headers['x-api-key'];
        if (typeof value === 'string' && value !== '') return value;
      }
      return undefined;
    },
    async verify(credential): Promise<CredentialCheck | undefined> {
      if (looksLikeJwt(credential)) return undefined;
      const id = apiKeyId(credential);
      const account = `key:${id}`;
      let record: StoredApiKey | undefined;
      try {
        record = await lookup(id);
      } catch (error) {
        return {
          ok: false,
          reason: `key store failed: ${error instanceof Error ? error.message : String(error)}`,
          account,
          count: false,
          unavailable: true,
        };
      }
      if (!record) return { ok: false, reason: 'unknown key', account };
      if (!digestEquals(record.hash, credential))
        return { ok: false, reason: 'wrong key secret', account };
      if (record.revokedAt !== undefined)
        return { ok: false, reason: 'revoked key', account, code: 'AUTH_REVOKED' };
      if (record.expiresAt !== undefined && record.expiresAt <= Date.now())
        return { ok: false, reason: 'expired key', account, code: 'AUTH_EXPIRED' };
      return {
        ok: true,
        principal: {
          id: `key:${record.id}`,
          name: record.name ?? record.id,
          roles: record.roles,
          ...(record.expiresAt !== undefined ? { expiresAt: record.expiresAt } : {}),
        },
      };
    },
    async active(principalId) {
      if (!principalId.startsWith('key:')) return true;
      const record = await lookup(principalId.slice(4));
      return (
        record !== undefined &&
        record.revokedAt === undefined &&
        (record.expiresAt === undefined || record.expiresAt > Date.now())
      );
    },
  } satisfies CredentialSource & { read(req: IncomingMessage): string | undefined };
}
