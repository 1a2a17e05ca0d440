// Entry point of a processing worker thread: one dataset per worker (see runner.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { processDataset } from '../pipeline.js';
import { storageFault } from '../storage/errors.js';
import { openStorage } from '../storage/open.js';
import type { WorkerData, WorkerReply } from './runner.js';

const port = parentPort;
if (!port) throw new Error('glass-standardizer: processing/worker.js runs as a worker thread');
const { storage: descriptor, job, options } = workerData as WorkerData;
const send = (reply: WorkerReply) => port.postMessage(reply);

const controller = new AbortController();
port.on('message', (message: unknown) => {
  if ((message as { type?: unknown })?.type === 'abort') controller.abort();
});

const storage = openStorage(descriptor, {
  onConnectionError: (err) =>
    send({ type: 'log', level: 'warn', message: 'storage connection error', error: err.message }),
});
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
