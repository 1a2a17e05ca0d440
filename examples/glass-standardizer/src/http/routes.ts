import { unlink } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Cache } from '@shipshape/cache';
import { cacheResponse } from '@shipshape/cache';
import {
  auditLog,
  principalOf,
  type RateLimitMiddleware,
  requireRole,
  SecurityError,
  type SecurityLogger,
  validate,
  validated,
} from '@shipshape/security';
import { type Request, type Response, Router } from 'express';
import Joi from 'joi';
import type { Role } from '../auth/roles.js';
import { antibiogram, GROUP_BY_VALUES, loadCube, resistance } from '../domain/analytics.js';
import type { AnalyticsCube } from '../domain/cube.js';
import { isolatesCsv, qualityIssuesCsv, risCsv, sampleCsv } from '../io/csv-writer.js';
import { isolatesCsvInWorker } from '../processing/exports.js';
import type { Processor } from '../processing/processor.js';
import type { StorageDescriptor } from '../storage/open.js';
import { inSlices } from '../time-slices.js';
import type { DatasetRecord, GlassStorage } from '../types.js';
import { links, summary } from './dataset-summary.js';
import { uploadDataset } from './upload.js';

export interface RoutesOptions {
  readonly storage: GlassStorage;
  readonly processor: Processor;
  readonly cache: Cache;
  readonly uploadDir: string;
  readonly uploadMaxBytes: number;
  readonly minIsolates: number;
  readonly uploadLimiter: RateLimitMiddleware;
  /**
   * Where export workers open the storage; without it isolates.csv is produced in this thread,
   * in time slices.
   */
  readonly exportStorage?: StorageDescriptor;
  /** Uploads are refused (507) when storing one would leave less than this free. @default 0 */
  readonly minFreeBytes?: number;
  readonly logger: SecurityLogger & {
    debug?(message: string, meta?: Record<string, unknown>): unknown;
  };
  /** True once the service is draining: live progress streams end so the drain is not held. */
  readonly draining?: () => boolean;
}

export const datasetTag = (id: string) => `dataset:${id}`;

const idParams = Joi.object({ id: Joi.string().uuid().required() });

const pageQuery = Joi.object({
  limit: Joi.number().integer().min(1).max(100).default(20),
  offset: Joi.number().integer().min(0).default(0),
});

const code = Joi.string()
  .trim()
  .uppercase()
  .pattern(/^[A-Z0-9_]{2,12}$/);
const resistanceQuery = Joi.object({
  pathogen: code,
  antibiotic: code,
  specimen: code,
  groupBy: Joi.string().valid(...GROUP_BY_VALUES),
  firstIsolate: Joi.string().valid('episode', 'glass', 'all'),
  ci: Joi.string().valid('wilson', 'clopper-pearson'),
  minimum: Joi.number().integer().min(1).max(100_000),
});
const antibiogramQuery = Joi.object({
  specimen: code,
  firstIsolate: Joi.string().valid('episode', 'glass', 'all'),
  ci: Joi.string().valid('wilson', 'clopper-pearson'),
  minimum: Joi.number().integer().min(1).max(100_000),
});

const notFoundError = (id: string) =>
  new SecurityError({ status: 404, code: 'DATASET_NOT_FOUND', detail: `no dataset with id ${id}` });

const notDone = (dataset: DatasetRecord) =>
  new SecurityError({
    status: 409,
    code: 'DATASET_NOT_READY',
    detail: `dataset ${dataset.id} is ${dataset.status}${dataset.status === 'failed' ? `: ${dataset.error}` : ''}; results exist once it is done`,
  });

/**
 * Pieces joined into chunks of at least `size` characters: one socket write per chunk, not per
 * line (pieces already that large, from an export worker, pass through as they are).
 */
async function* chunked(pieces: AsyncIterable<string>, size = 64 * 1024): AsyncGenerator<string> {
  let chunk = '';
  for await (const piece of pieces) {
    chunk += piece;
    if (chunk.length >= size) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk !== '') yield chunk;
}

const CLIENT_GONE = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ECONNRESET', 'EPIPE']);

/** Most parsed analytics cubes kept in memory (a few MB each for million-row datasets). */
const CUBES_KEPT = 16;

/** `<COUNTRY>_<YEAR>_<BATCH>_<what>.csv`, the names GLASS submissions use. */
export function glassFilename(dataset: DatasetRecord, what: string): string {
  return `${dataset.country}_${dataset.year}_${dataset.batchId}_${what}.csv`;
}

