// Latency of /health/ready and /metrics under load, with the app route of the same server as baseline.
import { runServerBench } from '../lib.mjs';

const probes = new URL('./servers/probes.mjs', import.meta.url);

await runServerBench({
  name: 'health-probes',
  servers: [
    { name: 'app route (baseline)', module: probes, path: '/api/items/42' },
    { name: '/health/ready', module: probes, path: '/health/ready' },
    { name: '/metrics', module: probes, path: '/metrics' },
  ],
  baseline: 'app route (baseline)',
  duration: 5,
});
