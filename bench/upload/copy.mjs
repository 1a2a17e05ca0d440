// The baseline: a plain streaming disk copy of the same file, in its own process.
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';

const [src, dst] = process.argv.slice(2);
const started = process.hrtime.bigint();
const startCpu = process.cpuUsage();
await pipeline(createReadStream(src), createWriteStream(dst));
const ms = Number(process.hrtime.bigint() - started) / 1e6;
const cpu = process.cpuUsage(startCpu);
await rm(dst);
process.send({
  ms,
  peakRss: process.resourceUsage().maxRSS * 1024,
  cpuMs: (cpu.user + cpu.system) / 1000,
});
