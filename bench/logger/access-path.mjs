// Cost of handing one pre-serialised access line to the transports, three ways, same process:
// winston's stream chain (logger.write), the direct dispatch accessLog uses, and the rotator's
// per-line write that winston-daily-rotate-file does. Minimum and median of 7 runs of 20,000 lines,
// each followed by flush(). Usage: node bench/logger/access-path.mjs
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@shipshape/logger';
import { INTERNALS } from '../../packages/logger/dist/logger.js';
import { PRESERIALIZED, STREAM } from '../../packages/logger/dist/symbols.js';

const LEVEL = Symbol.for('level');
const MESSAGE = Symbol.for('message');
const dir = mkdtempSync(join(tmpdir(), 'bench-access-path-'));
const logger = createLogger({
  console: false,
  files: { dir, streams: { app: false, error: false, security: false } },
});
const access = logger.transports.find((t) => t.streamName === 'access');
const json =
  '{"timestamp":"2026-11-26T13:00:00.000Z","level":"info","message":"request","service":"x","env":"production","version":"0.0.0","hostname":"vm","pid":1,"requestId":"3f0c7d1e-1111-4222-8333-444455556666","stream":"access","method":"GET","route":"/","status":200,"durationMs":0.41,"bytesIn":0,"bytesOut":213,"ip":"::ffff:127.0.0.1","userAgent":"autocannon"}';
const line = () => ({
  level: 'info',
  message: 'request',
  [LEVEL]: 'info',
  [STREAM]: 'access',
  [PRESERIALIZED]: true,
  [MESSAGE]: json,
});
const N = 20_000;
const rows = [];
async function bench(name, fn) {
  const times = [];
  for (let r = 0; r < 7; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) fn();
    times.push(Number(process.hrtime.bigint() - t0) / N);
    await logger.flush();
  }
  times.sort((a, b) => a - b);
  rows.push(`| ${name} | ${(times[0] / 1000).toFixed(2)} | ${(times[3] / 1000).toFixed(2)} |`);
}
await bench('winston stream chain (`logger.write`)', () => logger.write(line()));
await bench('direct dispatch (what `accessLog` uses)', () => logger[INTERNALS].dispatch(line()));
await bench('rotator write per line (winston-daily-rotate-file)', () =>
  access.logStream.write(`${json}\n`),
);
await logger.close();
rmSync(dir, { recursive: true, force: true });
console.log('| path | µs/line (min of 7) | µs/line (median) |');
console.log('|---|---:|---:|');
for (const row of rows) console.log(row);