/** The dataset API (issue 10): uploads, status, quality, GLASS exports and analytics. */
export function datasetsRouter(options: RoutesOptions): Router {
  const { storage, processor, cache, logger } = options;
  const router = Router();
  /** The role a route needs, and one audit event per request with the principal. */
  const access = (role: Role, action: string) => [
    // Audit first, so refused attempts are in the log too.
    auditLog({
      logger,
      action,
      details: (req) => (typeof req.params.id === 'string' ? { dataset: req.params.id } : {}),
    }),
    requireRole(role),
  ];

  /**
   * Streams a CSV download in ~64 KiB chunks, giving the event loop a turn every few milliseconds
   * (a fast client never pushes back, and SQLite pages come synchronously). The first chunk is
   * produced before the 200 is committed, so a storage that fails at once still gets its 503. A
   * client that goes away mid-download is a debug line, not an error.
   */
  async function csvResponse(
    req: Request,
    res: Response,
    filename: string,
    lines: Iterable<string> | AsyncIterable<string>,
  ) {
    const chunks = chunked(inSlices(lines));
    const first = await chunks.next();
    res.status(200);
    res.setHeader('Content-Type', 'text/csv; charset=utf-8');
    res.setHeader('Content-Disposition', `attachment; filename="${filename}"`);
    async function* body() {
      if (!first.done) yield first.value;
      yield* chunks;
    }
    try {
      await pipeline(Readable.from(body()), res);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string' && CLIENT_GONE.has(code) && (req.destroyed || res.destroyed)) {
        logger.debug?.('download aborted by the client', { path: req.originalUrl, code });
        return;
      }
      throw err;
    }
  }

  // Parsed cubes by dataset and processing run (a re-processed dataset has a new finishedAt).
  const cubes = new Map<string, Promise<AnalyticsCube | null>>();
  function cubeOf(dataset: DatasetRecord): Promise<AnalyticsCube | null> {
    const key = `${dataset.id}@${dataset.finishedAt}`;
    let cube = cubes.get(key);
    if (cube) {
      cubes.delete(key);
    } else {
      cube = loadCube(storage, dataset.id);
      cube.catch(() => cubes.delete(key));
    }
    cubes.set(key, cube);
    for (const old of cubes.keys()) {
      if (cubes.size <= CUBES_KEPT) break;
      cubes.delete(old);
    }
    return cube;
  }

  /**
   * Server-sent events with the dataset's summary whenever it changes (polled from the storage,
   * so a dataset processed by another instance is followed too), until processing has ended, a
   * minute has passed (EventSource reconnects by itself) or the service drains.
   */
  async function progressEvents(req: Request, res: Response, first: DatasetRecord) {
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    res.write('retry: 1000\n\n');
    let last = '';
    const send = (dataset: DatasetRecord) => {
      const body = JSON.stringify(summary(dataset));
      if (body === last) return;
      last = body;
      res.write(`event: status\ndata: ${body}\n\n`);
    };
    const finished = (d: DatasetRecord) => d.status !== 'queued' && d.status !== 'processing';
    send(first);
    const until = Date.now() + 60_000;
    let dataset: DatasetRecord | undefined = first;
    while (
      dataset &&
      !finished(dataset) &&
      !req.destroyed &&
      Date.now() < until &&
      !options.draining?.()
    ) {
      await new Promise((r) => setTimeout(r, 250));
      dataset = await storage.getDataset(first.id).catch(() => dataset);
      if (dataset) send(dataset);
    }
    if (dataset && finished(dataset)) res.write('event: end\ndata: {}\n\n');
    res.end();
  }

  async function loadDataset(req: Request): Promise<DatasetRecord> {
    const { id } = validated<{ params: { id: string } }>(req).params;
    const dataset = await storage.getDataset(id);
    if (!dataset) throw notFoundError(id);
    return dataset;
  }
  async function loadDone(req: Request): Promise<DatasetRecord> {
    const dataset = await loadDataset(req);
    if (dataset.status !== 'done') throw notDone(dataset);
    return dataset;
  }

  router.post(
    '/',
    ...access('uploader', 'upload'),
    options.uploadLimiter,
    ...uploadDataset(options),
  );

  router.get(
    '/',
    ...access('viewer', 'list_datasets'),
    validate({ query: pageQuery }),
    async (req, res) => {
      const { limit, offset } = validated<{ query: { limit: number; offset: number } }>(req).query;
      const page = await storage.listDatasets({ limit, offset });
      res.json({
        items: page.items.map((d) => summary(d)),
        total: page.total,
        limit,
        offset,
      });
    },
  );

  router.get(
    '/:id',
    ...access('viewer', 'read_dataset'),
    validate({ params: idParams }),
    async (req, res) => {
      const dataset = await loadDataset(req);
      res.json(summary(dataset));
    },
  );

  router.delete(
    '/:id',
    ...access('uploader', 'delete_dataset'),
    validate({ params: idParams }),
    async (req, res) => {
      const dataset = await loadDataset(req);
      const principal = principalOf(req);
      if (!principal?.roles.includes('admin') && dataset.owner !== principal?.id)
        throw new SecurityError({
          status: 403,
          code: 'NOT_DATASET_OWNER',
          detail: `dataset ${dataset.id} was uploaded by someone else; uploaders delete their own batches, admins any`,
        });
      if (processor.pending().includes(dataset.id))
        throw new SecurityError({
          status: 409,
          code: 'DATASET_BUSY',
          detail: `dataset ${dataset.id} is ${dataset.status}; delete it once processing has ended`,
        });
      await storage.deleteDataset(dataset.id);
      if (dataset.uploadPath) await unlink(dataset.uploadPath).catch(() => undefined);
      await cache.invalidateTag(datasetTag(dataset.id));
      res.status(204).end();
    },
  );

  router.get(
    '/:id/quality',
    ...access('viewer', 'read_quality'),
    validate({ params: idParams }),
    async (req, res) => {
      const dataset = await loadDone(req);
      res.json({ id: dataset.id, status: dataset.status, ...dataset.quality });
    },
  );

  router.get(
    '/:id/quality/issues.csv',
    ...access('viewer', 'download_quality_issues'),
    validate({ params: idParams }),
    async (req, res) => {
      const dataset = await loadDone(req);
      await csvResponse(
        req,
        res,
        glassFilename(dataset, 'quality_issues'),
        qualityIssuesCsv(dataset),
      );
    },
  );

  router.get(
    '/:id/events',
    ...access('viewer', 'watch_dataset'),
    validate({ params: idParams }),
    async (req, res) => {
      await progressEvents(req, res, await loadDataset(req));
    },
  );

  router.get(
    '/:id/isolates.csv',
    ...access('analyst', 'download_isolates'),
    validate({ params: idParams }),
    async (req, res) => {
      const dataset = await loadDone(req);
      await csvResponse(
        req,
        res,
        glassFilename(dataset, 'isolates'),
        options.exportStorage
          ? isolatesCsvInWorker(options.exportStorage, dataset)
          : isolatesCsv(storage, dataset),
      );
    },
  );

  router.get(
    '/:id/glass/ris.csv',
    ...access('viewer', 'download_ris'),
    validate({ params: idParams }),
    async (req, res) => {
      const dataset = await loadDone(req);
      if (dataset.quality?.blocking)
        throw new SecurityError({
          status: 409,
          code: 'QUALITY_ERRORS',
          detail: `dataset ${dataset.id} has ${dataset.quality.summary.errors} quality ERROR(s); fix them (see ${links(dataset.id).quality}) before exporting GLASS RIS`,
        });
      await csvResponse(req, res, glassFilename(dataset, 'RIS'), risCsv(dataset));
    },
  );

  router.get(
    '/:id/glass/sample.csv',
    ...access('viewer', 'download_sample'),
    validate({ params: idParams }),
    async (req, res) => {
      const dataset = await loadDone(req);
      if (!dataset.sample || dataset.sample.length === 0)
        throw new SecurityError({
          status: 404,
          code: 'NO_SAMPLE_FILE',
          detail: `dataset ${dataset.id} has no culture-negative ("no growth") rows, so it has no GLASS SAMPLE file`,
        });
      await csvResponse(req, res, glassFilename(dataset, 'SAMPLE'), sampleCsv(dataset));
    },
  );

  const responseCache = cacheResponse({
    cache,
    ttl: 10 * 60_000,
    tags: (req) => [datasetTag(String(req.params.id))],
    // Analytics are the same for every principal allowed to reach them (requireRole runs
    // first), so requests with credentials share one cached copy.
    user: (req) => (principalOf(req) ? 'any-principal' : undefined),
  });
  // Analytics of a finished dataset only change when it is re-processed or deleted (both drop the
  // cached copies by tag): clients may keep them but must revalidate, which the strong ETag makes
  // cheap. This replaces the API-wide `no-store` that would also keep them out of the server cache.
  const analyticsCache = [
    function revalidate(_req: Request, res: Response, next: () => void) {
      res.setHeader('Cache-Control', 'max-age=0, must-revalidate');
      next();
    },
    responseCache,
  ];

  router.get(
    '/:id/resistance',
    ...access('viewer', 'read_resistance'),
    validate({ params: idParams, query: resistanceQuery }),
    ...analyticsCache,
    async (req, res) => {
      const dataset = await loadDone(req);
      const query = validated<{ query: Record<string, unknown> }>(req).query;
      const rows = await resistance(
        storage,
        dataset.id,
        dataset.antibiotics,
        { minimum: options.minIsolates, ...query },
        await cubeOf(dataset),
      );
      res.json({ id: dataset.id, query: { minimum: options.minIsolates, ...query }, rows });
    },
  );

  router.get(
    '/:id/antibiogram',
    ...access('viewer', 'read_antibiogram'),
    validate({ params: idParams, query: antibiogramQuery }),
    ...analyticsCache,
    async (req, res) => {
      const dataset = await loadDone(req);
      const query = validated<{ query: Record<string, unknown> }>(req).query;
      res.json(
        await antibiogram(
          storage,
          dataset.id,
          dataset.antibiotics,
          { minimum: options.minIsolates, ...query },
          await cubeOf(dataset),
        ),
      );
    },
  );

  return router;
}
