import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Lifecycle } from '@shipshape/lifecycle';
import { type ProcessOptions, processDataset } from '../pipeline.js';
import type { DatasetRecord, GlassStorage } from '../types.js';
import type { GlassMetrics } from './metrics.js';

interface ProcessorLogger {
  info(message: string, meta?: Record<string, unknown>): unknown;
  error(message: string, meta?: Record<string, unknown>): unknown;
}

export interface ProcessorOptions {
  readonly storage: GlassStorage;
  readonly lifecycle: Lifecycle | undefined;
  readonly logger: ProcessorLogger;
  readonly metrics: GlassMetrics;
  readonly processOptions: ProcessOptions;
  /** Called whenever a dataset's stored results change (to drop cached analytics). */
  readonly onChange: (datasetId: string) => Promise<unknown>;
  /**
   * How long a processing lease lasts without renewal (renewed every third of it while a dataset
   * runs). Another instance takes a dataset over only after its owner stopped renewing.
   * @default 30000
   */
  readonly leaseMs?: number;
}

export interface Processor {
  /** Queues a dataset whose upload is stored; processing runs in the background, one at a time. */
  enqueue(datasetId: string): void;
  /**
   * Queues every dataset left queued, processing or interrupted by an earlier run whose upload
   * file this instance can read (instances that do not share `DATA_DIR` leave each other's
   * uploads alone). A dataset another live instance is processing is skipped when its turn comes:
   * its lease is held.
   */
  resume(): Promise<string[]>;
  /** Resolves when the queue is empty (tests and shutdown reports). */
  idle(): Promise<void>;
  /** Ids waiting or running. */
  pending(): readonly string[];
  /**
   * For a shutdown hook, after the drain: waits up to `graceMs` for the running dataset to settle,
   * then marks it `interrupted` if the store still shows it `processing` (the pipeline only notices
   * the abort between batches, and the storage may close first). Resolves with its id, if any.
   */
  interrupt(graceMs?: number): Promise<string | undefined>;
}

/**
 * Runs dataset processing in the background, tracked by the lifecycle: a shutdown waits for the
 * running dataset (or aborts it at the drain deadline, leaving it `interrupted`); nothing new starts
 * once draining began, and whatever is left is picked up by `resume()` at the next start.
 */
export function createProcessor(options: ProcessorOptions): Processor {
  const { storage, lifecycle, logger, metrics } = options;
  const leaseMs = options.leaseMs ?? 30_000;
  // Who holds a lease: this process, this processor.
  const owner = `${hostname()}:${process.pid}:${randomUUID()}`;
  const queue: string[] = [];
  let running: string | undefined;
  let current: Promise<unknown> | undefined;
  let idleWaiters: (() => void)[] = [];

  const accepting = () =>
    !lifecycle || lifecycle.state === 'starting' || lifecycle.state === 'ready';

  async function runOne(datasetId: string, signal: AbortSignal | undefined): Promise<void> {
    const dataset = await storage.getDataset(datasetId);
    if (!dataset?.uploadPath) return;
    if (!(await storage.claimDataset(datasetId, owner, leaseMs))) {
      const now = await storage.getDataset(datasetId);
      if (now && now.status !== 'done' && now.status !== 'failed') {
        // Held by another instance: look again once its lease could have run out, so a dataset
        // whose owner died (crash, kill) is taken over rather than left behind.
        logger.info('dataset held by another instance; checking again later', { datasetId });
        setTimeout(() => enqueue(datasetId), leaseMs).unref();
      }
      return;
    }
    const renew = setInterval(() => {
      storage.claimDataset(datasetId, owner, leaseMs).then(
        (held) => {
          if (!held) logger.error('dataset processing lease lost', { datasetId });
        },
        (error: unknown) =>
          logger.error('dataset processing lease not renewed', { datasetId, error }),
      );
    }, leaseMs / 3);
    renew.unref();
    try {
      await processClaimed(datasetId, dataset.uploadPath, signal);
    } finally {
      clearInterval(renew);
      await storage.releaseDataset(datasetId, owner).catch((error: unknown) => {
        logger.error('dataset processing lease not released', { datasetId, error });
      });
    }
  }

  async function processClaimed(
    datasetId: string,
    uploadPath: string,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const started = performance.now();
    let finished: DatasetRecord | undefined;
    try {
      finished = await processDataset(
        { datasetId, input: uploadPath },
        storage,
        options.processOptions,
        signal ? { signal } : {},
      );
    } catch (error) {
      logger.error('dataset processing failed', { datasetId, error });
      await storage.updateDataset(datasetId, {
        status: 'failed',
        error: (error as Error).message,
      });
    }
    const status = finished?.status ?? 'failed';
    metrics.datasets.inc({ status });
    metrics.duration.observe({ status }, (performance.now() - started) / 1000);
    if (finished?.counts) metrics.rows.inc(finished.counts.rowsRead);
    if (finished?.quality) metrics.qualityErrors.inc(finished.quality.summary.errors);
    logger.info('dataset processed', {
      datasetId,
      status,
      rows: finished?.counts?.rowsRead,
      durationMs: Math.round(performance.now() - started),
    });
    await options.onChange(datasetId);
  }

  async function drain(): Promise<void> {
    while (queue.length > 0 && accepting()) {
      const next = queue.shift() as string;
      running = next;
      try {
        const job = lifecycle
          ? lifecycle.task(`dataset ${next}`, (signal) => runOne(next, signal))
          : runOne(next, undefined);
        current = job.catch(() => undefined);
        await job;
      } catch (error) {
        logger.error('dataset job failed', { datasetId: next, error });
      } finally {
        running = undefined;
        current = undefined;
      }
    }
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  let loop: Promise<void> | undefined;
  const kick = () => {
    loop ??= drain().finally(() => {
      loop = undefined;
      if (queue.length > 0 && accepting()) kick();
    });
  };

  function enqueue(datasetId: string): void {
    if (queue.includes(datasetId) || running === datasetId) return;
    queue.push(datasetId);
    kick();
  }

  return {
    enqueue,
    async resume() {
      const left = await storage.listDatasetsByStatus(['queued', 'processing', 'interrupted']);
      const withUpload = left.filter((d) => d.uploadPath);
      const ids = withUpload.filter((d) => existsSync(d.uploadPath as string)).map((d) => d.id);
      if (ids.length < withUpload.length)
        logger.info('datasets left for the instance holding their uploads', {
          datasets: withUpload.filter((d) => !ids.includes(d.id)).map((d) => d.id),
        });
      for (const id of ids) enqueue(id);
      return ids;
    },
    idle() {
      if (!loop && queue.length === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
    pending() {
      return running ? [running, ...queue] : [...queue];
    },
    async interrupt(graceMs = 1000) {
      const id = running;
      const job = current;
      if (!id || !job) return undefined;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        job,
        new Promise((resolve) => {
          timer = setTimeout(resolve, graceMs);
          timer.unref();
        }),
      ]);
      clearTimeout(timer);
      const dataset = await storage.getDataset(id);
      if (dataset?.status !== 'processing') return undefined;
      await storage.updateDataset(id, {
        status: 'interrupted',
        error: 'processing was interrupted',
      });
      // Released now, while the storage is open: the next start resumes it at once.
      await storage.releaseDataset(id, owner);
      logger.info('dataset left interrupted by the shutdown', { datasetId: id });
      return id;
    },
  };
}
