import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ProcessJob, ProcessOptions } from '../pipeline.js';
import { StorageError, type StorageFault } from '../storage/errors.js';
import type { StorageDescriptor } from '../storage/open.js';
import type { DatasetRecord, GlassStorage } from '../types.js';
import { processDataset } from './process-dataset.js';

/** Runs `processDataset` for one stored upload: in this thread, or in a worker thread. */
export interface ProcessRunner {
  /**
   * Resolves with the dataset as processing left it (done, failed or interrupted); rejects with a
   * `StorageError` when the storage became unavailable, and with an Error when processing itself
   * broke (a crash of the worker, or running out of memory).
   */
  run(job: { datasetId: string; input: string }, signal?: AbortSignal): Promise<DatasetRecord>;
}

/** In this thread: for tests and embedders whose storage cannot be reopened elsewhere. */
export function inlineRunner(storage: GlassStorage, options: ProcessOptions = {}): ProcessRunner {
  return {
    run: (job, signal) => processDataset(job, storage, options, signal ? { signal } : {}),
  };
}

/** What a worker gets (structured-cloned). */
export interface WorkerData {
  readonly storage: StorageDescriptor;
  readonly job: ProcessJob;
  readonly options: ProcessOptions;
  readonly space: SpaceFloor | undefined;
}

/** Processing stops (the dataset fails as "disk full") when `path`'s filesystem drops below it. */
export interface SpaceFloor {
  readonly path: string;
  readonly minFreeBytes: number;
}

export type WorkerReply =
  | { readonly type: 'done'; readonly dataset: DatasetRecord }
  | {
      readonly type: 'error';
      readonly message: string;
      readonly fault: StorageFault | null;
      readonly stack?: string;
    }
  | {
      readonly type: 'log';
      readonly level: 'warn' | 'error';
      readonly message: string;
      readonly error: string;
    };

export interface WorkerRunnerOptions {
  readonly storage: StorageDescriptor;
  readonly processOptions?: ProcessOptions;
  /** Free-space floor of the data directory, checked while a dataset is written. */
  readonly space?: SpaceFloor;
  /**
   * Heap limit of a processing worker, MB: a file that would need more fails its dataset
   * ("ran out of memory") instead of taking the process down. @default 768
   */
  readonly maxHeapMb?: number;
  /** After an abort, how long the worker may take to stop on its own before it is terminated. @default 3000 */
  readonly abortGraceMs?: number;
  readonly logger?: { warn(message: string, meta?: Record<string, unknown>): unknown };
}

/**
 * A worker script of this directory, built. Under the TypeScript sources (vitest runs src/) there
 * is no .js beside this file; the build's copy is the same code.
 */
export function workerFile(name: string): URL {
  const here = new URL(`./${name}.js`, import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  return new URL(`../../dist/processing/${name}.js`, import.meta.url);
}

/**
 * One worker thread per dataset: the HTTP thread never parses, normalises, sorts or writes a
 * dataset, so probes and API requests answer while it runs; the worker's heap is returned when it
 * ends; a crash or an out-of-memory fails that dataset only.
 */
export function workerRunner(options: WorkerRunnerOptions): ProcessRunner {
  const file = workerFile('process-worker');
  const maxHeapMb = options.maxHeapMb ?? 768;
  const abortGraceMs = options.abortGraceMs ?? 3000;
  return {
    run(job, signal) {
      return new Promise<DatasetRecord>((resolve, reject) => {
        const data: WorkerData = {
          storage: options.storage,
          job,
          options: options.processOptions ?? {},
          space: options.space,
        };
        const worker = new Worker(file, {
          workerData: data,
          resourceLimits: { maxOldGenerationSizeMb: maxHeapMb },
          stdout: false,
          stderr: false,
        });
        let settled = false;
        let killTimer: NodeJS.Timeout | undefined;
        const settle = (fn: () => void) => {
          if (settled) return;
          settled = true;
          signal?.removeEventListener('abort', onAbort);
          clearTimeout(killTimer);
          fn();
        };
        const onAbort = () => {
          worker.postMessage({ type: 'abort' });
          // The pipeline stops at its next batch; a long native statement is cut short here.
          killTimer = setTimeout(() => void worker.terminate(), abortGraceMs);
          killTimer.unref();
        };
        if (signal?.aborted) onAbort();
        else signal?.addEventListener('abort', onAbort, { once: true });
        worker.on('message', (reply: WorkerReply) => {
          if (reply.type === 'log') {
            options.logger?.warn(reply.message, { datasetId: job.datasetId, error: reply.error });
          } else if (reply.type === 'done') {
            settle(() => resolve(reply.dataset));
          } else {
            settle(() =>
              reject(
                reply.fault
                  ? new StorageError(reply.fault, reply.message)
                  : Object.assign(
                      new Error(reply.message),
                      reply.stack ? { stack: reply.stack } : {},
                    ),
              ),
            );
          }
        });
        worker.on('error', (err: Error & { code?: string }) => {
          settle(() =>
            reject(
              err.code === 'ERR_WORKER_OUT_OF_MEMORY'
                ? new Error(
                    `processing ran out of memory (the worker's heap limit is ${maxHeapMb} MB)`,
                    { cause: err },
                  )
                : err,
            ),
          );
        });
        worker.on('exit', (code) => {
          settle(() =>
            reject(
              new Error(
                signal?.aborted
                  ? 'processing was interrupted'
                  : `processing worker exited with code ${code} before it reported`,
              ),
            ),
          );
        });
      });
    },
  };
}
