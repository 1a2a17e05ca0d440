// Reads one file with the built reader in a fresh process and prints what happened as JSON:
// the outcome, the peak RSS of the whole process and the time taken.
import { createReadStream, readFileSync } from 'node:fs';
// The reader's own module: the package index would also load the storage drivers.
import { openRecords } from '../../dist/io/input.js';

const [path, json = '{}'] = process.argv.slice(2);
const { stream, ...options } = JSON.parse(json, (_key, value) =>
  value === 'Infinity' ? Number.POSITIVE_INFINITY : value,
);
const started = performance.now();
let result;
try {
  const reader = await openRecords(stream ? createReadStream(path) : path, options);
  let rows = 0;
  for await (const _ of reader.records) rows++;
  result = { ok: true, rows, notices: reader.notices.map((n) => n.code) };
} catch (err) {
  result = { ok: false, code: err.code, message: err.message };
}
result.ms = Math.round(performance.now() - started);
// VmHWM is the peak of this process image; getrusage's maxRSS would include the RSS of the
// parent at fork time on Linux.
const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
result.maxRssMB = Math.round(Number(hwm ?? process.resourceUsage().maxRSS) / 1024);
process.stdout.write(JSON.stringify(result));
