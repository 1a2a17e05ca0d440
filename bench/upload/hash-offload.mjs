#!/usr/bin/env node
// Would hashing an upload on a worker thread free uploadGuard's main thread? Hashes 100 MB of
// 64 kB chunks (sliced from separate 64 kB buffers, as socket reads arrive) three ways and reports
// the main thread's busy time for each (wall time of its loop, less the time the ring writer
// spent blocked waiting for space; process.cpuUsage() would count the worker too), medians:
//   inline     createHash('sha256').update(chunk) on the main thread (what uploadGuard does);
//   postMessage  each chunk posted to a worker that hashes it (structured clone copies it);
//   transfer   each chunk copied into its own ArrayBuffer, which is transferred (not cloned);
//   ring       each chunk copied into a SharedArrayBuffer ring a worker hashes from (Atomics).
// Usage: node bench/upload/hash-offload.mjs [MB] [rounds]
import { createHash, randomFillSync } from 'node:crypto';
import { once } from 'node:events';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

const RING = 8 << 20;

if (!isMainThread) {
  if (workerData.mode === 'post') {
    let hash = createHash('sha256');
    parentPort.on('message', (m) => {
      if (m === 'end') {
        parentPort.postMessage(hash.digest('hex'));
        hash = createHash('sha256');
      } else hash.update(m);
    });
  } else {
    // ctl: [written, read, done]; bytes are counted modulo RING.
    const ring = Buffer.from(workerData.sab);
    const ctl = new Int32Array(workerData.ctl);
    for (;;) {
      const hash = createHash('sha256');
      let read = 0;
      for (;;) {
        const written = Atomics.load(ctl, 0);
        if (written === read) {
          if (Atomics.load(ctl, 2) === 1) break;
          Atomics.wait(ctl, 0, written, 50);
          continue;
        }
        while (read < written) {
          const at = read % RING;
          const n = Math.min(written - read, RING - at);
          hash.update(ring.subarray(at, at + n));
          read += n;
        }
        Atomics.store(ctl, 1, read);
        Atomics.notify(ctl, 1);
      }
      parentPort.postMessage(hash.digest('hex'));
      while (Atomics.load(ctl, 2) !== 0) Atomics.wait(ctl, 2, 1, 50);
    }
  }
} else {
  const mb = Number(process.argv[2] ?? 100);
  const rounds = Number(process.argv[3] ?? 5);
  const chunks = [];
  for (let i = 0; i < (mb * 1e6) / 65_000; i++) {
    const socketRead = Buffer.allocUnsafeSlow(65_536);
    randomFillSync(socketRead);
    chunks.push(socketRead.subarray(100, 65_100));
  }
  const busyMs = (start) => performance.now() - start;

  const post = new Worker(new URL(import.meta.url), { workerData: { mode: 'post' } });
  const sab = new SharedArrayBuffer(RING);
  const ctlBuffer = new SharedArrayBuffer(12);
  const ring = Buffer.from(sab);
  const ctl = new Int32Array(ctlBuffer);
  const shared = new Worker(new URL(import.meta.url), {
    workerData: { mode: 'ring', sab, ctl: ctlBuffer },
  });

  const results = { inline: [], postMessage: [], transfer: [], ring: [] };
  for (let r = 0; r < rounds; r++) {
    let start = performance.now();
    const hash = createHash('sha256');
    for (const c of chunks) hash.update(c);
    const reference = hash.digest('hex');
    results.inline.push(busyMs(start));

    start = performance.now();
    for (const c of chunks) post.postMessage(c);
    results.postMessage.push(busyMs(start));
    post.postMessage('end');
    const [viaPost] = await once(post, 'message');

    start = performance.now();
    for (const c of chunks) {
      const own = new Uint8Array(c);
      post.postMessage(own, [own.buffer]);
    }
    results.transfer.push(busyMs(start));
    post.postMessage('end');
    const [viaTransfer] = await once(post, 'message');

    Atomics.store(ctl, 0, 0);
    Atomics.store(ctl, 1, 0);
    Atomics.store(ctl, 2, 0);
    const done = once(shared, 'message');
    start = performance.now();
    let written = 0;
    let blocked = 0;
    for (const c of chunks) {
      while (written + c.length - Atomics.load(ctl, 1) > RING) {
        const waitStart = performance.now();
        Atomics.wait(ctl, 1, Atomics.load(ctl, 1), 5);
        blocked += performance.now() - waitStart;
      }
      const at = written % RING;
      const n = Math.min(c.length, RING - at);
      c.copy(ring, at, 0, n);
      if (n < c.length) c.copy(ring, 0, n);
      written += c.length;
      Atomics.store(ctl, 0, written);
      Atomics.notify(ctl, 0);
    }
    results.ring.push(busyMs(start) - blocked);
    Atomics.store(ctl, 2, 1);
    Atomics.notify(ctl, 0);
    const [viaRing] = await done;
    if (viaPost !== reference || viaTransfer !== reference || viaRing !== reference)
      throw new Error('digests differ');
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  console.log(
    `\n\`node bench/upload/hash-offload.mjs ${mb} ${rounds}\` — main-thread busy ms per ${mb} MB, median of ${rounds}:\n`,
  );
  console.log('| way | main-thread busy ms | per round |\n|---|---:|---|');
  for (const [way, xs] of Object.entries(results))
    console.log(
      `| ${way} | ${median(xs).toFixed(0)} | ${xs.map((x) => x.toFixed(0)).join(', ')} |`,
    );
  await post.terminate();
  await shared.terminate();
}
