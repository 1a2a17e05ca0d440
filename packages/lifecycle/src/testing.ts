import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  /** Closes the server and every socket it still has, keep-alive ones included. */
  close(): Promise<void>;
}

/**
 * Serves `app` (an Express app, a request listener or an `http.Server`) on 127.0.0.1 with an
 * OS-assigned port, so test files can run in parallel.
 */
export function startTestServer(app: RequestListener | Server): Promise<TestServer> {
  const server = typeof app === 'function' ? createServer(app) : app;
  if (!server || typeof server.listen !== 'function') {
    return Promise.reject(
      new TypeError(
        '@shipshape/lifecycle/testing: startTestServer(app) needs an app, a request listener or an http.Server',
      ),
    );
  }
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen(0, '127.0.0.1', () => {
      server.removeListener('error', onError);
      const { port } = server.address() as AddressInfo;
      let closing: Promise<void> | undefined;
      resolve({
        url: `http://127.0.0.1:${port}`,
        port,
        server,
        close() {
          closing ??= new Promise<void>((done, fail) => {
            server.close((error) => (error ? fail(error) : done()));
            server.closeAllConnections();
          });
          return closing;
        },
      });
    });
  });
}
