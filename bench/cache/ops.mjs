// In-process get/set throughput of the memory, Redis and tiered stores: a fixed number of
// concurrent async workers loop for a fixed time; configurations are interleaved over rounds and
// the median is reported. Redis runs on 127.0.0.1:6379 under a unique prefix, removed afterwards.
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { createCache, memoryStore, redisStore, tieredStore } from '@shipshape/cache';
import { createClient } from 'redis';
import { median } from '../lib.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_DURATION ?? 1);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 32);
const KEYS = 1000;
const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `shipshape-bench:cache:${randomUUID().slice(0, 8)}:`;
const value = { id: 42, name: 'Borosilicate 3.3', tags: ['lab', 'glass'], price: 12.5 };

const client = createClient({ url });
client.on('error', () => {});
await client.connect();

const caches = {
  memory: createCache({ name: 'memory', store: memoryStore() }),
  redis: createCache({ name: 'redis', store: redisStore({ client, prefix }) }),
  tiered: createCache({
    name: 'tiered',
    store: tieredStore(memoryStore(), redisStore({ client, prefix }), {
      subscriber: async () => {
        const sub = client.duplicate();
        sub.on('error', () => {});
        await sub.connect();
        return sub;
      },
    }),
  }),
};
await caches.tiered.ready();

async function measure(op) {
  let count = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const worker = async (id) => {
    let i = id;
    while (performance.now() < deadline) {
      await op(`k${i % KEYS}`);
      i += WORKERS;
      count++;
    }
  };
  const started = performance.now();
  const cpu = process.cpuUsage();
  await Promise.all(Array.from({ length: WORKERS }, (_, id) => worker(id)));
  const used = process.cpuUsage(cpu);
  // CPU time of this process per operation: steadier than ops/s when the machine is shared.
  return {
    opsPerSec: count / ((performance.now() - started) / 1000),
    cpuUsPerOp: (used.user + used.system) / count,
  };
}

// Prefill every cache so gets are hits.
for (const cache of Object.values(caches)) {
  for (let i = 0; i < KEYS; i++) await cache.set(`k${i}`, value);
}

// The same commands straight through node-redis, as the floor for the Redis-backed rows.
const rawPrefix = `${prefix}raw:`;
const rawValue = JSON.stringify(value);
const raw = {
  set: (key) => client.sendCommand(['SET', rawPrefix + key, rawValue, 'PX', '300000']),
  get: (key) => client.sendCommand(['GET', rawPrefix + key]),
};
for (let i = 0; i < KEYS; i++) await raw.set(`k${i}`);

const names = [...Object.keys(caches), 'node-redis'];
const samples = Object.fromEntries(
  names.flatMap((n) => [
    [`${n} get`, []],
    [`${n} set`, []],
  ]),
);
for (let round = 0; round < ROUNDS; round++) {
  const order = names.map((_, i) => names[(i + round) % names.length]);
  for (const name of order) {
    if (name === 'node-redis') {
      samples[`${name} set`].push(await measure(raw.set));
      samples[`${name} get`].push(await measure(raw.get));
      continue;
    }
    const cache = caches[name];
    samples[`${name} set`].push(await measure((key) => cache.set(key, value)));
    samples[`${name} get`].push(await measure((key) => cache.get(key)));
  }
  process.stderr.write(`[cache-ops] round ${round + 1}/${ROUNDS} done\n`);
}
for (const cache of Object.values(caches)) {
  const stats = cache.stats();
  if (stats.errors > 0)
    process.stderr.write(`[cache-ops] ${cache.name}: ${stats.errors} store errors\n`);
}

const load = loadavg()
  .map((n) => n.toFixed(1))
  .join(' / ');
const lines = [
  '### cache-ops',
  '',
  `\`node bench/cache/ops.mjs\` — ${ROUNDS} interleaved rounds (\`node-redis\` = the bare client sending GET/SET, no cache layer), ${WORKERS} concurrent callers, ${SECONDS} s per measurement, ${KEYS} keys, a 4-field object value; medians (min–max); CPU = user+system time of the benchmark process (cache + client, not redis-server) per operation. Load average at the end (1/5/15 min): ${load} on 2 cores.`,
  '',
  '| store | op | ops/s | min | max | process CPU µs/op |',
  '|---|---|---:|---:|---:|---:|',
];
for (const [label, list] of Object.entries(samples)) {
  const [store, op] = label.split(' ');
  const ops = list.map((sample) => sample.opsPerSec);
  const cpu = median(list.map((sample) => sample.cpuUsPerOp));
  lines.push(
    `| ${store} | ${op} | ${median(ops).toFixed(0)} | ${Math.min(...ops).toFixed(0)} | ${Math.max(...ops).toFixed(0)} | ${cpu.toFixed(1)} |`,
  );
}
process.stdout.write(`${lines.join('\n')}\n`);

for (const cache of Object.values(caches)) await cache.close();
let cursor = '0';
do {
  const [next, keys] = await client.sendCommand([
    'SCAN',
    cursor,
    'MATCH',
    `${prefix}*`,
    'COUNT',
    '1000',
  ]);
  cursor = next;
  if (keys.length > 0) await client.sendCommand(['UNLINK', ...keys]);
} while (cursor !== '0');
await client.close();
