// Child process of the overhead benches: serves one bench server module and reports its CPU time
// and peak RSS. A module that exports `listen()` (harden()'s lifecycle owns the server) listens itself.
import { createServer } from 'node:http';

const mod = await import(process.argv[2]);
let port;
let server;
if (typeof mod.listen === 'function') {
  port = await mod.listen();
} else {
  server = createServer(await mod.default());
  server.keepAliveTimeout = 65_000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = server.address().port;
}
let peakRss = process.memoryUsage().rss;
setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 100).unref();
process.send({ type: 'ready', port });
process.on('message', async (message) => {
  if (message?.type === 'cpu') {
    const { user, system } = process.cpuUsage();
    process.send({ type: 'cpu', micros: user + system });
  } else if (message?.type === 'rss') {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    process.send({ type: 'rss', peakRssMb: peakRss / 1024 / 1024 });
  } else if (message?.type === 'stop') {
    if (server) {
      server.closeAllConnections();
      server.close();
    }
    if (typeof mod.close === 'function') await mod.close();
    process.exit(0);
  }
});
