// cacheResponse HIT throughput against the same route uncached (Express 5, 127.0.0.1).
import { loadavg } from 'node:os';
import { runServerBench } from '../lib.mjs';

const server = (name) => ({ name, module: new URL(`./servers/${name}.mjs`, import.meta.url) });

await runServerBench({
  name: 'cache-response',
  servers: [server('uncached'), server('cached-memory'), server('cached-redis')],
  baseline: 'uncached',
  path: '/api/products',
});

process.stdout.write(
  `\nLoad average at the end (1/5/15 min): ${loadavg()
    .map((n) => n.toFixed(1))
    .join(' / ')} on 2 cores.\n`,
);
