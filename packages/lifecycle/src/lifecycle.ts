import { AsyncResource } from 'node:async_hooks';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { invalidArgument, invalidOption, PKG, resolveConfig, show } from './config.js';
import { ConnectionTracker } from './connections.js';
import type {
  DeadlineOverrun,
  HookResult,
  Lifecycle,
  LifecycleOptions,
  LifecycleState,
  LifecycleWarningCode,
  ShutdownReport,
  ShutdownTrigger,
  StepFunction,
  StepOptions,
  TaskFunction,
} from './types.js';

interface Step {
  readonly name: string;
  readonly fn: StepFunction;
  readonly timeoutMs: number;
}

interface Work {
  readonly name: string;
  readonly controller: AbortController | undefined;
}

const now = () => performance.now();
const ms = (from: number, to: number) => Math.round(to - from);

/**
 * A deadline the lifecycle could act on only this long after it passed is reported as overrun:
 * its timer could not run, i.e. the event loop was blocked. Below this it is timer jitter.
 */
const OVERRUN_REPORT_MS = 100;

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : show(error);
}

function validateName(kind: string, name: unknown): string {
  if (typeof name !== 'string' || name.trim() === '') {
    throw invalidArgument(`${kind} name must be a non-empty string, got ${show(name)}`);
  }
  return name;
}

function validateFn(kind: string, name: string, fn: unknown): void {
  if (typeof fn !== 'function') {
    throw invalidArgument(`${kind} "${name}" must be a function, got ${show(fn)}`);
  }
}

function stepTimeout(kind: string, name: string, options: unknown, fallback: number): number {
  if (options === undefined) return fallback;
  if (options === null || typeof options !== 'object') {
    throw invalidOption(`${kind} "${name}" options must be an object, got ${show(options)}`);
  }
  const value = (options as StepOptions).timeoutMs;
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0 || value > 2_147_483_647) {
    throw invalidOption(
      `${kind} "${name}" timeoutMs must be a non-negative integer number of milliseconds, got ${show(value)}`,
    );
  }
  return value;
}

/** Runs one step with its own timeout; the step's signal aborts when the timeout passes. */
async function runStep(step: Step): Promise<HookResult> {
  const started = now();
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timed out'>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new Error(`${PKG}: "${step.name}" timed out after ${step.timeoutMs} ms`));
      resolve('timed out');
    }, step.timeoutMs);
    timer.unref();
  });
  try {
    const outcome = await Promise.race([
      Promise.resolve()
        .then(() => step.fn(controller.signal))
        .then(() => 'ok' as const),
      timedOut,
    ]);
    return { name: step.name, status: outcome, durationMs: ms(started, now()) };
  } catch (error) {
    return {
      name: step.name,
      status: 'failed',
      durationMs: ms(started, now()),
      error: errorMessage(error),
    };
  } finally {
    clearTimeout(timer);
  }
}

function countHandles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

/**
 * Owns the process's life around one HTTP server: startup checks, readiness, and a graceful
 * shutdown (draining, tracked work, ordered hooks, report, exit code) triggered once by a signal,
 * `shutdown()` or a fatal error.
 */
