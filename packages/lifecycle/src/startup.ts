import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PKG } from './config.js';
import type { Log } from './log.js';
import { errorMessage, runStep, type Step } from './steps.js';
import type { LifecycleState } from './types.js';

/** What the startup works on; owned by createLifecycle(). */
export interface StartupParts {
  readonly server: Server | undefined;
  /** The startup checks, in registration order. */
  readonly checks: readonly Step[];
  readonly log: Log;
  readonly state: { get(): LifecycleState; set(next: LifecycleState): void };
  /** Releases of the keep-alive handles in use, for dispose(). */
  readonly running: Set<() => void>;
}

/**
 * Runs the startup checks in order, listens on `port` when the server is not listening yet, then
 * marks the process ready. Rejects naming the failed check, or the address it could not bind.
 */
export async function runStart(
  parts: StartupParts,
  port: number | undefined,
  host: string | undefined,
): Promise<AddressInfo | undefined> {
  const { server, checks, log, state, running } = parts;
  // Same reasoning as in shutdown: an awaited start must not let Node exit mid-check.
  const keepAlive = setInterval(() => {}, 60_000);
  const release = () => clearInterval(keepAlive);
  running.add(release);
  try {
    for (const check of checks) {
      const result = await runStep(check);
      if (result.status !== 'ok') {
        const detail =
          result.status === 'timed out'
            ? `timed out after ${check.timeoutMs} ms`
            : `failed: ${result.error}`;
        const message = `startup check "${check.name}" ${detail}`;
        log('error', message, { check: check.name });
        throw new Error(`${PKG}: ${message}`);
      }
    }
    if (state.get() !== 'starting') {
      throw new Error(`${PKG}: start() aborted: shutdown began during startup (${state.get()})`);
    }
    let address: AddressInfo | undefined;
    if (server && !server.listening && port !== undefined) {
      await new Promise<void>((resolve, reject) => {
        const onError = (error: Error) => {
          reject(
            new Error(`${PKG}: cannot listen on ${host ?? '*'}:${port}: ${errorMessage(error)}`, {
              cause: error,
            }),
          );
        };
        server.once('error', onError);
        server.listen(port, host, () => {
          server.removeListener('error', onError);
          resolve();
        });
      });
    }
    if (server?.listening) {
      const a = server.address();
      if (a && typeof a === 'object') address = a;
    }
    if (state.get() === 'starting') {
      state.set('ready');
      log('info', 'ready', address ? { port: address.port, address: address.address } : {});
    }
    return address;
  } finally {
    running.delete(release);
    release();
  }
}
