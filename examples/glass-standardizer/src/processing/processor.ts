import { AsyncResource } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Lifecycle } from '@shipshape/lifecycle';
import type { GlassMetrics } from '../http/metrics.js';
import type { ProcessOptions } from '../pipeline.js';
import { storageFault } from '../storage/errors.js';
import type { DatasetRecord, GlassStorage, NewDataset } from '../types.js';
import { datasetStatus } from './dataset-status.js';
import { inlineRunner, type ProcessRunner } from './runner.js';

interface ProcessorLogger {
  info(message: string, meta?: Record<string, unknown>): unknown;
  warn?(message: string, meta?: Record<string, unknown>): unknown;
  error(message: string, meta?: Record<string, unknown>): unknown;
}

export interface ProcessorOptions {
  readonly storage: GlassStorage;
  readonly lifecycle: Lifecycle | undefined;
  readonly logger: ProcessorLogger;
  readonly metrics: GlassMetrics;
  /** Options of the pipeline when no `runner` is given (it then runs in this thread). */
  readonly processOptions?: ProcessOptions;
  /** Where datasets are processed. @default inlineRunner(storage, processOptions) */
  readonly runner?: ProcessRunner;
  /** Called whenever a dataset's stored results change (to drop cached analytics). */
  readonly onChange: (datasetId: string) => Promise<unknown>;
  /**
   * How long a processing lease lasts without renewal (renewed every third of it while a dataset
   * runs). Another instance takes a dataset over only after its owner stopped renewing.
   * @default 30000
   */
  readonly leaseMs?: number;
  /**
   * While the storage is unavailable, how often it is pinged; datasets it interrupted are queued
   * again as soon as it answers. @default 2000
   */
  readonly retryIntervalMs?: number;
  /** Storage outages one dataset may run into before it is marked failed. @default 5 */
  readonly maxAttempts?: number;
}

export interface Processor {
  /**
   * Stores a new dataset, `queued`, for an upload stored at `input.uploadPath`; `enqueue` it
   * once the upload is kept. The processor is the one writer of a dataset's status.
   */
  create(input: NewDataset): Promise<DatasetRecord>;
  /** Queues a dataset whose upload is stored; processing runs in the background, one at a time. */
  enqueue(datasetId: string): void;
  /**
   * Queues every dataset left queued, processing or interrupted by an earlier run whose upload
   * file this instance can read (instances that do not share `DATA_DIR` leave each other's
   * uploads alone); interrupted ones show `queued` again. A dataset another live instance is
   * processing is skipped when its turn comes: its lease is held.
   */
  resume(): Promise<string[]>;
  /** Resolves when the queue is empty and no dataset waits for the storage (tests, reports). */
  idle(): Promise<void>;
  /** Ids waiting, running, or waiting for the storage to come back (not deletable now). */
  pending(): readonly string[];
  /**
   * For a shutdown hook, after the drain: waits up to `graceMs` for the running dataset to settle,
   * then marks it `interrupted` if the store still shows it `processing` (the pipeline only notices
   * the abort between batches, and the storage may close first). Resolves with its id, if any.
   */
  interrupt(graceMs?: number): Promise<string | undefined>;
  /** Stops the storage retry timer (shutdown). */
  close(): void;
}

/**
 * Runs dataset processing in the background, tracked by the lifecycle: a shutdown waits for the
 * running dataset (or aborts it at the drain deadline, leaving it `interrupted`); nothing new starts
 * once draining began, and whatever is left is picked up by `resume()` at the next start. A dataset
 * the storage dropped out under waits until the storage answers again and is then processed anew.
 */
