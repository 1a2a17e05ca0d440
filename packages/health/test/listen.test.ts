import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { describeEachExpress } from '../../../test/helpers/index.js';
import { createHealth, type Health, listenAndMarkReady } from '../src/index.js';

describeEachExpress('listenAndMarkReady', (express) => {
  const servers: Server[] = [];
  const healths: Health[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
    for (const h of healths.splice(0)) await h.close();
  });

  it('marks ready once the port is bound', async () => {
    const health = createHealth({ service: 't' });
    healths.push(health);
    const app = express();
    app.use(health.router());
    expect((await health.report('readiness')).httpStatus).toBe(503);
    const server = await listenAndMarkReady(app, health, 0, '127.0.0.1');
    servers.push(server);
    const { port } = server.address() as { port: number };
    expect((await fetch(`http://127.0.0.1:${port}/health/ready`)).status).toBe(200);
  });

  it('rejects and leaves readiness 503 when the port is taken', async () => {
    const taken = createServer().listen(0, '127.0.0.1');
    await once(taken, 'listening');
    servers.push(taken);
    const { port } = taken.address() as { port: number };
    const health = createHealth({ service: 't' });
    healths.push(health);
    await expect(listenAndMarkReady(express(), health, port, '127.0.0.1')).rejects.toMatchObject({
      code: 'EADDRINUSE',
    });
    expect((await health.report('readiness')).httpStatus).toBe(503);
  });
});

describe('listenAndMarkReady options', () => {
  it('refuses what is not a health or a server', () => {
    expect(() => listenAndMarkReady(() => undefined, {} as never, 0)).toThrow(/markReady/);
    expect(() => listenAndMarkReady({} as never, { markReady: () => undefined }, 0)).toThrow(
      /Express app, a request listener or an http.Server/,
    );
  });
});
