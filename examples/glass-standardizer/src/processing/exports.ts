import { Worker } from 'node:worker_threads';
import { StorageError, type StorageFault } from '../storage/errors.js';
import type { StorageDescriptor } from '../storage/open.js';
import type { DatasetRecord } from '../types.js';
import { workerFile } from './runner.js';

/** What an export worker gets. */
export interface ExportData {
  readonly storage: StorageDescriptor;
  readonly dataset: DatasetRecord;
  readonly chunkChars: number;
  readonly window: number;
}

export type ExportReply =
  | { readonly type: 'chunk'; readonly data: string }
  | { readonly type: 'end' }
  | { readonly type: 'error'; readonly message: string; readonly fault: StorageFault | null };

export interface ExportOptions {
  /** Characters per chunk handed to the response. @default 65536 */
  readonly chunkChars?: number;
  /** Chunks the worker may produce ahead of the response (its memory bound). @default 8 */
  readonly window?: number;
}

/**
 * isolates.csv of a dataset, produced in a worker thread and handed over in chunks: reading and
 * formatting a million isolates takes seconds of CPU the HTTP thread does not spend. The worker
 * stays at most `window` chunks ahead of the client (a slow reader holds it back); ending the
 * iteration early (the client went away) terminates it.
 */
export async function* isolatesCsvInWorker(
  storage: StorageDescriptor,
  dataset: DatasetRecord,
  options: ExportOptions = {},
): AsyncGenerator<string> {
  const data: ExportData = {
    storage,
    dataset,
    chunkChars: options.chunkChars ?? 64 * 1024,
    window: options.window ?? 8,
  };
  const worker = new Worker(workerFile('export-worker'), {
    workerData: data,
    // It holds one page of isolates at a time: a smaller young generation keeps the export's
    // memory near that instead of letting garbage pile up (measured: 261 vs 286-307 MB peak for
    // the service during a million-row export, docs/benchmarks.md).
    resourceLimits: { maxYoungGenerationSizeMb: 32, maxOldGenerationSizeMb: 256 },
    stdout: false,
    stderr: false,
  });
  const chunks: string[] = [];
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const signal = () => {
    wake?.();
    wake = undefined;
  };
  worker.on('message', (reply: ExportReply) => {
    if (reply.type === 'chunk') chunks.push(reply.data);
    else if (reply.type === 'end') ended = true;
    else
      failure = reply.fault
        ? new StorageError(reply.fault, reply.message)
        : new Error(`isolates.csv export failed: ${reply.message}`);
    signal();
  });
  worker.on('error', (err) => {
    failure ??= err;
    signal();
  });
  worker.on('exit', (code) => {
    if (!ended) failure ??= new Error(`export worker exited with code ${code} before the end`);
    signal();
  });
  try {
    for (;;) {
      while (chunks.length === 0 && !ended && failure === undefined)
        await new Promise<void>((resolve) => (wake = resolve));
      const chunk = chunks.shift();
      if (chunk !== undefined) {
        worker.postMessage(1);
        yield chunk;
        continue;
      }
      if (failure !== undefined) throw failure;
      return;
    }
  } finally {
    if (!ended) void worker.terminate();
  }
}