export function createProcessor(options: ProcessorOptions): Processor {
  const { storage, lifecycle, logger, metrics } = options;
  const runner = options.runner ?? inlineRunner(storage, options.processOptions);
  const leaseMs = options.leaseMs ?? 30_000;
  const retryIntervalMs = options.retryIntervalMs ?? 2000;
  const maxAttempts = options.maxAttempts ?? 5;
  // The one writer of dataset status and progress (see dataset-status.ts).
  const transitions = datasetStatus(storage);
  // Who holds a lease: this process, this processor.
  const owner = `${hostname()}:${process.pid}:${randomUUID()}`;
  const queue: string[] = [];
  let running: string | undefined;
  let current: Promise<unknown> | undefined;
  let idleWaiters: (() => void)[] = [];
  // Datasets waiting for the storage to come back, with the outages each has met.
  const waiting = new Map<string, number>();
  // Failures that could not be recorded yet (the disk was full): id → message.
  const unrecorded = new Map<string, string>();
  // Processing runs in the context the processor was made in, not in the upload request's
  // (whose request id would otherwise label every log line of the dataset).
  const root = new AsyncResource('glass-processor');
  let retryTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const accepting = () =>
    !closed && (!lifecycle || lifecycle.state === 'starting' || lifecycle.state === 'ready');

  function waitForStorage(datasetId: string, error: unknown): void {
    const attempts = (waiting.get(datasetId) ?? 0) + 1;
    waiting.set(datasetId, attempts);
    logger.error('storage unavailable; dataset waits until it answers again', {
      datasetId,
      attempts,
      error,
    });
    scheduleRetry();
  }

  function scheduleRetry(): void {
    if (retryTimer || closed || (waiting.size === 0 && unrecorded.size === 0)) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void retry();
    }, retryIntervalMs);
    retryTimer.unref();
  }

  async function retry(): Promise<void> {
    for (const [id, message] of unrecorded) {
      try {
        await recordFailure(id, message);
        unrecorded.delete(id);
      } catch {
        // Still no room: next time.
      }
    }
    if (waiting.size > 0) {
      try {
        await storage.ping();
        const ids = [...waiting.keys()];
        logger.info('storage answers again; re-queueing datasets', { datasets: ids });
        for (const id of ids) enqueue(id);
      } catch {
        // Still down.
      }
    }
    scheduleRetry();
    notifyIdle();
  }

  async function recordFailure(datasetId: string, message: string): Promise<void> {
    await transitions.failed(datasetId, message);
  }

  async function runOne(datasetId: string, signal: AbortSignal | undefined): Promise<void> {
    const attempts = waiting.get(datasetId) ?? 0;
    waiting.delete(datasetId);
    try {
      const dataset = await storage.getDataset(datasetId);
      if (!dataset?.uploadPath) return;
      if (attempts >= maxAttempts) {
        await recordFailure(
          datasetId,
          `the storage became unavailable ${attempts} times while this dataset was processed; upload it again`,
        );
        return;
      }
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
      await processClaimed(dataset, attempts, signal);
    } catch (error) {
      const fault = signal?.aborted ? undefined : storageFault(error);
      if (fault === 'full') {
        unrecorded.set(
          datasetId,
          'the disk under DATA_DIR was full when this dataset was to be processed; free space, then upload the file again',
        );
        scheduleRetry();
        return;
      }
      if (fault) {
        waiting.set(datasetId, attempts);
        waitForStorage(datasetId, error);
        return;
      }
      throw error;
    }
  }

  async function processClaimed(
    dataset: DatasetRecord,
    attempts: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const datasetId = dataset.id;
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
    const started = performance.now();
    let finished: DatasetRecord | undefined;
    try {
      finished = await runner.run({ datasetId, input: dataset.uploadPath as string }, signal);
    } catch (error) {
      clearInterval(renew);
      // The storage dropped out: the dataset stays `processing` (and ours) until it answers.
      if (storageFault(error) === 'unavailable' && !signal?.aborted) {
        waiting.set(datasetId, attempts);
        waitForStorage(datasetId, error);
        return;
      }
      // Aborted by the shutdown: `interrupt()` records it.
      if (signal?.aborted) return;
      logger.error('dataset processing failed', { datasetId, error });
      const message = (error as Error).message;
      try {
        await recordFailure(datasetId, message);
      } catch (recording) {
        if (!storageFault(recording)) throw recording;
        // The disk is full: recorded as soon as a write succeeds again (not re-processed).
        unrecorded.set(datasetId, message);
        scheduleRetry();
      }
    } finally {
      clearInterval(renew);
      await storage.releaseDataset(datasetId, owner).catch((error: unknown) => {
        logger.error('dataset processing lease not released', { datasetId, error });
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
    notifyIdle();
  }

  function notifyIdle(): void {
    if (loop || queue.length > 0 || waiting.size > 0 || unrecorded.size > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  let loop: Promise<void> | undefined;
  const kick = () => {
    loop ??= root.runInAsyncScope(drain).finally(() => {
      loop = undefined;
      if (queue.length > 0 && accepting()) kick();
      else notifyIdle();
    });
  };

  function enqueue(datasetId: string): void {
    if (queue.includes(datasetId) || running === datasetId) return;
    queue.push(datasetId);
    kick();
  }

  return {
    create: (input) => transitions.create(input),
    enqueue,
    async resume() {
      const left = await storage.listDatasetsByStatus(['queued', 'processing', 'interrupted']);
      const withUpload = left.filter((d) => d.uploadPath);
      const ids = withUpload.filter((d) => existsSync(d.uploadPath as string)).map((d) => d.id);
      if (ids.length < withUpload.length)
        logger.info('datasets left for the instance holding their uploads', {
          datasets: withUpload.filter((d) => !ids.includes(d.id)).map((d) => d.id),
        });
      // An interrupted dataset is waiting for its turn again. (One left `processing` may still
      // be running in another instance: its lease decides, and its status stays.)
      for (const d of left)
        if (d.status === 'interrupted' && ids.includes(d.id)) await transitions.queued(d.id);
      for (const id of ids) enqueue(id);
      return ids;
    },
    idle() {
      if (!loop && queue.length === 0 && waiting.size === 0 && unrecorded.size === 0)
        return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
    pending() {
      // Not the unrecorded failures: deleting such a dataset is how its room is given back.
      return [...(running ? [running] : []), ...queue, ...waiting.keys()];
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
      await transitions.interrupted(id, 'processing was interrupted');
      // Released now, while the storage is open: the next start resumes it at once.
      await storage.releaseDataset(id, owner);
      logger.info('dataset left interrupted by the shutdown', { datasetId: id });
      return id;
    },
    close() {
      closed = true;
      clearTimeout(retryTimer);
      retryTimer = undefined;
    },
  };
}
