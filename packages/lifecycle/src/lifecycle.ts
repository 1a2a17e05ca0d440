import { AsyncResource } from 'node:async_hooks';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { invalidArgument, PKG, resolveConfig, show } from './config.js';
import { ConnectionTracker } from './connections.js';
import { createLog } from './log.js';
import { ProcessHandlers } from './process-handlers.js';
import { Shutdown } from './shutdown.js';
import { runStart } from './startup.js';
import { errorMessage, register, type Step } from './steps.js';
import type {
  Lifecycle,
  LifecycleOptions,
  LifecycleState,
  ShutdownReport,
  TaskFunction,
} from './types.js';
import { TrackedWork } from './work.js';

/**
 * Owns the process's life around one HTTP server: startup checks, readiness, and a graceful
 * shutdown (draining, tracked work, ordered hooks, report, exit code) triggered once by a signal,
 * `shutdown()` or a fatal error. This file wires the parts together: options (config.ts), log and
 * warnings (log.ts), steps (steps.ts), startup (startup.ts), tracked work (work.ts), connections
 * (connections.ts), the shutdown (shutdown.ts) and the process handlers (process-handlers.ts).
 */
export function createLifecycle(options?: LifecycleOptions): Lifecycle {
  const { config, warnings } = resolveConfig(options, process.env);
  const { log, warn } = createLog(config, warnings);

  const server = config.server ?? (config.app ? createServer(config.app) : undefined);
  if (server && config.timeouts) {
    server.headersTimeout = config.timeouts.headersTimeout;
    server.requestTimeout = config.timeouts.requestTimeout;
    server.keepAliveTimeout = config.timeouts.keepAliveTimeout;
  }

  let current: LifecycleState = 'starting';
  const state = {
    get: () => current,
    set(next: LifecycleState) {
      current = next;
      if (!config.health) return;
      try {
        config.health.setState(next);
      } catch (error) {
        log('error', `health.setState("${next}") threw: ${errorMessage(error)}`);
      }
    },
  };
  state.set('starting');

  // The async context createLifecycle() ran in: process handlers and the shutdown run in it.
  const context = new AsyncResource('shipshape.lifecycle');

  let disposed = false;
  /** What dispose() must stop of a start or shutdown in progress (their keep-alive handles). */
  const running = new Set<() => void>();
  const checks: Step[] = [];
  const hooks: Step[] = [];

  let resolveStopped: (report: ShutdownReport) => void = () => {};
  const stopped = new Promise<ShutdownReport>((resolve) => {
    resolveStopped = resolve;
  });

  // The tracker and the work call `notify` on every change; the shutdown, made below, is woken.
  const notify = () => shutdown.notify();
  const tracker = server ? new ConnectionTracker(server, notify) : undefined;
  const work = new TrackedWork(log, warn, notify);
  const shutdown = new Shutdown({
    config,
    server,
    tracker,
    work,
    hooks,
    log,
    state,
    context,
    running,
    forced: [],
    stopped: (report) => resolveStopped(report),
    exit(code) {
      // A disposed lifecycle (a test's afterEach) never ends the process.
      if (!config.exit || disposed) return;
      process.exit(code);
    },
  });

  const handlers = new ProcessHandlers(config, context, {
    signal: (signal) => shutdown.signal(signal),
    fatal: (kind, error) => shutdown.fatal(kind, error),
    rejection: (reason) =>
      log('error', `unhandled rejection: ${errorMessage(reason)}`, {
        stack: reason instanceof Error ? reason.stack : undefined,
      }),
  });
  // An app that listens on the server itself gets the handlers with its 'listening' event.
  if (server) handlers.installWhenListening(server);

  let startPromise: Promise<AddressInfo | undefined> | undefined;
  function start(port = config.port, host = config.host) {
    if (disposed) return Promise.reject(new Error(`${PKG}: start() after dispose()`));
    if (startPromise) return startPromise;
    if (current === 'draining' || current === 'stopped') {
      return Promise.reject(new Error(`${PKG}: start() after shutdown began (${current})`));
    }
    if (port !== undefined && !server) {
      return Promise.reject(
        new Error(`${PKG}: cannot listen on port ${port}: no "server" or "app" was given`),
      );
    }
    handlers.install();
    startPromise = runStart({ server, checks, log, state, running }, port, host);
    return startPromise;
  }

  function readinessHandler(_req: IncomingMessage, res: ServerResponse) {
    const ready = current === 'ready';
    res.statusCode = ready ? 200 : 503;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.end(JSON.stringify({ status: current }));
  }

  return {
    get server() {
      return server;
    },
    get state() {
      return current;
    },
    stopped,
    addStartupCheck(name, fn, stepOptions) {
      return register(checks, 'startup check', name, fn, stepOptions, config.startupTimeoutMs);
    },
    start: () => start(),
    listen(port, host) {
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        return Promise.reject(
          invalidArgument(`listen() port must be an integer from 0 to 65535, got ${show(port)}`),
        );
      }
      return start(port, host ?? config.host);
    },
    markReady() {
      handlers.install();
      if (current === 'starting') {
        state.set('ready');
        log('info', 'ready');
      }
    },
    onShutdown(name, fn, stepOptions) {
      return register(hooks, 'shutdown hook', name, fn, stepOptions, config.hookTimeoutMs);
    },
    track<T>(promise: Promise<T>, name = 'tracked promise'): Promise<T> {
      return work.track(promise, name);
    },
    task<T>(name: string, fn: TaskFunction<T>): Promise<T> {
      return work.task(name, fn);
    },
    shutdown() {
      return shutdown.begin('shutdown()');
    },
    readiness() {
      return readinessHandler;
    },
    dispose() {
      disposed = true;
      handlers.remove();
      for (const release of running) release();
      running.clear();
      // A shutdown in progress goes on (its timers are unref()'d and bounded) and still counts
      // requests to the end; only its keep-alive handle and its exit are gone.
      const detach = () => tracker?.detach();
      const inProgress = shutdown.started;
      if (inProgress) void inProgress.then(detach, detach);
      else detach();
    },
  };
}
