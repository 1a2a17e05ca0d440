// Runs one benchmark server in its own process: imports a module whose default export builds the app,
// listens on 127.0.0.1:0, reports its port over IPC and, on request, its peak RSS.
import { createServer } from 'node:http';

const mod = await import(process.argv[2]);
const app = await mod.default();
const server = createServer(app);
server.keepAliveTimeout = 65_000;

let peakRss = process.memoryUsage().rss;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 100);
sampler.unref();

server.listen(0, '127.0.0.1', () => {
  process.send({ type: 'ready', port: server.address().port });
});

process.on('message', async (message) => {
  if (message?.type === 'rss') {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    process.send({ type: 'rss', peakRssMb: peakRss / 1024 / 1024 });
  } else if (message?.type === 'stop') {
    server.closeAllConnections();
    server.close();
    if (typeof mod.close === 'function') await mod.close();
    process.exit(0);
  }
});
