// requestContext + accessLog (access lines to a rotated file) against bare Express, same run.
import { runServerBench } from '../lib.mjs';

const server = (name) => ({ name, module: new URL(`./servers/${name}.mjs`, import.meta.url) });

await runServerBench({
  name: 'logger-http',
  servers: [server('bare'), server('shipshape'), server('winston-hand')],
  baseline: 'bare',
  rounds: 3,
  duration: 10,
  warmup: 3,
  connections: 50,
  path: '/',
});
