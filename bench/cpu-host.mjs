// Child process for cpu-per-request.mjs: serves one bench server module and reports its CPU time.
import { createServer } from 'node:http';

const mod = await import(process.argv[2]);
const server = createServer(await mod.default());
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => process.send({ type: 'ready', port: server.address().port }));
process.on('message', async (message) => {
  if (message?.type === 'cpu') {
    const { user, system } = process.cpuUsage();
    process.send({ type: 'cpu', micros: user + system });
  } else if (message?.type === 'stop') {
    server.closeAllConnections();
    server.close();
    if (typeof mod.close === 'function') await mod.close();
    process.exit(0);
  }
});
