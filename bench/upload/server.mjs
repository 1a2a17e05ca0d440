// One bench server in its own process: `guard` = uploadGuard (built package), `raw` = the request
// body piped straight to a file (HTTP without multipart parsing or checks). Reports its port over
// IPC, answers { type: 'rss' } with idle and peak RSS, exits on { type: 'stop' }.
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { uploadedFiles, uploadGuard } from '@shipshape/security';
import express from 'express';

const [mode, dir] = process.argv.slice(2);
const app = express();

if (mode === 'guard') {
  app.post('/upload', uploadGuard({ dir, types: ['csv'], maxFileSize: '200mb' }), (req, res) => {
    const [file] = uploadedFiles(req);
    res.json({ size: file.size, sha256: file.sha256 });
  });
} else {
  let n = 0;
  app.post('/upload', async (req, res) => {
    const path = join(dir, `raw-${process.pid}-${n++}.bin`);
    await pipeline(req, createWriteStream(path));
    await rm(path);
    res.json({ size: Number(req.headers['content-length']) });
  });
}

const idleRss = process.memoryUsage.rss();
const startCpu = process.cpuUsage();
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
    });
  } else if (msg.type === 'stop') {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  }
});
