// One bench server in its own process: `guard` = uploadGuard (built package), `raw` = the request
// body piped straight to a file with uploadGuard's 1 MB write buffer (HTTP and disk without
// multipart parsing or checks), `discard` = the body read and dropped (HTTP alone). Reports its
// port over IPC, answers { type: 'rss' } with idle and peak RSS, exits on { type: 'stop' }.
import { createWriteStream, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import express from 'express';

// SECURITY_MODULE: another build of @shipshape/security to measure (run.mjs BASELINE_SECURITY).
const { uploadedFiles, uploadGuard } = await import(
  process.env.SECURITY_MODULE ?? '@shipshape/security'
);

const [mode, dir] = process.argv.slice(2);
const app = express();

if (mode === 'guard') {
  app.post('/upload', uploadGuard({ dir, types: ['csv'], maxFileSize: '200mb' }), (req, res) => {
    const [file] = uploadedFiles(req);
    res.json({ size: file.size, sha256: file.sha256 });
  });
} else if (mode === 'discard') {
  app.post('/upload', (req, res) => {
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
    });
    req.on('end', () => res.json({ size }));
  });
} else {
  let n = 0;
  app.post('/upload', async (req, res) => {
    const path = join(dir, `raw-${process.pid}-${n++}.bin`);
    const out = createWriteStream(path, { highWaterMark: 1024 * 1024 });
    await pipeline(req, out);
    await rm(path);
    res.json({ size: out.bytesWritten });
  });
}

const idleRss = process.memoryUsage.rss();
let startCpu = process.cpuUsage();
// Main-thread busy time (event-loop utilisation), which process CPU cannot show apart from worker
// and libuv threads. Includes the sampler below and the IPC, the same for every server.
let startElu = performance.eventLoopUtilization();
// CPU time of the main thread alone (Linux: utime + stime of its task, in clock ticks of 10 ms).
const mainThreadCpuMs = () => {
  const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, 'latin1')
    .split(') ')[1]
    .split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};
let startMainCpu = mainThreadCpuMs();
let peakRss = idleRss;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 10);
sampler.unref();

const server = app.listen(0, '127.0.0.1', () => {
  process.send({ type: 'ready', port: server.address().port });
});
process.on('message', (msg) => {
  if (msg.type === 'rss') {
    const maxRss = process.resourceUsage().maxRSS * 1024;
    const cpu = process.cpuUsage(startCpu);
    process.send({
      type: 'rss',
      idleRss,
      peakRss: Math.max(peakRss, maxRss),
      cpuMs: (cpu.user + cpu.system) / 1000,
      mainMs: performance.eventLoopUtilization(startElu).active,
      mainCpuMs: mainThreadCpuMs() - startMainCpu,
    });
  } else if (msg.type === 'reset') {
    // After the warm-up upload: count CPU from here (peak RSS keeps what the warm-up started).
    startCpu = process.cpuUsage();
    startElu = performance.eventLoopUtilization();
    startMainCpu = mainThreadCpuMs();
    process.send({ type: 'reset' });
  } else if (msg.type === 'stop') {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  }
});
