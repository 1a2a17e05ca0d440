import type { AsyncResource } from 'node:async_hooks';
import type { Server } from 'node:http';
import type { LifecycleConfig } from './config.js';

export type FatalKind = 'uncaughtException' | 'unhandledRejection';

/** What the handlers call: the shutdown's signal and fatal-error entry points, and the log. */
export interface ProcessHandlerTargets {
  signal(signal: NodeJS.Signals): void;
  fatal(kind: FatalKind, error: unknown): void;
  /** `unhandledRejection: 'log'`. */
  rejection(reason: unknown): void;
}

/**
 * The lifecycle's `process` listeners: the `signals`, `uncaughtException` and
 * `unhandledRejection`. Installed once, when the service starts (`install()`: start(), listen(),
 * markReady(), or the server emitting 'listening'), never by createLifecycle() — a process that
 * only builds the app (a test file, a script) keeps Node's own behaviour, and many instances add
 * no listeners. `remove()` takes them off for good.
 *
 * Node runs `uncaughtException` / `unhandledRejection` handlers in the async context of the
 * callback or promise that failed (a socket or timer created during some request), so an
 * AsyncLocalStorage logger would stamp that request's id on the fatal log. The handlers are
 * bound to the context the lifecycle was created in instead.
 */
export class ProcessHandlers {
  private readonly installed: Array<[string, (arg: unknown) => void]> = [];
  private done = false;
  private server: Server | undefined;
  private readonly config: LifecycleConfig;
  private readonly context: AsyncResource;
  private readonly targets: ProcessHandlerTargets;

  constructor(config: LifecycleConfig, context: AsyncResource, targets: ProcessHandlerTargets) {
    this.config = config;
    this.context = context;
    this.targets = targets;
  }

  /** Installs the handlers when `server` starts listening (at once when it already listens). */
  installWhenListening(server: Server): void {
    if (server.listening) {
      this.install();
      return;
    }
    this.server = server;
    server.once('listening', this.onListening);
  }

  /** Installs the handlers (once; never after `remove()`). */
  install(): void {
    if (this.done) return;
    this.done = true;
    this.forgetServer();
    const { config, targets } = this;
    for (const signal of config.signals) {
      this.on(signal, (received) => targets.signal(received as NodeJS.Signals));
    }
    if (config.handleUncaughtException) {
      this.on('uncaughtException', (error) => targets.fatal('uncaughtException', error));
    }
    if (config.unhandledRejection === 'fatal') {
      this.on('unhandledRejection', (reason) => targets.fatal('unhandledRejection', reason));
    } else if (config.unhandledRejection === 'log') {
      this.on('unhandledRejection', (reason) => targets.rejection(reason));
    }
  }

  /** Removes every handler installed, and the wait for 'listening'. Idempotent. */
  remove(): void {
    this.done = true;
    this.forgetServer();
    for (const [event, handler] of this.installed) process.removeListener(event, handler);
    this.installed.length = 0;
  }

  private readonly onListening = (): void => this.install();

  private forgetServer(): void {
    this.server?.removeListener('listening', this.onListening);
    this.server = undefined;
  }

  private on(event: string, handler: (arg: unknown) => void): void {
    const bound = this.context.bind(handler);
    process.on(event, bound);
    this.installed.push([event, bound]);
  }
}
