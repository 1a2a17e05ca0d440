import {
  principalOf,
  SecurityError,
  type SecurityLogger,
  uploadedFiles,
  uploadGuard,
  validate,
  validated,
} from '@shipshape/security';
import type { Request, RequestHandler, Response } from 'express';
import { datasetFields } from '../domain/dataset-fields.js';
import { inspectXlsx } from '../io/zip.js';
import type { Processor } from '../processing/processor.js';
import { StorageError } from '../storage/errors.js';
import { freeBytes } from '../storage/space.js';
import type { InputFormat } from '../types.js';
import { summary } from './dataset-summary.js';

export interface UploadOptions {
  readonly processor: Processor;
  readonly uploadDir: string;
  readonly uploadMaxBytes: number;
  /** Uploads are refused (507) when storing one would leave less than this free. @default 0 */
  readonly minFreeBytes?: number;
  readonly logger: SecurityLogger;
}

/**
 * `POST /api/datasets` after its role and rate limit, one concern per step: room on the disk,
 * the multipart upload (`uploadGuard`: one `file`, size, type by content), the dataset fields
 * (validated once, with `datasetFields`), the file's own checks (an XLSX's zip directory), then
 * the dataset, created by the processor and queued.
 */
export function uploadDataset(options: UploadOptions): RequestHandler[] {
  const { processor } = options;
  const minFreeBytes = options.minFreeBytes ?? 0;
  /** Refuses an upload the disk has no room for, before a byte of it is written. */
  async function roomForUpload(req: Request, _res: Response, next: (err?: unknown) => void) {
    if (minFreeBytes === 0) return next();
    const declared = Number(req.headers['content-length'] ?? 0);
    const free = await freeBytes(options.uploadDir);
    if (free - (Number.isFinite(declared) ? declared : 0) < minFreeBytes)
      return next(
        new StorageError(
          'full',
          `${free} bytes free under the data directory; storing this upload would leave less than ${minFreeBytes} (DATA_DIR_MIN_FREE)`,
        ),
      );
    next();
  }

  return [
    roomForUpload,
    uploadGuard({
      dir: options.uploadDir,
      types: ['csv', 'xlsx'],
      maxFileSize: options.uploadMaxBytes,
      maxFiles: 1,
      minFiles: 1,
      fileFields: ['file'],
      logger: options.logger,
    }),
    validate({ body: datasetFields }, { logger: options.logger }),
    async function fileChecks(req: Request, _res: Response, next: () => void) {
      const [file] = uploadedFiles(req);
      if (!file)
        throw new SecurityError({
          status: 400,
          code: 'FILE_REQUIRED',
          detail: 'a "file" part is required',
        });
      // A decompression bomb is refused from the zip's central directory (milliseconds, nothing
      // inflated) before the dataset exists; uploadGuard then deletes the file.
      if (file.extension === '.xlsx') {
        const inspection = await inspectXlsx(file.path);
        if (!inspection.ok)
          throw new SecurityError({
            status: inspection.status,
            code: inspection.code,
            detail: inspection.message,
          });
      }
      next();
    },
    async function createDataset(req: Request, res: Response) {
      const [file] = uploadedFiles(req);
      if (!file) throw new Error('glass-standardizer: fileChecks runs before createDataset');
      const body = validated<{
        body: {
          country: string;
          year: number;
          batchId: string;
          dateFormat?: 'DMY' | 'MDY' | 'YMD';
        };
      }>(req).body;
      // The row first, then keep(): when the row cannot be written (storage down, disk full),
      // uploadGuard deletes the unkept file as the error is answered — no file without a dataset.
      const dataset = await processor.create({
        country: body.country,
        year: body.year,
        batchId: body.batchId,
        format: (file.extension === '.xlsx' ? 'xlsx' : 'csv') satisfies InputFormat,
        dateFormat: body.dateFormat ?? null,
        filename: file.name,
        uploadPath: file.path,
        owner: principalOf(req)?.id ?? null,
      });
      file.keep();
      processor.enqueue(dataset.id);
      res.status(202).location(`/api/datasets/${dataset.id}`).json(summary(dataset));
    },
  ];
}
