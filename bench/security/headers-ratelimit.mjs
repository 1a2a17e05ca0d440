// Throughput cost of securityHeaders and securityHeaders + rateLimit (memory store and Redis
// store) against bare Express, in the same run. Build first: npx tsc -p packages/security/tsconfig.build.json
import { runServerBench } from '../lib.mjs';

const server = (name) => ({ name, module: new URL(`./servers/${name}.mjs`, import.meta.url) });

await runServerBench({
  name: 'security-headers-ratelimit',
  servers: [
    server('bare'),
    server('headers'),
    server('headers-ratelimit-memory'),
    server('headers-ratelimit-redis'),
  ],
  baseline: 'bare',
  path: '/api/items/42',
});
