import { createServer, type RequestListener, type Server } from 'node:http';

/**
 * Starts listening and marks the service ready once the port is bound — and only then: when
 * `listen` fails (port taken, permission denied) the promise rejects and readiness stays 503.
 * (`app.listen(port, () => health.markReady())` marks ready either way on Express 5, which hands
 * the error to that callback.) Give an Express app or request listener, or an `http.Server`.
 */
export function listenAndMarkReady(
  target: RequestListener | Server,
  health: { markReady(): void },
  port: number,
  host?: string,
): Promise<Server> {
  if (typeof health?.markReady !== 'function')
    throw new TypeError(
      '@shipshape/health: listenAndMarkReady "health" must have markReady() (a createHealth() instance)',
    );
  const server =
    typeof target === 'function' ? createServer(target) : (target as Server | undefined);
  if (typeof server?.listen !== 'function')
    throw new TypeError(
      '@shipshape/health: listenAndMarkReady needs an Express app, a request listener or an http.Server',
    );
  return new Promise<Server>((resolve, reject) => {
    const onError = (error: Error) => {
      server.off('listening', onListening);
      reject(error);
    };
    const onListening = () => {
      server.off('error', onError);
      health.markReady();
      resolve(server);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    if (host === undefined) server.listen(port);
    else server.listen(port, host);
  });
}
