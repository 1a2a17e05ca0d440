import type { GlassStorage } from '../types.js';
import { createPostgresStorage } from './postgres.js';
import { createSqliteStorage } from './sqlite.js';

/**
 * How to open a storage, as plain data: a worker thread opens its own connection from it (a
 * connection cannot cross threads).
 */
export type StorageDescriptor =
  | { readonly kind: 'sqlite'; readonly filename: string }
  | { readonly kind: 'postgres'; readonly connectionString: string; readonly schema: string };

export interface OpenStorageOptions {
  /** Errors of idle or checked-out PostgreSQL connections (expected while the server restarts). */
  readonly onConnectionError?: (err: Error) => void;
}

export function openStorage(
  descriptor: StorageDescriptor,
  options: OpenStorageOptions = {},
): GlassStorage {
  return descriptor.kind === 'sqlite'
    ? createSqliteStorage({ filename: descriptor.filename })
    : createPostgresStorage({
        connectionString: descriptor.connectionString,
        schema: descriptor.schema,
        ...(options.onConnectionError ? { onConnectionError: options.onConnectionError } : {}),
      });
}
