// Throughput cost of httpMetrics against bare Express (and express-prom-bundle) in the same run.
import { runServerBench } from '../lib.mjs';

const server = (name) => ({ name, module: new URL(`./servers/${name}.mjs`, import.meta.url) });

await runServerBench({
  name: 'health-http-metrics',
  servers: [server('bare'), server('http-metrics'), server('prom-bundle')],
  baseline: 'bare',
  path: '/api/items/42',
});
