// Lines per second written to a rotated file, counting until close() has every line on disk.
// Compares createLogger (redaction + safe serialisation) with plain winston + DailyRotateFile
// (timestamp + json formats) in the same process, interleaved over rounds.
// Usage: node bench/logger/lines.mjs [lines] [rounds]
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@shipshape/logger';
import winston from 'winston';
import DailyRotateFile from 'winston-daily-rotate-file';

const lines = Number(process.argv[2] ?? 100_000);
const rounds = Number(process.argv[3] ?? 3);
const meta = { userId: 'u-123', orderId: 98765, path: '/api/orders/98765', items: [1, 2, 3] };

function countLines(dir, prefix) {
  let n = 0;
  for (const f of readdirSync(dir)) {
    if (!f.startsWith(prefix) || f.endsWith('.gz')) continue;
    n += readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean).length;
  }
  return n;
}

async function shipshape() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-lines-'));
  const logger = createLogger({
    console: false,
    files: {
      dir,
      maxSize: '10m',
      maxFiles: 100,
      zippedArchive: false,
      streams: { error: false, security: false, access: false },
    },
  });
  const start = process.hrtime.bigint();
  for (let i = 0; i < lines; i++) logger.info('order placed', { ...meta, i });
  await logger.close();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const written = countLines(dir, 'app-');
  rmSync(dir, { recursive: true, force: true });
  return { seconds, written };
}

async function plainWinston() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-lines-w-'));
  const transport = new DailyRotateFile({
    dirname: dir,
    filename: 'app-%DATE%.log',
    maxSize: '10m',
    maxFiles: 100,
  });
  const logger = winston.createLogger({
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [transport],
  });
  const start = process.hrtime.bigint();
  for (let i = 0; i < lines; i++) logger.info('order placed', { ...meta, i });
  // winston's 'finish' fires before the file stream has written; wait until the count is complete
  // (bounded) so both columns measure "on disk".
  await new Promise((resolve) => {
    transport.on('finish', resolve);
    logger.end();
  });
  let written = countLines(dir, 'app-');
  const finishWritten = written;
  const deadline = Date.now() + 30_000;
  while (written < lines && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
    written = countLines(dir, 'app-');
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  rmSync(dir, { recursive: true, force: true });
  return { seconds, written, finishWritten };
}

const results = { shipshape: [], winston: [] };
for (let r = 0; r < rounds; r++) {
  const a = await shipshape();
  results.shipshape.push(a);
  const b = await plainWinston();
  results.winston.push(b);
  process.stderr.write(
    `round ${r + 1}: shipshape ${(lines / a.seconds).toFixed(0)} lines/s (${a.written} on disk after close); winston ${(lines / b.seconds).toFixed(0)} lines/s (${b.finishWritten} on disk at 'finish', ${b.written} later)\n`,
  );
}
const median = (v) => [...v].sort((x, y) => x - y)[v.length >> 1];
console.log(
  `| logger | lines/s (median of ${rounds}, ${lines} lines, until on disk) | lines on disk |`,
);
console.log('|---|---:|---:|');
console.log(
  `| createLogger → app-*.log | ${median(results.shipshape.map((x) => lines / x.seconds)).toFixed(0)} | ${results.shipshape.map((x) => x.written).join(' / ')} |`,
);
console.log(
  `| winston + DailyRotateFile | ${median(results.winston.map((x) => lines / x.seconds)).toFixed(0)} | at 'finish': ${results.winston.map((x) => x.finishWritten).join(' / ')} |`,
);
