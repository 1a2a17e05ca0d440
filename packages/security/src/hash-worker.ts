import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Worker } from 'node:worker_threads';

/**
 * SHA-256 of uploads, computed off the main thread: the bytes of each file are copied into 1 MB
 * batches that are handed (transferred, not cloned) to one worker thread per process, which hashes
 * them and hands the batch back for reuse. Memory is bounded: at most MAX_BATCHES batches exist;
 * when the worker falls that far behind, or cannot be started, or fails, the file is hashed from
 * its stored copy on the main thread instead — the same result, only slower.
 */
export interface HashJob {
  /** The next bytes of the file. */
  update(chunk: Buffer): void;
  /** The file is complete and stored at `path`: resolves to its hex SHA-256. */
  end(): Promise<string>;
  /** The upload was rejected: drop the job. */
  cancel(): void;
}

// Plain JavaScript, evaluated as the worker's script (CommonJS), so it runs the same from the
// built package and from the TypeScript sources under test. In: { id, start: true },
// { id, batch, length } (the batch transferred), { id, end: true }, { id, cancel: true }. Out:
// { batch } (returned for reuse, also when its job was cancelled), { id, sha256 }.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
parentPort.on('message', (m) => {
  if (m.start) return void hashes.set(m.id, createHash('sha256'));
  if (m.cancel) return void hashes.delete(m.id);
  const hash = hashes.get(m.id);
  if (m.batch) {
    if (hash) hash.update(new Uint8Array(m.batch, 0, m.length));
    parentPort.postMessage({ batch: m.batch }, [m.batch]);
    return;
  }
  if (m.end && hash) {
    hashes.delete(m.id);
    parentPort.postMessage({ id: m.id, sha256: hash.digest('hex') });
  }
});
`;

const BATCH_BYTES = 1024 * 1024;
/** Batches in existence at most (in the worker's queue, being filled, or free): 16 MB. */
const MAX_BATCHES = 16;
/** An idle worker is stopped after this long (an upload later starts a new one). */
const IDLE_MS = 10_000;

let worker: Worker | undefined;
let idleTimer: NodeJS.Timeout | undefined;
let nextId = 0;
let batches = 0;
const free: ArrayBuffer[] = [];
/** Jobs waiting for the worker's digest. */
const waiting = new Map<number, (sha256: string | undefined) => void>();
/** Jobs with batches at the worker or a digest to come: while any, the worker is kept alive. */
const running = new Set<number>();

function failAll(): void {
  worker = undefined;
  free.length = 0;
  batches = 0;
  running.clear();
  for (const [id, resolve] of waiting) {
    waiting.delete(id);
    resolve(undefined);
  }
}

function release(id: number): void {
  running.delete(id);
  if (running.size > 0 || !worker) return;
  worker.unref();
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => {
    if (running.size > 0 || !worker) return;
    const stopping = worker;
    failAll();
    stopping.terminate().catch(() => {});
  }, IDLE_MS);
  idleTimer.unref();
}

/** The shared worker, started on first use; undefined when threads cannot be started here. */
function hashWorker(): Worker | undefined {
  if (worker) return worker;
  try {
    const started = new Worker(WORKER_SOURCE, { eval: true, name: 'shipshape-upload-hash' });
    started.on('message', (m: { batch: ArrayBuffer } | { id: number; sha256: string }) => {
      if (worker !== started) return;
      if ('batch' in m) {
        free.push(m.batch);
        return;
      }
      const resolve = waiting.get(m.id);
      waiting.delete(m.id);
      release(m.id);
      resolve?.(m.sha256);
    });
    const lost = () => {
      if (worker === started) failAll();
    };
    started.on('error', lost);
    started.on('exit', lost);
    worker = started;
    return worker;
  } catch {
    return undefined;
  }
}

function takeBatch(): ArrayBuffer | undefined {
  const batch = free.pop();
  if (batch) return batch;
  if (batches >= MAX_BATCHES) return undefined;
  batches++;
  return new ArrayBuffer(BATCH_BYTES);
}

/** Hex SHA-256 of a file, read on the calling thread. */
export function hashFile(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path, { highWaterMark: 1024 * 1024 })
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** Starts hashing a file whose bytes will be passed to `update()` and which is stored at `path`. */
export function startHash(path: string): HashJob {
  const id = nextId++;
  let thread = hashWorker();
  let batch: Uint8Array | undefined;
  let filled = 0;
  let ended = false;
  const giveUp = () => {
    if (thread && thread === worker) {
      if (batch) free.push(batch.buffer as ArrayBuffer);
      thread.postMessage({ id, cancel: true });
    }
    batch = undefined;
    thread = undefined;
    release(id);
  };
  if (thread) {
    running.add(id);
    clearTimeout(idleTimer);
    thread.ref();
    thread.postMessage({ id, start: true });
  }
  const send = () => {
    if (!batch || filled === 0 || !thread) return;
    if (thread !== worker) return giveUp();
    const buffer = batch.buffer as ArrayBuffer;
    thread.postMessage({ id, batch: buffer, length: filled }, [buffer]);
    batch = undefined;
    filled = 0;
  };
  return {
    update(chunk) {
      let offset = 0;
      while (thread && offset < chunk.length) {
        if (!batch) {
          const next = takeBatch();
          // The worker is too far behind: hash the stored file at the end instead.
          if (!next) return giveUp();
          batch = new Uint8Array(next);
        }
        const n = Math.min(chunk.length - offset, BATCH_BYTES - filled);
        batch.set(chunk.subarray(offset, offset + n), filled);
        filled += n;
        offset += n;
        if (filled === BATCH_BYTES) send();
      }
    },
    async end() {
      ended = true;
      send();
      let sha256: string | undefined;
      if (thread && thread === worker) {
        const digest = new Promise<string | undefined>((resolve) => waiting.set(id, resolve));
        thread.postMessage({ id, end: true });
        sha256 = await digest;
      } else giveUp();
      return sha256 ?? hashFile(path);
    },
    cancel() {
      if (!ended && thread) giveUp();
    },
  };
}

/**
 * Stops the hashing worker now, as if it had crashed: jobs in progress fall back to hashing their
 * stored files. For tests; not exported from the package.
 */
export async function terminateHashWorker(): Promise<void> {
  const current = worker;
  if (!current) return;
  await current.terminate();
}
