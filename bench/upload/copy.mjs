// The baseline: a plain streaming disk copy of the same file, in its own process, with Node's
// default stream buffers; given a third argument, both streams use that many bytes instead.
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';

const [src, dst, buffer] = process.argv.slice(2);
const options = buffer ? { highWaterMark: Number(buffer) } : {};
const started = process.hrtime.bigint();
const startCpu = process.cpuUsage();
await pipeline(createReadStream(src, options), createWriteStream(dst, options));
const ms = Number(process.hrtime.bigint() - started) / 1e6;
const cpu = process.cpuUsage(startCpu);
await rm(dst);
process.send({
  ms,
  peakRss: process.resourceUsage().maxRSS * 1024,
  cpuMs: (cpu.user + cpu.system) / 1000,
});
