import { isAbsolute } from 'node:path';
import { parseBytes, positiveInt } from '../body.js';
import { describeValue } from '../edge.js';
import { optionError } from '../options.js';
import type { SecurityLogger } from '../types.js';
import type { WarningsOption } from '../warnings.js';
import { resolveType, type UploadFileType, type UploadFileTypeName } from './file-types.js';

export interface UploadGuardOptions {
  /**
   * Directory the files are stored in, under generated names. Must be absolute and should be
   * outside any static root. Created (recursively) on the first upload.
   */
  readonly dir: string;
  /**
   * Accepted file types: built-in names or custom `UploadFileType`s.
   * @default ['csv']
   */
  readonly types?: readonly (UploadFileTypeName | UploadFileType)[];
  /** Largest file (bytes or `'10mb'`); 413 the moment a file passes it. @default '10mb' */
  readonly maxFileSize?: number | string;
  /** Most files per request (413 beyond). @default 1 */
  readonly maxFiles?: number;
  /** Fewest files per request (400 below). Set 0 to make files optional. @default 1 */
  readonly minFiles?: number;
  /** Most non-file fields (413 beyond). @default 20 */
  readonly maxFields?: number;
  /** Most parts, files and fields together (413 beyond). @default 50 */
  readonly maxParts?: number;
  /** Most header lines in one part (413 beyond). @default 20 */
  readonly maxHeaderPairs?: number;
  /** Longest field name in bytes (413 beyond). @default 100 */
  readonly maxFieldNameSize?: number;
  /** Longest field value (bytes or `'64kb'`; 413 beyond). @default '64kb' */
  readonly maxFieldSize?: number | string;
  /** Longest original filename in bytes (400 beyond). @default 255 */
  readonly maxFilenameLength?: number;
  /** Longest sanitised display name in characters (longer names are shortened). @default 100 */
  readonly displayNameLength?: number;
  /** Field names allowed to carry files (400 for others). @default undefined (any) */
  readonly fileFields?: readonly string[];
  /**
   * Delete every stored file when the response finishes unless the route called `file.keep()`
   * (or moved it away). With `false` the route owns the files and must remove them.
   * @default true
   */
  readonly autoRemove?: boolean;
  /**
   * After a rejection, how long to keep discarding the rest of the client's body (so it can read
   * the 4xx) before the socket is destroyed.
   * @default 1000
   */
  readonly drainMs?: number;
  /**
   * Longest pause between two chunks of an upload before it is abandoned with 408
   * `UPLOAD_TIMEOUT` (slow clients that stall hold a file descriptor and a partial file).
   * `0` turns it off and leaves it to the server's `requestTimeout`.
   * @default 30000
   */
  readonly idleTimeoutMs?: number;
  /** Receives `upload_rejected` security events. @default undefined */
  readonly logger?: SecurityLogger;
  /** @default true */
  readonly warnings?: WarningsOption;
}

export const knownUploadOptions: { readonly [K in keyof Required<UploadGuardOptions>]: true } = {
  dir: true,
  types: true,
  maxFileSize: true,
  maxFiles: true,
  minFiles: true,
  maxFields: true,
  maxParts: true,
  maxHeaderPairs: true,
  maxFieldNameSize: true,
  maxFieldSize: true,
  maxFilenameLength: true,
  displayNameLength: true,
  fileFields: true,
  autoRemove: true,
  drainMs: true,
  idleTimeoutMs: true,
  logger: true,
  warnings: true,
};

/** `UploadGuardOptions` resolved and validated once, at factory time. */
export interface UploadConfig {
  dir: string;
  types: UploadFileType[];
  byExtension: Map<string, UploadFileType>;
  extensions: Set<string>;
  maxFileSize: number;
  maxFiles: number;
  minFiles: number;
  maxFields: number;
  maxParts: number;
  maxHeaderPairs: number;
  maxFieldNameSize: number;
  maxFieldSize: number;
  maxFilenameLength: number;
  displayNameLength: number;
  fileFields: Set<string> | undefined;
  autoRemove: boolean;
  drainMs: number;
  idleTimeoutMs: number;
}