export function createLifecycle(options?: LifecycleOptions): Lifecycle {
  const { config, warnings } = resolveConfig(options, process.env);
  const logger = config.logger;

  const log = (level: 'info' | 'warn' | 'error', message: string, meta?: object) => {
    try {
      logger[level](`${PKG}: ${message}`, meta as Record<string, unknown>);
    } catch {
      // A broken logger must never break the shutdown it is reporting on.
    }
  };

  const warned = new Set<LifecycleWarningCode>();
  const warn = (code: LifecycleWarningCode, message: string, meta?: Record<string, unknown>) => {
    const setting = config.warnings;
    if (setting === false || (Array.isArray(setting) && setting.includes(code))) return;
    if (warned.has(code)) return;
    warned.add(code);
    if (config.loggerGiven) {
      log('warn', message, { code, ...meta });
      return;
    }
    // No logger given: the channel every shipshape package uses for its warnings without one.
    process.emitWarning(`${PKG}: ${message}`, { code, type: 'ShipshapeLifecycleWarning' });
  };
  for (const w of warnings) warn(w.code, w.message, w.meta);

  const server = config.server ?? (config.app ? createServer(config.app) : undefined);
  if (server && config.timeouts) {
    server.headersTimeout = config.timeouts.headersTimeout;
    server.requestTimeout = config.timeouts.requestTimeout;
    server.keepAliveTimeout = config.timeouts.keepAliveTimeout;
  }

  let state: LifecycleState = 'starting';
  const setState = (next: LifecycleState) => {
    state = next;
    if (!config.health) return;
    try {
      config.health.setState(next);
    } catch (error) {
      log('error', `health.setState("${next}") threw: ${errorMessage(error)}`);
    }
  };
  setState('starting');

  // The async context createLifecycle() ran in: process handlers and the shutdown run in it.
  const asyncContext = new AsyncResource('shipshape.lifecycle');

  // Wakes whichever wait (readiness delay, drain) is in progress.
  let wake: (() => void) | undefined;
  const notify = () => wake?.();

  const tracker = server ? new ConnectionTracker(server, notify) : undefined;
  const checks: Step[] = [];
  const hooks: Step[] = [];
  const work = new Map<number, Work>();
  let workId = 0;
  let workCompleted = 0;
  let pastDrain = false;
  let forcedBy: string | undefined;
  const forced: string[] = [];

  let resolveStopped: (report: ShutdownReport) => void = () => {};
  const stopped = new Promise<ShutdownReport>((resolve) => {
    resolveStopped = resolve;
  });
  let shutdownPromise: Promise<ShutdownReport> | undefined;
  let startPromise: Promise<AddressInfo | undefined> | undefined;
  let disposed = false;
  /** What dispose() must stop of a start or shutdown in progress (their keep-alive handles). */
  const running = new Set<() => void>();

  /**
   * Waits until `done()` holds, the absolute time `deadline` (a `performance.now()` value) passes
   * or a forced exit; resolves whether `done()` held. Every wake-up compares the clock with the
   * deadline, so after a blocked event loop the lifecycle acts on the first callback it gets.
   */
  const waitUntil = (done: () => boolean, deadline: number): Promise<boolean> =>
    new Promise((resolve) => {
      if (done()) return resolve(true);
      if (forcedBy || now() >= deadline) return resolve(false);
      const timer = setTimeout(finish, Math.max(1, Math.ceil(deadline - now())));
      timer.unref();
      function finish() {
        clearTimeout(timer);
        wake = undefined;
        resolve(done());
      }
      wake = () => {
        if (done() || forcedBy || now() >= deadline) finish();
      };
    });

  const untilForced = () => false;

  async function runShutdown(trigger: ShutdownTrigger): Promise<ShutdownReport> {
    // Shutdown owns the end of the process: this handle keeps the event loop alive (every other
    // timer is unref()'d) so Node cannot exit 0 on its own before the report and the exit code.
    // It is bounded: delay + drain + hooks, each with its own timeout.
    const keepAlive = setInterval(() => {}, 60_000);
    // Evidence for the report when a deadline is overrun: the longest the event loop was blocked.
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    const release = () => {
      loopDelay.disable();
      clearInterval(keepAlive);
    };
    running.add(release);
    const maxBlockedMs = () => Math.round(loopDelay.max / 1e6);
    const overruns: DeadlineOverrun[] = [];
    const checkOverrun = (
      entry: Omit<DeadlineOverrun, 'overrunMs'>,
      deadline: number,
      at: number,
    ) => {
      const overrunMs = Math.round(at - deadline);
      if (overrunMs <= OVERRUN_REPORT_MS) return;
      overruns.push({ ...entry, overrunMs });
      const what = entry.phase === 'drain' ? 'drain' : `shutdown hook "${entry.name}"`;
      log(
        'warn',
        `${what} deadline (${entry.limitMs} ms) overrun by ${overrunMs} ms: the event loop was blocked (longest block ${maxBlockedMs()} ms)`,
        { ...entry, overrunMs, eventLoopMaxDelayMs: maxBlockedMs() },
      );
    };
    try {
      setState('draining');
      // Every deadline counts from here, the moment readiness answers 503.
      const started = now();
      log('info', 'draining: readiness answers 503', {
        trigger,
        readinessDelayMs: config.readinessDelayMs,
        drainTimeoutMs: config.drainTimeoutMs,
      });

      // 2. Keep serving while load balancers notice the 503.
      const delayEnd = started + config.readinessDelayMs;
      if (config.readinessDelayMs > 0) await waitUntil(untilForced, delayEnd);
      const afterDelay = config.readinessDelayMs > 0 ? now() : started;
      // Deadlines are absolute times from the signal, never timers chained after the previous
      // step: time lost before (a late timer, a blocked event loop, the accept queue) comes out
      // of the drain budget instead of being added to it.
      const drainDeadline = forcedBy ? afterDelay : delayEnd + config.drainTimeoutMs;

      // 3–5. Stop accepting; `Connection: close` on what is in flight; close idle sockets.
      let inFlightAtStop = 0;
      if (server && tracker) {
        ({ inFlightAtStop } = await tracker.stop(
          () => closeServer(server),
          drainDeadline,
          () => forcedBy !== undefined,
        ));
      }

      // 6. Wait for in-flight requests, tracked work and open sockets, up to the drain deadline.
      const drainedAll = await waitUntil(
        () =>
          (tracker?.inFlight ?? 0) === 0 && work.size === 0 && (tracker?.openSockets ?? 0) === 0,
        drainDeadline,
      );
      if (!forcedBy) {
        checkOverrun({ phase: 'drain', limitMs: config.drainTimeoutMs }, drainDeadline, now());
      }
      let destroyed = 0;
      const interrupted: string[] = [];
      if (!drainedAll) {
        destroyed = tracker?.destroyAll() ?? 0;
        if (destroyed > 0) forced.push(`${destroyed} request(s) cut at the drain timeout`);
        for (const w of work.values()) {
          interrupted.push(w.name);
          w.controller?.abort(new Error(`${PKG}: "${w.name}" interrupted by shutdown`));
        }
        work.clear();
        if (interrupted.length > 0) {
          forced.push(`tracked work interrupted: ${interrupted.join(', ')}`);
        }
      } else {
        // Only sockets already ending after their `Connection: close` response can be left.
        tracker?.destroyAll();
      }
      pastDrain = true;
      const afterDrain = now();

      // 7. Hooks, last registered first, each with its own timeout; failures are isolated.
      const hookResults: HookResult[] = [];
      for (const hook of [...hooks].reverse()) {
        const hookStart = now();
        const result = await runStep(hook);
        checkOverrun(
          { phase: 'hook', name: hook.name, limitMs: hook.timeoutMs },
          hookStart + hook.timeoutMs,
          now(),
        );
        hookResults.push(result);
        if (result.status === 'timed out') forced.push(`hook timed out: ${hook.name}`);
        if (result.status === 'failed') forced.push(`hook failed: ${hook.name}`);
        if (result.status !== 'ok') {
          log('error', `shutdown hook "${hook.name}" ${result.status}`, {
            hook: hook.name,
            ...(result.error === undefined ? {} : { error: result.error }),
            durationMs: result.durationMs,
          });
        }
      }
      const afterHooks = now();

      // 8. Report.
      setState('stopped');
      const report: ShutdownReport = {
        trigger,
        exitCode: forced.length > 0 ? 1 : 0,
        forced: [...forced],
        durationMs: ms(started, afterHooks),
        phases: {
          readinessDelay: ms(started, afterDelay),
          drain: ms(afterDelay, afterDrain),
          hooks: ms(afterDrain, afterHooks),
        },
        requests: {
          inFlightAtStop,
          drained: tracker?.drained ?? 0,
          destroyed,
          idleSocketsClosed: tracker?.idleClosed ?? 0,
        },
        work: { completed: workCompleted, interrupted },
        hooks: hookResults,
        overruns,
        eventLoop: { maxDelayMs: maxBlockedMs() },
        openHandles: countHandles(),
      };
      loopDelay.disable();
      log(report.exitCode === 0 && overruns.length === 0 ? 'info' : 'warn', 'shutdown report', {
        ...report,
      });
      if (typeof logger.flush === 'function') {
        const flush = logger.flush.bind(logger);
        await runStep({ name: 'logger flush', fn: () => flush(), timeoutMs: config.hookTimeoutMs });
      }
      return report;
    } finally {
      running.delete(release);
      release();
    }
  }

  function closeServer(target: NonNullable<typeof server>) {
    // On Node 20, server.close() first calls closeIdleConnections(), which destroys sockets whose
    // next request is still unread in the kernel and sockets whose response has ended but is not
    // flushed (`finished` is set by end(), before the bytes leave). The tracker closes idle
    // sockets itself, after the poll phase, so shadow that call for this one close().
    const own = Object.hasOwn(target, 'closeIdleConnections');
    const saved = target.closeIdleConnections;
    target.closeIdleConnections = () => {};
    try {
      if (target.listening) target.close();
    } finally {
      if (own) target.closeIdleConnections = saved;
      else delete (target as { closeIdleConnections?: unknown }).closeIdleConnections;
    }
  }

  function exitWith(code: number) {
    // A disposed lifecycle (a test's afterEach) never ends the process.
    if (!config.exit || disposed) return;
    process.exit(code);
  }

  function beginShutdown(trigger: ShutdownTrigger): Promise<ShutdownReport> {
    if (shutdownPromise) return shutdownPromise;
    // The shutdown belongs to no request: whoever triggers it (a route calling shutdown(), a
    // fatal error in a request's callback), it runs, logs and times in the lifecycle's context.
    shutdownPromise = asyncContext.runInAsyncScope(() =>
      runShutdown(trigger).then(
        (report) => {
          resolveStopped(report);
          exitWith(report.exitCode);
          return report;
        },
        (error: unknown) => {
          // A bug here must still end the process, and visibly.
          log('error', `shutdown failed: ${errorMessage(error)}`, {
            stack: error instanceof Error ? error.stack : undefined,
          });
          exitWith(1);
          throw error;
        },
      ),
    );
    return shutdownPromise;
  }

  // --- process handlers -------------------------------------------------------------------
  // Node runs `uncaughtException` / `unhandledRejection` handlers in the async context of the
  // callback or promise that failed (a socket or timer created during some request), so an
  // AsyncLocalStorage logger would stamp that request's id on the fatal log. The handlers are
  // bound to the context the lifecycle was created in instead.
  // They are installed when the service starts (start(), listen(), markReady(), or the server
  // emitting 'listening'), not by createLifecycle(): a process that only builds the app (a test
  // file, a script) keeps Node's own behaviour, and many instances add no listeners.
  const installed: Array<[string, (arg: unknown) => void]> = [];
  const on = (event: string, handler: (arg: unknown) => void) => {
    const bound = asyncContext.bind(handler);
    process.on(event, bound);
    installed.push([event, bound]);
  };
  let handlersInstalled = false;

  function onSignal(signal: NodeJS.Signals) {
    if (!shutdownPromise) {
      log('info', `${signal} received: starting graceful shutdown`, { signal });
      void beginShutdown(signal).catch(() => {});
      return;
    }
    if (!forcedBy && state !== 'stopped') {
      forcedBy = signal;
      forced.push(`second signal ${signal}: remaining delay and drain skipped`);
      log(
        'warn',
        `${signal} received during shutdown: forcing (delay and drain cut, hooks still run)`,
        {
          signal,
        },
      );
      notify();
      return;
    }
    log(
      'warn',
      state === 'stopped'
        ? `${signal} received after shutdown ended: ignored`
        : `${signal} received again: shutdown already forced, hooks are bounded by their timeouts`,
      { signal },
    );
  }

  function fatal(kind: 'uncaughtException' | 'unhandledRejection', error: unknown) {
    log('error', `fatal ${kind}: ${errorMessage(error)}`, {
      kind,
      stack: error instanceof Error ? error.stack : undefined,
    });
    if (!forced.includes(kind)) forced.push(kind);
    void beginShutdown(kind).catch(() => {});
  }
  function installHandlers() {
    if (handlersInstalled || disposed) return;
    handlersInstalled = true;
    for (const signal of config.signals) {
      on(signal, (received) => onSignal(received as NodeJS.Signals));
    }
    if (config.handleUncaughtException) {
      on('uncaughtException', (error) => fatal('uncaughtException', error));
    }
    if (config.unhandledRejection === 'fatal') {
      on('unhandledRejection', (reason) => fatal('unhandledRejection', reason));
    } else if (config.unhandledRejection === 'log') {
      on('unhandledRejection', (reason) =>
        log('error', `unhandled rejection: ${errorMessage(reason)}`, {
          stack: reason instanceof Error ? reason.stack : undefined,
        }),
      );
    }
  }
  // A server the app listens on itself: the handlers come with its 'listening' event (at once
  // when it already listens).
  const onListening = () => installHandlers();
  if (server?.listening) installHandlers();
  else server?.once('listening', onListening);

  // --- startup ----------------------------------------------------------------------------
  async function runStart(port: number | undefined, host: string | undefined) {
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
      if (state !== 'starting') {
        throw new Error(`${PKG}: start() aborted: shutdown began during startup (${state})`);
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
      if (state === 'starting') {
        setState('ready');
        log('info', 'ready', address ? { port: address.port, address: address.address } : {});
      }
      return address;
    } finally {
      running.delete(release);
      release();
    }
  }

  function start(port = config.port, host = config.host) {
    if (disposed) return Promise.reject(new Error(`${PKG}: start() after dispose()`));
    if (startPromise) return startPromise;
    if (state === 'draining' || state === 'stopped') {
      return Promise.reject(new Error(`${PKG}: start() after shutdown began (${state})`));
    }
    if (port !== undefined && !server) {
      return Promise.reject(
        new Error(`${PKG}: cannot listen on port ${port}: no "server" or "app" was given`),
      );
    }
    installHandlers();
    startPromise = runStart(port, host);
    return startPromise;
  }

  function readinessHandler(_req: IncomingMessage, res: ServerResponse) {
    const ready = state === 'ready';
    res.statusCode = ready ? 200 : 503;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.end(JSON.stringify({ status: state }));
  }

  return {
    get server() {
      return server;
    },
    get state() {
      return state;
    },
    stopped,
    addStartupCheck(name, fn, stepOptions) {
      validateName('startup check', name);
      validateFn('startup check', name, fn);
      const step: Step = {
        name,
        fn,
        timeoutMs: stepTimeout('startup check', name, stepOptions, config.startupTimeoutMs),
      };
      checks.push(step);
      return () => {
        const i = checks.indexOf(step);
        if (i >= 0) checks.splice(i, 1);
      };
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
      installHandlers();
      if (state === 'starting') {
        setState('ready');
        log('info', 'ready');
      }
    },
    onShutdown(name, fn, stepOptions) {
      validateName('shutdown hook', name);
      validateFn('shutdown hook', name, fn);
      const step: Step = {
        name,
        fn,
        timeoutMs: stepTimeout('shutdown hook', name, stepOptions, config.hookTimeoutMs),
      };
      hooks.push(step);
      return () => {
        const i = hooks.indexOf(step);
        if (i >= 0) hooks.splice(i, 1);
      };
    },
    track<T>(promise: Promise<T>, name = 'tracked promise'): Promise<T> {
      if (!promise || typeof (promise as { then?: unknown }).then !== 'function') {
        throw invalidArgument(`track() needs a promise, got ${show(promise)}`);
      }
      if (pastDrain) {
        warn(
          'SHIPSHAPE_LIFECYCLE_LATE_WORK',
          `"${name}" was tracked after the drain ended: nothing waits for it`,
          {
            work: name,
          },
        );
        return promise;
      }
      const id = ++workId;
      work.set(id, { name, controller: undefined });
      const settle = () => {
        if (work.delete(id)) workCompleted++;
        notify();
      };
      promise.then(settle, settle);
      return promise;
    },
    task<T>(name: string, fn: TaskFunction<T>): Promise<T> {
      validateName('task', name);
      validateFn('task', name, fn);
      if (pastDrain) {
        return Promise.reject(
          new Error(`${PKG}: task "${name}" refused: shutdown is past the drain phase`),
        );
      }
      const controller = new AbortController();
      const id = ++workId;
      work.set(id, { name, controller });
      const promise = Promise.resolve().then(() => fn(controller.signal));
      const settle = () => {
        if (work.delete(id)) workCompleted++;
        notify();
      };
      // This handler also marks the promise handled: a caller that fires and forgets gets the
      // failure logged here rather than an unhandledRejection.
      promise.then(settle, (error: unknown) => {
        if (!controller.signal.aborted) {
          log('error', `task "${name}" failed: ${errorMessage(error)}`, { task: name });
        }
        settle();
      });
      return promise;
    },
    shutdown() {
      return beginShutdown('shutdown()');
    },
    readiness() {
      return readinessHandler;
    },
    dispose() {
      disposed = true;
      for (const [event, handler] of installed) process.removeListener(event, handler);
      installed.length = 0;
      server?.removeListener('listening', onListening);
      for (const release of running) release();
      running.clear();
      // A shutdown in progress goes on (its timers are unref()'d and bounded) and still counts
      // requests to the end; only its keep-alive handle and its exit are gone.
      const detach = () => tracker?.detach();
      if (shutdownPromise) void shutdownPromise.then(detach, detach);
      else detach();
    },
  };
}
