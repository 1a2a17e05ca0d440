import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type ApiKeyStore, createApiKey, type StoredApiKey } from '@shipshape/security';
import type { Role } from './roles.js';

export interface FileKey extends StoredApiKey {
  readonly createdAt: number;
}

/**
 * API keys created by `glass-standardizer-keys` (and the development admin key), hashed, in
 * `DATA_DIR/auth/api-keys.json` (mode 0600). The service re-reads the file when it changes, so
 * a key created or revoked by the command takes effect without a restart.
 */
export interface KeyFile extends ApiKeyStore {
  readonly path: string;
  list(): readonly FileKey[];
  /** Creates a key; returns it (shown once) and its record. */
  create(role: Role, name: string): { key: string; record: FileKey };
  /** Marks a key revoked; false when no such key. */
  revoke(id: string): boolean;
}

export const keyFilePath = (dataDir: string) => join(dataDir, 'auth', 'api-keys.json');

export function openKeyFile(dataDir: string): KeyFile {
  const path = keyFilePath(dataDir);
  let cached: { mtimeMs: number; size: number; keys: FileKey[] } | undefined;
  let checkedAt = 0;

  const read = (): FileKey[] => {
    const now = Date.now();
    if (cached && now - checkedAt < 1000) return cached.keys;
    checkedAt = now;
    let stat: { mtimeMs: number; size: number };
    try {
      stat = statSync(path);
    } catch {
      cached = { mtimeMs: 0, size: 0, keys: [] };
      return cached.keys;
    }
    if (cached && cached.mtimeMs === stat.mtimeMs && cached.size === stat.size) return cached.keys;
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as { keys?: FileKey[] };
    cached = {
      mtimeMs: stat.mtimeMs,
      size: stat.size,
      keys: Array.isArray(parsed.keys) ? parsed.keys : [],
    };
    return cached.keys;
  };

  const write = (keys: readonly FileKey[]) => {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ keys }, null, 2)}\n`, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, path);
    cached = undefined;
  };

  return {
    path,
    get: (id) => read().find((k) => k.id === id),
    list: () => read(),
    create(role, name) {
      const { key, record } = createApiKey({ prefix: 'glass', roles: [role], name });
      const stored: FileKey = { ...record, createdAt: Date.now() };
      cached = undefined;
      write([...read(), stored]);
      return { key, record: stored };
    },
    revoke(id) {
      cached = undefined;
      const keys = read();
      if (!keys.some((k) => k.id === id && k.revokedAt === undefined)) return false;
      write(keys.map((k) => (k.id === id ? { ...k, revokedAt: Date.now() } : k)));
      return true;
    },
  };
}