export function resolveUploadConfig(options: UploadGuardOptions): UploadConfig {
  if (typeof options !== 'object' || options === null)
    throw optionError('@shipshape/security: uploadGuard() needs an options object with "dir"');
  if (typeof options.dir !== 'string' || !isAbsolute(options.dir))
    throw optionError(
      `@shipshape/security: uploadGuard "dir" must be an absolute directory path, got ${describeValue(options.dir)}`,
    );
  const rawTypes = options.types ?? ['csv'];
  if (!Array.isArray(rawTypes) || rawTypes.length === 0)
    throw optionError(
      `@shipshape/security: uploadGuard "types" must be a non-empty array, got ${describeValue(rawTypes)}`,
    );
  const types = rawTypes.map(resolveType);
  const byExtension = new Map<string, UploadFileType>();
  for (const type of types) for (const ext of type.extensions) byExtension.set(ext, type);
  const maxFiles = positiveInt(options.maxFiles, 1, 'uploadGuard "maxFiles"');
  const minFiles = options.minFiles ?? 1;
  if (!Number.isSafeInteger(minFiles) || minFiles < 0 || minFiles > maxFiles)
    throw optionError(
      `@shipshape/security: uploadGuard "minFiles" must be an integer from 0 to maxFiles (${maxFiles}), got ${describeValue(options.minFiles)}`,
    );
  const fileFields = options.fileFields;
  if (
    fileFields !== undefined &&
    (!Array.isArray(fileFields) || !fileFields.every((f) => typeof f === 'string'))
  )
    throw optionError(
      `@shipshape/security: uploadGuard "fileFields" must be an array of field names, got ${describeValue(fileFields)}`,
    );
  const drainMs = options.drainMs ?? 1000;
  if (typeof drainMs !== 'number' || !Number.isFinite(drainMs) || drainMs < 0)
    throw optionError(
      `@shipshape/security: uploadGuard "drainMs" must be a non-negative number, got ${describeValue(drainMs)}`,
    );
  const idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
  if (typeof idleTimeoutMs !== 'number' || !Number.isFinite(idleTimeoutMs) || idleTimeoutMs < 0)
    throw optionError(
      `@shipshape/security: uploadGuard "idleTimeoutMs" must be a non-negative number of milliseconds, got ${describeValue(idleTimeoutMs)}`,
    );
  return {
    idleTimeoutMs,
    dir: options.dir,
    types,
    byExtension,
    extensions: new Set(byExtension.keys()),
    maxFileSize: parseBytes(options.maxFileSize ?? '10mb', 'uploadGuard "maxFileSize"'),
    maxFiles,
    minFiles,
    maxFields: positiveInt(options.maxFields, 20, 'uploadGuard "maxFields"'),
    maxParts: positiveInt(options.maxParts, 50, 'uploadGuard "maxParts"'),
    maxHeaderPairs: positiveInt(options.maxHeaderPairs, 20, 'uploadGuard "maxHeaderPairs"'),
    maxFieldNameSize: positiveInt(options.maxFieldNameSize, 100, 'uploadGuard "maxFieldNameSize"'),
    maxFieldSize: parseBytes(options.maxFieldSize ?? '64kb', 'uploadGuard "maxFieldSize"'),
    maxFilenameLength: positiveInt(
      options.maxFilenameLength,
      255,
      'uploadGuard "maxFilenameLength"',
    ),
    displayNameLength: positiveInt(
      options.displayNameLength,
      100,
      'uploadGuard "displayNameLength"',
    ),
    fileFields: fileFields ? new Set(fileFields) : undefined,
    autoRemove: options.autoRemove ?? true,
    drainMs,
  };
}
