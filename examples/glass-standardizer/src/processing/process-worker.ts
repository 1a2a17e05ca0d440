// Entry point of a processing worker thread: one dataset per worker (see runner.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { storageFault } from '../storage/errors.js';
import { openStorage } from '../storage/open.js';
import { spaceGuard } from '../storage/space.js';
import type { GlassStorage } from '../types.js';
import { processDataset } from './process-dataset.js';
import type { SpaceFloor, WorkerData, WorkerReply } from './runner.js';

/** The storage with a free-space check before every batch that grows the database. */
function withSpaceFloor(storage: GlassStorage, floor: SpaceFloor): GlassStorage {
  // Every batch (a statfs is ~10 µs): a fast writer fills a small disk between two timed checks.
  const check = spaceGuard(floor.path, floor.minFreeBytes, 0);
  return {
    ...storage,
    async insertIsolates(datasetId, isolates) {
      await check();
      return storage.insertIsolates(datasetId, isolates);
    },
    async setFirstIsolateFlags(datasetId, flags) {
      await check();
      return storage.setFirstIsolateFlags(datasetId, flags);
    },
  };
}

const port = parentPort;
if (!port) throw new Error('glass-standardizer: process-worker.js runs as a worker thread');
const { storage: descriptor, job, options, space } = workerData as WorkerData;
const send = (reply: WorkerReply) => port.postMessage(reply);

const controller = new AbortController();
port.on('message', (message: unknown) => {
  if ((message as { type?: unknown })?.type === 'abort') controller.abort();
});

const opened = openStorage(descriptor, {
  onConnectionError: (err) =>
    send({ type: 'log', level: 'warn', message: 'storage connection error', error: err.message }),
});
const storage = space ? withSpaceFloor(opened, space) : opened;
try {
  const dataset = await processDataset(job, storage, options, { signal: controller.signal });
  send({ type: 'done', dataset });
} catch (err) {
  const error = err as Error;
  send({
    type: 'error',
    message: error?.message ?? String(err),
    fault: storageFault(err) ?? null,
    ...(error?.stack ? { stack: error.stack } : {}),
  });
} finally {
  await storage.close().catch(() => undefined);
  port.close();
}
