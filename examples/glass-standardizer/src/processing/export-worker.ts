// Entry point of an export worker thread: streams one dataset's isolates.csv (see exports.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { isolatesCsv } from '../io/csv-writer.js';
import { storageFault } from '../storage/errors.js';
import { openStorage } from '../storage/open.js';
import type { ExportData, ExportReply } from './exports.js';

const port = parentPort;
if (!port) throw new Error('glass-standardizer: export-worker.js runs as a worker thread');
const { storage: descriptor, dataset, chunkChars, window } = workerData as ExportData;
const send = (reply: ExportReply) => port.postMessage(reply);

// Chunks sent and not yet taken by the response: at most `window` wait in the main thread.
let credit = window;
let wake: (() => void) | undefined;
port.on('message', () => {
  credit++;
  wake?.();
});

const storage = openStorage(descriptor);
try {
  let chunk = '';
  for await (const line of isolatesCsv(storage, dataset)) {
    chunk += line;
    if (chunk.length < chunkChars) continue;
    while (credit === 0) await new Promise<void>((resolve) => (wake = resolve));
    credit--;
    send({ type: 'chunk', data: chunk });
    chunk = '';
  }
  if (chunk !== '') send({ type: 'chunk', data: chunk });
  send({ type: 'end' });
} catch (err) {
  send({
    type: 'error',
    message: (err as Error)?.message ?? String(err),
    fault: storageFault(err) ?? null,
  });
} finally {
  await storage.close().catch(() => undefined);
  port.close();
}
