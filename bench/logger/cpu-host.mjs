import { createServer } from 'node:http';

const mod = await import(process.argv[2]);
const app = await mod.default();
const server = createServer(app);
server.keepAliveTimeout = 65_000;
let mark = process.cpuUsage();
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
process.on('message', async (m) => {
  if (m === 'mark') {
    mark = process.cpuUsage();
    process.send({});
  } else if (m === 'cpu') {
    const d = process.cpuUsage(mark);
    process.send({ cpuMicros: d.user + d.system });
  } else if (m === 'stop') {
    server.closeAllConnections();
    server.close();
    if (typeof mod.close === 'function') await mod.close();
    process.exit(0);
  }
});
