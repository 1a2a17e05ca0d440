#!/usr/bin/env node
// Processes one file in this process and prints JSON: rows, seconds, bytes and peak RSS.
// Used by the memory test and bench/glass. Needs the built package (npm run build).
// Usage: node scripts/measure.mjs --file F [--format csv|xlsx] [--db PATH] [--parse-only]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    file: { type: 'string' },
    format: { type: 'string', default: 'csv' },
    db: { type: 'string' },
    'parse-only': { type: 'boolean', default: false },
  },
});
if (!values.file) {
  process.stderr.write('measure: --file is required\n');
  process.exit(2);
}
const { createSqliteStorage, openRecords, processDataset } = await import('../dist/index.js');

let peak = process.memoryUsage().rss;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 50);
sampler.unref();

const bytes = statSync(values.file).size;
const started = process.hrtime.bigint();
const cpuStart = process.cpuUsage();
let result;
if (values['parse-only']) {
  // Same reader (sniffing, decoding, csv-parse), no normalisation or storage.
  const reader = await openRecords(values.file, { format: values.format });
  let rows = 0;
  for await (const _record of reader.records) rows++;
  result = { mode: 'parse-only', rows: rows - 1 };
} else {
  const dir = mkdtempSync(join(tmpdir(), 'glass-measure-'));
  const storage = createSqliteStorage({ filename: values.db ?? join(dir, 'glass.db') });
  await storage.init();
  const dataset = await storage.createDataset({
    country: 'KEN',
    year: 2024,
    batchId: 'BENCH',
    format: values.format,
  });
  const done = await processDataset({ datasetId: dataset.id, input: values.file }, storage);
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
  result = {
    mode: 'end-to-end',
    status: done.status,
    error: done.error,
    rows: done.counts?.rowsRead ?? 0,
    isolates: done.counts?.isolates ?? 0,
    risRows: done.counts?.risRows ?? 0,
    firstIsolatesGlass: done.counts?.firstIsolatesGlass ?? 0,
  };
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const cpu = process.cpuUsage(cpuStart);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
peak = Math.max(peak, process.memoryUsage().rss);
clearInterval(sampler);
process.stdout.write(
  `${JSON.stringify({
    ...result,
    seconds: Math.round(seconds * 1000) / 1000,
    // The machine may be shared: CPU time shows the work independent of waiting for a core.
    cpuSeconds: Math.round(cpuSeconds * 1000) / 1000,
    rowsPerCpuSec: Math.round(result.rows / cpuSeconds),
    rowsPerSec: Math.round(result.rows / seconds),
    mbPerSec: Math.round((bytes / 1e6 / seconds) * 100) / 100,
    bytes,
    peakRssMb: Math.round((peak / 1024 / 1024) * 10) / 10,
    heapUsedMb: Math.round((process.memoryUsage().heapUsed / 1024 / 1024) * 10) / 10,
  })}\n`,
);
