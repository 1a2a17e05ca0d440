#!/usr/bin/env node
// GLASS standardizer throughput: for each generated file, a parse-only pass (same reader: sniffing,
// decoding, csv-parse) and an end-to-end pass (normalise, SQLite batches, first isolates, RIS),
// each in its own child process, interleaved, reporting rows/s, MB/s, CPU time and peak RSS.
// Usage: node bench/glass/run.mjs [--sizes 10000,100000,1000000] [--rounds 1]
// Needs: npm run build -w examples/glass-standardizer
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..', 'examples', 'glass-standardizer');
const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000' },
    rounds: { type: 'string', default: '1' },
  },
});
const sizes = values.sizes.split(',').map(Number);
const rounds = Number(values.rounds);
const dir = join(tmpdir(), 'glass-bench');
mkdirSync(dir, { recursive: true });

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const rows = [];
for (const size of sizes) {
  const file = join(dir, `rows-${size}-seed42.csv`);
  if (!existsSync(file)) {
    await run(process.execPath, [
      join(root, 'scripts/generate.mjs'),
      '--rows',
      String(size),
      '--seed',
      '42',
      '--out',
      file,
    ]);
  }
  const results = { 'parse-only': [], 'end-to-end': [] };
  for (let r = 0; r < rounds; r++) {
    for (const mode of ['parse-only', 'end-to-end']) {
      const args = [
        join(root, 'scripts/measure.mjs'),
        '--file',
        file,
        ...(mode === 'parse-only' ? ['--parse-only'] : []),
      ];
      const { stdout } = await run(process.execPath, args, { maxBuffer: 1 << 20 });
      const result = JSON.parse(stdout);
      if (mode === 'end-to-end' && result.status !== 'done')
        throw new Error(`end-to-end ${size}: ${result.status} ${result.error}`);
      results[mode].push(result);
      process.stderr.write(`${size} ${mode} round ${r + 1}: ${stdout}`);
    }
  }
  for (const mode of ['parse-only', 'end-to-end']) {
    const rs = results[mode];
    rows.push({
      size,
      mode,
      mb: rs[0].bytes / 1e6,
      rowsPerSec: median(rs.map((x) => x.rowsPerSec)),
      mbPerSec: median(rs.map((x) => x.mbPerSec)),
      cpuSeconds: median(rs.map((x) => x.cpuSeconds)),
      rowsPerCpuSec: median(rs.map((x) => x.rowsPerCpuSec)),
      peakRssMb: median(rs.map((x) => x.peakRssMb)),
    });
  }
}

const lines = [
  `command: node bench/glass/run.mjs --sizes ${values.sizes} --rounds ${rounds}`,
  '',
  '| rows | file MB | pass | rows/s (wall) | MB/s (wall) | CPU s | rows per CPU-s | e2e/parse (CPU) | peak RSS MB |',
  '|---:|---:|---|---:|---:|---:|---:|---:|---:|',
];
for (const r of rows) {
  const parse = rows.find((x) => x.size === r.size && x.mode === 'parse-only');
  const ratio =
    r.mode === 'end-to-end' && parse ? (r.rowsPerCpuSec / parse.rowsPerCpuSec).toFixed(2) : '';
  lines.push(
    `| ${r.size} | ${r.mb.toFixed(1)} | ${r.mode} | ${r.rowsPerSec} | ${r.mbPerSec} | ${r.cpuSeconds} | ${r.rowsPerCpuSec} | ${ratio} | ${r.peakRssMb} |`,
  );
}
process.stdout.write(`${lines.join('\n')}\n`);
