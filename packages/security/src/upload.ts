import { randomUUID } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Busboy, type BusboyHeaders, type BusboyInstance } from '@fastify/busboy';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { parseContentType } from './body.js';
import { displayName } from './filename.js';
import { SecurityError } from './problem.js';
import { emitSecurityEvent, type SecurityLogger } from './types.js';
import {
  checkFilePart,
  FileContentCheck,
  fileTooLarge,
  invalid,
  tooLarge,
  type UploadRejection,
} from './upload/file-checks.js';
import {
  knownUploadOptions,
  resolveUploadConfig,
  type UploadConfig,
  type UploadGuardOptions,
} from './upload/options.js';
import { MAX_PART_HEADER_BYTES, PartHeaderCounter } from './upload/part-headers.js';
import { createWarner, warnUnknownOptions } from './warnings.js';

export type {
  UploadContentCheck,
  UploadFileType,
  UploadFileTypeName,
} from './upload/file-types.js';
export { uploadFileTypes } from './upload/file-types.js';
export type { UploadGuardOptions } from './upload/options.js';

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

  const reject = (rejection: UploadRejection): void =>
    fail(
      new SecurityError({
        status: rejection.status,
        code: rejection.code,
        detail: rejection.detail,
      }),
      rejection.reason,
    );

  const maybeFinish = (): void => {
    if (settled || !busboyClosed || pending.size > 0) return;
    if (accepted.length < config.minFiles) {
      reject(
        invalid(
          `Expected at least ${config.minFiles} file(s), got ${accepted.length}.`,
          'MISSING_FILE',
        ),
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
        const part = checkFilePart(config, field, rawName, transferEncoding, mimeType);
        if ('rejection' in part) {
          stream.resume();
          reject(part.rejection);
          return;
        }
        const { type, extension, declared } = part;

        const order = fileIndex++;
        const storedName = `${randomUUID()}${extension}`;
        const path = join(config.dir, storedName);
        const out = createWriteStream(path, {
          flags: 'wx',
          mode: 0o600,
          highWaterMark: FILE_BUFFER_BYTES,
        });
        const file: ActiveFile = { path, stream: out, kept: false };
        active.push(file);
        const display = currentFile.name;
        const content = new FileContentCheck(type, config.maxFileSize, display);

        stream.on('data', (chunk: Buffer) => {
          if (settled) return;
          const rejection = content.push(chunk);
          if (rejection) reject(rejection);
        });
        stream.on('limit', () => reject(fileTooLarge(config.maxFileSize)));
        stream.on('error', (err: Error) =>
          reject(invalid(`The upload was cut short: ${err.message}.`, 'MALFORMED_MULTIPART')),
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
          const empty = content.checkNotEmpty();
          if (empty) {
            reject(empty);
            return;
          }
          const rejection = await content.checkContent(path);
          if (settled) return;
          if (rejection) {
            reject(rejection);
            return;
          }
          active.splice(active.indexOf(file), 1);
          accepted.push({
            order,
            field,
            path,
            storedName,
            name: display,
            size: content.size,
            sha256: content.digest(),
            detectedType: type.mimeType,
            declaredType: declared,
            extension,
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
          reject(
            tooLarge(
              `A field name is longer than ${config.maxFieldNameSize} bytes.`,
              'FIELD_NAME_TOO_LONG',
            ),
          );
          return;
        }
        if (valueTruncated) {
          reject(
            tooLarge(
              `Field ${JSON.stringify(name)} is longer than ${config.maxFieldSize} bytes.`,
              'FIELD_TOO_LARGE',
            ),
          );
          return;
        }
        if (!name) {
          reject(invalid('A form field has an empty name.', 'INVALID_FIELD_NAME'));
          return;
        }
        if (name === '__proto__' || name === 'constructor' || name === 'prototype') {
          reject(invalid(`Field name ${JSON.stringify(name)} is not accepted.`, 'FORBIDDEN_KEY'));
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
    reject(tooLarge(`More than ${config.maxFiles} file(s) in one request.`, 'TOO_MANY_FILES')),
  );
  bb.on('fieldsLimit', () =>
    reject(tooLarge(`More than ${config.maxFields} field(s) in one request.`, 'TOO_MANY_FIELDS')),
  );
  bb.on('partsLimit', () =>
    reject(tooLarge(`More than ${config.maxParts} part(s) in one request.`, 'TOO_MANY_PARTS')),
  );
  bb.on('error', (err: Error) =>
    reject(invalid(`Malformed multipart body: ${err.message}.`, 'MALFORMED_MULTIPART')),
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
      reject(
        tooLarge(
          `A part has more than ${config.maxHeaderPairs} header lines.`,
          'TOO_MANY_PART_HEADERS',
        ),
      );
    else if (headerProblem === 'bytes')
      reject(
        invalid(
          `Malformed multipart body: a part's header is larger than ${MAX_PART_HEADER_BYTES} bytes.`,
          'MALFORMED_MULTIPART',
        ),
      );
  };
  req.on('data', onData);
  req.once('close', () => {
    if (!req.complete) reject(invalid('The client aborted the upload.', 'UPLOAD_ABORTED'));
  });
  armIdleTimer();
  // Once every byte is in, only our own checks remain: they are not the client's idleness.
  req.once('end', () => clearTimeout(idleTimer));
  req.pipe(bb);
}
