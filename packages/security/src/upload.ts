import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, unlink } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { Readable } from 'node:stream';
import { Busboy, type BusboyHeaders, type BusboyInstance } from '@fastify/busboy';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { fileTypeFromBuffer } from 'file-type';
import { parseBytes, parseContentType, positiveInt } from './body.js';
import { describeValue } from './edge.js';
import { checkFilename, displayName } from './filename.js';
import { optionError } from './options.js';
import { SecurityError } from './problem.js';
import { checkXlsx, SNIFF_BYTES, type TextCharset, TextValidator } from './sniff.js';
import { emitSecurityEvent, type SecurityLogger } from './types.js';
import { createWarner, type WarningsOption, warnUnknownOptions } from './warnings.js';

/** How the content of a file type is verified. */
export type UploadContentCheck =
  /** Text: valid in `charset` (UTF-8 by default), no NUL byte, not a known binary format. */
  | { readonly kind: 'text'; readonly charset?: TextCharset }
  /** Binary: file-type must detect one of these extensions from the magic bytes. */
  | { readonly kind: 'binary'; readonly fileTypes: readonly string[] }
  /** A real OOXML workbook: a zip with `[Content_Types].xml` and `xl/` entries. */
  | { readonly kind: 'xlsx' };

/** A file type an upload may have: extension, declared MIME type and content must all agree. */
export interface UploadFileType {
  /** Shown in errors and reported as `detectedType` (a MIME type). */
  readonly mimeType: string;
  /** Lower-case with the dot: `['.csv']`. */
  readonly extensions: readonly string[];
  /** Declared part Content-Types accepted for it (browsers differ; e.g. Excel's CSV type). */
  readonly declaredTypes: readonly string[];
  readonly content: UploadContentCheck;
}

/** Built-in file types, selectable by name in `types`. */
export const uploadFileTypes = {
  csv: {
    mimeType: 'text/csv',
    extensions: ['.csv'],
    // curl -F and browsers without a registered handler declare application/octet-stream; the
    // content check below still requires text.
    declaredTypes: [
      'text/csv',
      'application/csv',
      'text/plain',
      'application/vnd.ms-excel',
      'application/octet-stream',
    ],
    content: { kind: 'text' },
  },
  tsv: {
    mimeType: 'text/tab-separated-values',
    extensions: ['.tsv', '.tab'],
    declaredTypes: ['text/tab-separated-values', 'text/plain'],
    content: { kind: 'text' },
  },
  txt: {
    mimeType: 'text/plain',
    extensions: ['.txt'],
    declaredTypes: ['text/plain'],
    content: { kind: 'text' },
  },
  json: {
    mimeType: 'application/json',
    extensions: ['.json'],
    declaredTypes: ['application/json', 'text/plain'],
    content: { kind: 'text' },
  },
  xlsx: {
    mimeType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    extensions: ['.xlsx'],
    // Browsers without a registered handler for .xlsx send application/octet-stream.
    declaredTypes: [
      'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
      'application/octet-stream',
    ],
    content: { kind: 'xlsx' },
  },
  png: {
    mimeType: 'image/png',
    extensions: ['.png'],
    declaredTypes: ['image/png'],
    content: { kind: 'binary', fileTypes: ['png'] },
  },
  jpeg: {
    mimeType: 'image/jpeg',
    extensions: ['.jpg', '.jpeg'],
    declaredTypes: ['image/jpeg'],
    content: { kind: 'binary', fileTypes: ['jpg'] },
  },
  pdf: {
    mimeType: 'application/pdf',
    extensions: ['.pdf'],
    declaredTypes: ['application/pdf'],
    content: { kind: 'binary', fileTypes: ['pdf'] },
  },
} as const satisfies Record<string, UploadFileType>;

export type UploadFileTypeName = keyof typeof uploadFileTypes;

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

