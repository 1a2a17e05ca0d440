#!/usr/bin/env node
// The multipart parser alone, in process: busboy 1.x (what uploadGuard used until 2026-11-27)
// against @fastify/busboy (what it uses now) on the same multipart body of one CSV file, fed in
// 64 kB chunks as socket reads arrive, for boundaries of several lengths (the boundary search of
// busboy 1.x advances at most the delimiter's length per step). Medians of the rounds.
// Usage: node bench/upload/parsers.mjs [MB=100] [rounds=5]
import { createRequire } from 'node:module';
import { Busboy as FastifyBusboy } from '@fastify/busboy';
import { csvLine } from './csv.mjs';

// busboy 1.x is a devDependency of @shipshape/logger's tests; resolve it from there.
const busboy = createRequire(new URL('../../packages/logger/package.json', import.meta.url))(
  'busboy',
);
const sizeMb = Number(process.argv[2] ?? 100);
const rounds = Number(process.argv[3] ?? 5);

const parts = [];
let total = 0;
for (let i = 0; total < sizeMb * 1024 * 1024; ) {
  let text = '';
  while (text.length < 65536) text += csvLine(i++);
  const chunk = Buffer.from(text);
  parts.push(chunk);
  total += chunk.length;
}
const csv = Buffer.concat(parts);

function parse(make, doneEvent, headers, pieces) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    let bytes = 0;
    const parser = make(headers);
    parser.on('file', (_field, stream) => {
      stream.on('data', (d) => {
        bytes += d.length;
      });
    });
    parser.on('error', reject);
    parser.on(doneEvent, () =>
      resolve({ ms: Number(process.hrtime.bigint() - started) / 1e6, bytes }),
    );
    for (const piece of pieces) parser.write(piece);
    parser.end();
  });
}

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];
console.log(
  `${sizeMb} MB CSV in one part, 64 kB chunks, ${rounds} rounds, Node ${process.version}\n`,
);
console.log('| boundary (chars) | busboy 1.x (ms) | @fastify/busboy (ms) |');
console.log('|---:|---:|---:|');
for (const boundary of ['b', '----shipshapeBench', '----WebKitFormBoundary7MA4YWxkTrZu0gW']) {
  const body = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\nContent-Type: text/csv\r\n\r\n`,
    ),
    csv,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const pieces = [];
  for (let offset = 0; offset < body.length; offset += 65536)
    pieces.push(body.subarray(offset, offset + 65536));
  const headers = { 'content-type': `multipart/form-data; boundary=${boundary}` };
  const limits = { fileSize: Number.MAX_SAFE_INTEGER };
  const times = { busboy: [], fastify: [] };
  for (let round = 0; round < rounds; round++) {
    const a = await parse((h) => busboy({ headers: h, limits }), 'close', headers, pieces);
    const b = await parse(
      (h) => new FastifyBusboy({ headers: h, limits }),
      'finish',
      headers,
      pieces,
    );
    if (a.bytes !== csv.length || b.bytes !== csv.length) throw new Error('a parser lost bytes');
    times.busboy.push(a.ms);
    times.fastify.push(b.ms);
  }
  console.log(
    `| ${boundary.length} | ${median(times.busboy).toFixed(1)} | ${median(times.fastify).toFixed(1)} |`,
  );
}