const knownUploadOptions: { readonly [K in keyof Required<UploadGuardOptions>]: true } = {
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

/** One stored upload, as `req.files` lists it. */
export interface UploadedFile {
  /** Form field the file came in. */
  readonly field: string;
  /** Absolute path of the stored file (generated name inside `dir`). */
  readonly path: string;
  /** Generated file name (UUID + extension). */
  readonly storedName: string;
  /** Original name, sanitised for display only: never use it as a path. */
  readonly name: string;
  readonly size: number;
  /** Hex SHA-256 of the content. */
  readonly sha256: string;
  /** MIME type established from the content checks. */
  readonly detectedType: string;
  /** Content-Type the client declared for the part. */
  readonly declaredType: string;
  /** Lower-case extension with the dot. */
  readonly extension: string;
  /** Keep the file after the response (with `autoRemove`). */
  keep(): void;
  /** Delete the file now (ignores a file already moved away). */
  remove(): Promise<void>;
}

const filesKey = Symbol.for('shipshape.security.files');

/** The files `uploadGuard()` accepted for this request (also available as `req.files`). */
export function uploadedFiles(req: Request): readonly UploadedFile[] {
  return ((req as unknown as Record<symbol, unknown>)[filesKey] ?? []) as UploadedFile[];
}

interface UploadConfig {
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

function resolveType(t: UploadFileTypeName | UploadFileType): UploadFileType {
  if (typeof t === 'string') {
    const builtin = (uploadFileTypes as Record<string, UploadFileType>)[t];
    if (!builtin)
      throw optionError(
        `@shipshape/security: uploadGuard "types" has unknown type ${JSON.stringify(t)}; built-in types are ${Object.keys(uploadFileTypes).join(', ')}, or pass an UploadFileType object`,
      );
    return builtin;
  }
  const ok =
    typeof t === 'object' &&
    t !== null &&
    typeof t.mimeType === 'string' &&
    Array.isArray(t.extensions) &&
    t.extensions.length > 0 &&
    t.extensions.every((e) => typeof e === 'string' && /^\.[a-z0-9]+$/.test(e)) &&
    Array.isArray(t.declaredTypes) &&
    t.declaredTypes.length > 0 &&
    typeof t.content === 'object' &&
    t.content !== null &&
    ['text', 'binary', 'xlsx'].includes(t.content.kind);
  if (!ok)
    throw optionError(
      `@shipshape/security: uploadGuard "types" entries must be a built-in name or { mimeType, extensions: ['.ext'], declaredTypes, content: { kind: 'text' | 'binary' | 'xlsx' } }, got ${describeValue(t)}`,
    );
  return t;
}

function resolveUploadConfig(options: UploadGuardOptions): UploadConfig {
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

/**
 * Bytes a part's header section may take. The parser truncates longer headers silently (losing,
 * say, a Content-Type line after a long one); busboy 1.x refused them at 16 KiB, and so do we.
 */
const MAX_PART_HEADER_BYTES = 16 * 1024;

/**
 * Counts header lines and bytes of every multipart part as the bytes stream by (the parser has no
 * refusing limit of its own for either). Only header sections are walked byte by byte; bodies are
 * skipped with indexOf.
 */
class PartHeaderCounter {
  private readonly delimiter: Buffer;
  /** Tail of the previous chunk, so a delimiter split across chunks is still found. */
  private tail: Buffer;
  private inHeaders = false;
  /** Lines seen in the current header section; line 0 is the rest of the boundary line. */
  private lines = 0;
  private lineLength = 0;
  /** Bytes of the current header section, line ends included. */
  private headerBytes = 0;
  /** First two bytes of the boundary line: `--` marks the final boundary. */
  private lineStart = '';
  private done = false;

  constructor(
    boundary: string,
    private readonly maxPairs: number,
  ) {
    this.delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
    // The first boundary has no CRLF before it.
    this.tail = Buffer.from('\r\n');
  }

  /** Returns what is wrong when a part has too many header lines or bytes, else undefined. */
  push(chunk: Buffer): 'lines' | 'bytes' | undefined {
    if (this.done) return undefined;
    let pos = 0;
    if (!this.inHeaders) {
      const joined = Buffer.concat([this.tail, chunk.subarray(0, this.delimiter.length)]);
      const straddle = joined.indexOf(this.delimiter);
      const found = straddle !== -1 ? straddle - this.tail.length : chunk.indexOf(this.delimiter);
      if (found === -1 && straddle === -1) {
        this.keepTail(chunk);
        return undefined;
      }
      pos = found + this.delimiter.length;
      this.startHeaders();
    }
    while (pos < chunk.length) {
      if (!this.inHeaders) {
        const found = chunk.indexOf(this.delimiter, pos);
        if (found === -1) break;
        pos = found + this.delimiter.length;
        this.startHeaders();
        continue;
      }
      const byte = chunk[pos++] as number;
      if (++this.headerBytes > MAX_PART_HEADER_BYTES) return 'bytes';
      if (this.lines === 0 && this.lineLength < 2) {
        this.lineStart += String.fromCharCode(byte);
        if (this.lineStart === '--') {
          this.done = true;
          return undefined;
        }
      }
      if (byte === 10) {
        if (this.lineLength === 0 && this.lines > 0) {
          this.inHeaders = false;
          continue;
        }
        if (++this.lines - 1 > this.maxPairs) return 'lines';
        this.lineLength = 0;
      } else if (byte !== 13) this.lineLength++;
    }
    this.keepTail(chunk);
    return undefined;
  }

  private startHeaders(): void {
    this.inHeaders = true;
    this.lines = 0;
    this.lineLength = 0;
    this.headerBytes = 0;
    this.lineStart = '';
  }

  private keepTail(chunk: Buffer): void {
    const keep = this.delimiter.length - 1;
    this.tail =
      chunk.length >= keep
        ? Buffer.from(chunk.subarray(chunk.length - keep))
        : Buffer.concat([this.tail, chunk]).subarray(-keep);
  }
}

/**
 * Buffer of a file part's stream and of its write stream. While one `writev` runs on the libuv
 * thread pool the next chunks queue behind it; when that write is late (a busy machine), a small
 * buffer pauses the request, the client stalls and the upload goes in bursts (bench/upload, see
 * docs/benchmarks.md). Only data already received waits here: at most about 2 MB per upload.
 */
const FILE_BUFFER_BYTES = 1024 * 1024;

interface ActiveFile {
  path: string;
  stream: WriteStream | undefined;
  kept: boolean;
}

function waitClosed(stream: WriteStream): Promise<void> {
  if (stream.closed) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('close', () => resolve());
    stream.destroy();
  });
}

async function removeQuietly(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * Streaming multipart uploads with every limit enforced while the bytes arrive, type checks that
 * must all agree (extension, declared type, content), generated storage names and guaranteed
 * cleanup: on abort, error or rejection every partial file is deleted before the 4xx is sent.
 * Accepted files are in `req.files` (and `uploadedFiles(req)`), fields in `req.body`.
 */
export function uploadGuard(options: UploadGuardOptions): RequestHandler {
  const config = resolveUploadConfig(options);
  const warner = createWarner(options.logger, options.warnings);
  warnUnknownOptions(warner, 'uploadGuard', options, knownUploadOptions);
  const logger = options.logger;
  let dirReady: Promise<unknown> | undefined;

  return function uploadGuardMiddleware(req: Request, res: Response, next: NextFunction): void {
    const ct = parseContentType(req.headers['content-type']);
    if (ct?.mediaType !== 'multipart/form-data') {
      next(
        new SecurityError({
          status: 415,
          code: 'UNSUPPORTED_MEDIA_TYPE',
          detail: `Expected multipart/form-data, got ${ct ? JSON.stringify(ct.mediaType) : 'no Content-Type'}.`,
        }),
      );
      return;
    }
    const boundary = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(
      req.headers['content-type'] ?? '',
    );
    const boundaryValue = boundary?.[1] ?? boundary?.[2];
    if (!boundaryValue || boundaryValue.length > 70) {
      next(
        new SecurityError({
          status: 400,
          code: 'MALFORMED_MULTIPART',
          detail: 'The multipart Content-Type has no valid boundary parameter.',
        }),
      );
      return;
    }
    dirReady ??= mkdir(config.dir, { recursive: true, mode: 0o700 });
    dirReady.then(
      () =>
        handleUpload(req, res, next, config, boundaryValue, logger, () => {
          // The directory vanished (cleaned up by an operator?): create it again next time.
          dirReady = undefined;
        }),
      (err: unknown) => {
        dirReady = undefined;
        next(err);
      },
    );
  };
}

function handleUpload(
  req: Request,
  res: Response,
  next: NextFunction,
  config: UploadConfig,
  boundary: string,
  logger: SecurityLogger | undefined,
  dirMissing: () => void,
): void {
  if (req.destroyed) {
    // Aborted while the directory was being created: nothing was written.
    next(
      new SecurityError({
        status: 400,
        code: 'UPLOAD_ABORTED',
        detail: 'The client aborted the upload.',
      }),
    );
    return;
  }
  const active: ActiveFile[] = [];
  const accepted: (UploadedFile & { order: number })[] = [];
  const fields: Record<string, unknown> = {};
  const pending = new Set<Promise<void>>();
  let settled = false;
  let busboyClosed = false;
  let bytesReceived = 0;
  let currentFile: { field: string; name: string } | undefined;
  let fileIndex = 0;

  let bb: BusboyInstance;
  try {
    // @fastify/busboy, the maintained fork of busboy: it finds part boundaries with the native
    // Buffer#indexOf where busboy 1.x runs a JavaScript search (100 MB: ~9 ms against 56-190 ms,
    // docs/benchmarks.md).
    bb = new Busboy({
      headers: req.headers as BusboyHeaders,
      preservePath: true,
      // Request side: 256 kB instead of 16 kB; 1 MB here bought nothing measurable.
      highWaterMark: 256 * 1024,
      fileHwm: FILE_BUFFER_BYTES,
      limits: {
        // Bytes are counted below (413 at maxFileSize + 1); this limit only stops the parser
        // from passing on more than that.
        fileSize: config.maxFileSize + 1,
        files: config.maxFiles,
        fields: config.maxFields,
        parts: config.maxParts,
        fieldNameSize: config.maxFieldNameSize,
        fieldSize: config.maxFieldSize,
      },
    });
  } catch (err) {
    next(
      new SecurityError({
        status: 400,
        code: 'MALFORMED_MULTIPART',
        detail: `The multipart request cannot be parsed: ${(err as Error).message}`,
      }),
    );
    return;
  }
  const counter = new PartHeaderCounter(boundary, config.maxHeaderPairs);
  // A bug in a handler must become a 500 for this request, never an uncaught exception.
  const guarded =
    <A extends unknown[]>(fn: (...args: A) => void) =>
    (...args: A): void => {
      try {
        fn(...args);
      } catch (err) {
        for (const arg of args)
          if (arg && typeof (arg as Readable).resume === 'function') (arg as Readable).resume();
        fail(
          new SecurityError({
            status: 500,
            code: 'UPLOAD_FAILED',
            detail: `The upload could not be processed: ${(err as Error).message}`,
            cause: err,
          }),
          'internal_error',
        );
      }
    };

  let idleTimer: NodeJS.Timeout | undefined;
  const armIdleTimer = () => {
    if (config.idleTimeoutMs === 0) return;
    if (idleTimer) idleTimer.refresh();
    else {
      idleTimer = setTimeout(
        () =>
          fail(
            new SecurityError({
              status: 408,
              code: 'UPLOAD_TIMEOUT',
              detail: `No upload data arrived for ${config.idleTimeoutMs} ms.`,
            }),
            'upload_timeout',
          ),
        config.idleTimeoutMs,
      );
      idleTimer.unref();
    }
  };
  const fail = (err: SecurityError, reason: string): void => {
    if (settled) return;
    settled = true;
    clearTimeout(idleTimer);
    req.off('data', onData);
    req.unpipe(bb);
    bb.removeAllListeners('file');
    bb.removeAllListeners('field');
    bb.on('error', () => {});
    const incomplete = !req.complete;
    if (incomplete) {
      // Tell the client we will not read the rest; keep discarding for drainMs so it can read
      // the answer, then close the connection.
      res.setHeader('Connection', 'close');
      res.once('finish', () => {
        if (req.complete) return;
        req.resume();
        const timer = setTimeout(() => {
          if (!req.complete) req.socket?.destroy();
        }, config.drainMs);
        timer.unref();
        req.once('end', () => clearTimeout(timer));
      });
    }
    emitSecurityEvent(logger, 'upload_rejected', {
      reason,
      status: err.status,
      code: err.code,
      ...(currentFile ? { field: currentFile.field, filename: currentFile.name } : {}),
      bytesReceived,
      method: req.method,
      path: req.originalUrl.split('?')[0],
    });
    const cleanup = Promise.all(
      [...active, ...accepted.map((f) => ({ path: f.path, stream: undefined, kept: false }))].map(
        async (file) => {
          if (file.stream) await waitClosed(file.stream);
          await removeQuietly(file.path);
        },
      ),
    );
    cleanup.then(
      () => next(err),
      (cleanupErr: unknown) => next(cleanupErr),
    );
  };

  const tooLarge = (what: string, code: string) =>
    fail(new SecurityError({ status: 413, code, detail: what }), code.toLowerCase());
  const unsupported = (detail: string) =>
    fail(new SecurityError({ status: 415, code: 'UNSUPPORTED_FILE_TYPE', detail }), 'file_type');
  const invalid = (detail: string, code = 'INVALID_UPLOAD') =>
    fail(new SecurityError({ status: 400, code, detail }), code.toLowerCase());

  const maybeFinish = (): void => {
    if (settled || !busboyClosed || pending.size > 0) return;
    if (accepted.length < config.minFiles) {
      invalid(
        `Expected at least ${config.minFiles} file(s), got ${accepted.length}.`,
        'MISSING_FILE',
      );
      return;
    }
    settled = true;
    clearTimeout(idleTimer);
    // In part order, whatever order their checks finished in.
    const files: UploadedFile[] = accepted
      .sort((a, b) => a.order - b.order)
      .map(({ order: _order, ...file }) => file);
    (req as unknown as Record<symbol, unknown>)[filesKey] = files;
    (req as Request & { files?: unknown }).files = files;
    req.body = fields;
    if (config.autoRemove)
      res.once('close', () => {
        for (const f of files) if (!keptPaths.has(f.path)) removeQuietly(f.path).catch(() => {});
      });
    next();
  };
  const keptPaths = new Set<string>();

  bb.on(
    'file',
    guarded(
      (
        rawField: string | undefined,
        stream: Readable,
        filename: string | undefined,
        transferEncoding: string | undefined,
        mimeType: string | undefined,
      ) => {
        const field = rawField ?? '';
        if (settled) {
          stream.resume();
          return;
        }
        const rawName = filename ?? '';
        currentFile = { field, name: displayName(rawName, config.displayNameLength) };
        if (Buffer.byteLength(field) > config.maxFieldNameSize) {
          stream.resume();
          tooLarge(
            `A field name is longer than ${config.maxFieldNameSize} bytes.`,
            'FIELD_NAME_TOO_LONG',
          );
          return;
        }
        if (!field) {
          stream.resume();
          invalid('A file part has an empty field name.', 'INVALID_FIELD_NAME');
          return;
        }
        if (config.fileFields && !config.fileFields.has(field)) {
          stream.resume();
          invalid(`Field ${JSON.stringify(field)} does not accept files.`, 'UNEXPECTED_FILE_FIELD');
          return;
        }
        const nameCheck = checkFilename(rawName, config.extensions, config.maxFilenameLength);
        if (nameCheck.invalid) {
          stream.resume();
          invalid(`The file name ${nameCheck.invalid}.`, 'INVALID_FILENAME');
          return;
        }
        if (nameCheck.badExtension) {
          stream.resume();
          unsupported(
            `The file name ${nameCheck.badExtension}; accepted: ${[...config.extensions].join(', ')}.`,
          );
          return;
        }
        const type = config.byExtension.get(nameCheck.extension) as UploadFileType;
        const declared = (mimeType ?? '').toLowerCase();
        if (!type.declaredTypes.includes(declared)) {
          stream.resume();
          unsupported(
            `The declared type ${JSON.stringify(declared)} does not match a ${nameCheck.extension} file (expected ${type.declaredTypes.join(' or ')}).`,
          );
          return;
        }
        if (
          transferEncoding &&
          !['7bit', '8bit', 'binary'].includes(transferEncoding.toLowerCase())
        ) {
          stream.resume();
          invalid(
            `Content-Transfer-Encoding ${JSON.stringify(transferEncoding)} is not supported.`,
            'MALFORMED_MULTIPART',
          );
          return;
        }

        const order = fileIndex++;
        const storedName = `${randomUUID()}${nameCheck.extension}`;
        const path = join(config.dir, storedName);
        const out = createWriteStream(path, {
          flags: 'wx',
          mode: 0o600,
          highWaterMark: FILE_BUFFER_BYTES,
        });
        const file: ActiveFile = { path, stream: out, kept: false };
        active.push(file);
        const hash = createHash('sha256');
        const text =
          type.content.kind === 'text'
            ? new TextValidator(type.content.charset ?? 'utf-8')
            : undefined;
        const head: Buffer[] = [];
        let headLength = 0;
        let size = 0;
        let sniff: Promise<string | undefined> | undefined;
        const display = currentFile.name;

        const sniffHead = (): Promise<string | undefined> =>
          fileTypeFromBuffer(Buffer.concat(head, headLength)).then((found) => {
            if (type.content.kind === 'text')
              return found ? `looks like ${found.ext} content, not text` : undefined;
            if (type.content.kind === 'xlsx')
              return found && (found.ext === 'xlsx' || found.ext === 'zip')
                ? undefined
                : `is not a zip-based workbook (content looks like ${found?.ext ?? 'unknown data'})`;
            return found && type.content.fileTypes.includes(found.ext)
              ? undefined
              : `content looks like ${found?.ext ?? 'unknown data'}, not ${type.content.fileTypes.join('/')}`;
          });

        stream.on('data', (chunk: Buffer) => {
          if (settled) return;
          size += chunk.length;
          if (size > config.maxFileSize) {
            tooLarge(
              `The file exceeds the limit of ${config.maxFileSize} bytes.`,
              'FILE_TOO_LARGE',
            );
            return;
          }
          hash.update(chunk);
          if (text) {
            const problem = text.push(chunk);
            if (problem) {
              unsupported(`The file ${display} ${problem}.`);
              return;
            }
          }
          if (headLength < SNIFF_BYTES) {
            const piece = chunk.subarray(0, SNIFF_BYTES - headLength);
            head.push(piece);
            headLength += piece.length;
            if (headLength >= SNIFF_BYTES) sniff = sniffHead();
          }
        });
        stream.on('limit', () =>
          tooLarge(`The file exceeds the limit of ${config.maxFileSize} bytes.`, 'FILE_TOO_LARGE'),
        );
        stream.on('error', (err: Error) =>
          invalid(`The upload was cut short: ${err.message}.`, 'MALFORMED_MULTIPART'),
        );
        out.on('error', (err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') dirMissing();
          fail(
            new SecurityError({
              status: 500,
              code: 'UPLOAD_STORAGE_FAILED',
              detail: `Could not store the upload: ${err.message}`,
              cause: err,
            }),
            'storage_error',
          );
        });
        stream.pipe(out);

        const finished = new Promise<void>((resolve) => {
          out.once('close', () => resolve());
        }).then(async () => {
          if (settled) return;
          if (size === 0) {
            invalid(`The file ${display} is empty.`, 'EMPTY_FILE');
            return;
          }
          const problem =
            (await (sniff ?? sniffHead())) ??
            text?.end() ??
            (type.content.kind === 'xlsx' ? await checkXlsx(path) : undefined);
          if (settled) return;
          if (problem) {
            unsupported(`The file ${display} ${problem}.`);
            return;
          }
          active.splice(active.indexOf(file), 1);
          accepted.push({
            order,
            field,
            path,
            storedName,
            name: display,
            size,
            sha256: hash.digest('hex'),
            detectedType: type.mimeType,
            declaredType: declared,
            extension: nameCheck.extension,
            keep: () => {
              keptPaths.add(path);
            },
            remove: () => removeQuietly(path),
          });
        });
        const tracked = finished.catch((err: unknown) =>
          fail(
            new SecurityError({
              status: 500,
              code: 'UPLOAD_CHECK_FAILED',
              detail: `Could not check the upload: ${(err as Error).message}`,
              cause: err,
            }),
            'check_error',
          ),
        );
        pending.add(tracked);
        tracked.then(() => {
          pending.delete(tracked);
          maybeFinish();
        });
      },
    ),
  );

  bb.on(
    'field',
    guarded(
      (
        rawName: string | undefined,
        value: string,
        _nameTruncated: boolean,
        valueTruncated: boolean,
      ) => {
        const name = rawName ?? '';
        if (settled) return;
        // The parser does not apply fieldNameSize to multipart names: measure them here.
        if (Buffer.byteLength(name) > config.maxFieldNameSize) {
          tooLarge(
            `A field name is longer than ${config.maxFieldNameSize} bytes.`,
            'FIELD_NAME_TOO_LONG',
          );
          return;
        }
        if (valueTruncated) {
          tooLarge(
            `Field ${JSON.stringify(name)} is longer than ${config.maxFieldSize} bytes.`,
            'FIELD_TOO_LARGE',
          );
          return;
        }
        if (!name) {
          invalid('A form field has an empty name.', 'INVALID_FIELD_NAME');
          return;
        }
        if (name === '__proto__' || name === 'constructor' || name === 'prototype') {
          invalid(`Field name ${JSON.stringify(name)} is not accepted.`, 'FORBIDDEN_KEY');
          return;
        }
        const existing = Object.hasOwn(fields, name) ? fields[name] : undefined;
        if (existing === undefined) fields[name] = value;
        else if (Array.isArray(existing)) existing.push(value);
        else fields[name] = [existing, value];
      },
    ),
  );
  bb.on('filesLimit', () =>
    tooLarge(`More than ${config.maxFiles} file(s) in one request.`, 'TOO_MANY_FILES'),
  );
  bb.on('fieldsLimit', () =>
    tooLarge(`More than ${config.maxFields} field(s) in one request.`, 'TOO_MANY_FIELDS'),
  );
  bb.on('partsLimit', () =>
    tooLarge(`More than ${config.maxParts} part(s) in one request.`, 'TOO_MANY_PARTS'),
  );
  bb.on('error', (err: Error) =>
    invalid(`Malformed multipart body: ${err.message}.`, 'MALFORMED_MULTIPART'),
  );
  bb.on('finish', () => {
    busboyClosed = true;
    maybeFinish();
  });

  const onData = (chunk: Buffer) => {
    armIdleTimer();
    bytesReceived += chunk.length;
    const headerProblem = counter.push(chunk);
    if (headerProblem === 'lines')
      tooLarge(
        `A part has more than ${config.maxHeaderPairs} header lines.`,
        'TOO_MANY_PART_HEADERS',
      );
    else if (headerProblem === 'bytes')
      invalid(
        `Malformed multipart body: a part's header is larger than ${MAX_PART_HEADER_BYTES} bytes.`,
        'MALFORMED_MULTIPART',
      );
  };
  req.on('data', onData);
  req.once('close', () => {
    if (!req.complete) invalid('The client aborted the upload.', 'UPLOAD_ABORTED');
  });
  armIdleTimer();
  // Once every byte is in, only our own checks remain: they are not the client's idleness.
  req.once('end', () => clearTimeout(idleTimer));
  req.pipe(bb);
}
