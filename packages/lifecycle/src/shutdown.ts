import type { AsyncResource } from 'node:async_hooks';
import type { Server } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { LifecycleConfig } from './config.js';
import type { ConnectionTracker } from './connections.js';
import type { Log } from './log.js';
import type { FatalKind } from './process-handlers.js';
import { errorMessage, ms, now, runStep, type Step } from './steps.js';
import type {
  DeadlineOverrun,
  HookResult,
  LifecycleState,
  ShutdownReport,
  ShutdownTrigger,
} from './types.js';
import type { TrackedWork } from './work.js';

/**
 * A deadline the lifecycle could act on only this long after it passed is reported as overrun:
 * its timer could not run, i.e. the event loop was blocked. Below this it is timer jitter.
 */
const OVERRUN_REPORT_MS = 100;

function countHandles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

/** Stops the listener without Node 20's closeIdleConnections() (see below). */
function closeListener(target: Server): void {
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

/** What the shutdown works on; owned by createLifecycle(). */
export interface ShutdownParts {
  readonly config: LifecycleConfig;
  readonly server: Server | undefined;
  readonly tracker: ConnectionTracker | undefined;
  readonly work: TrackedWork;
  /** The shutdown hooks, in registration order. */
  readonly hooks: readonly Step[];
  readonly log: Log;
  readonly state: { get(): LifecycleState; set(next: LifecycleState): void };
  /** The async context createLifecycle() ran in: the shutdown runs in it. */
  readonly context: AsyncResource;
  /** Releases of the keep-alive handles in use, for dispose(). */
  readonly running: Set<() => void>;
  /** `process.exit(code)` unless `exit: false` or disposed. */
  readonly exit: (code: number) => void;
  /** Called with the report once the shutdown has finished. */
  readonly stopped: (report: ShutdownReport) => void;
  /** Why the exit code is 1; fatal errors add to it before the shutdown starts. */
  readonly forced: string[];
}

/**
 * The graceful shutdown (README, Behaviour → Shutdown): started once by `begin()` — a signal,
 * `shutdown()` or a fatal error — it drains, runs the hooks, reports and exits. A second signal
 * forces it.
 */
export class Shutdown {
  private promise: Promise<ShutdownReport> | undefined;
  /** The signal that forced the shutdown, when one did. */
  private forcedBy: string | undefined;
  /** Wakes whichever wait (readiness delay, drain) is in progress. */
  private wake: (() => void) | undefined;
  private readonly parts: ShutdownParts;

  constructor(parts: ShutdownParts) {
    this.parts = parts;
  }

  /** The shutdown in progress or finished, if one started. */
  get started(): Promise<ShutdownReport> | undefined {
    return this.promise;
  }

  /** Something a wait may be waiting for changed (a request, a socket, tracked work). */
  readonly notify = (): void => this.wake?.();

  begin(trigger: ShutdownTrigger): Promise<ShutdownReport> {
    if (this.promise) return this.promise;
    const { context, exit, log, stopped } = this.parts;
    // The shutdown belongs to no request: whoever triggers it (a route calling shutdown(), a
    // fatal error in a request's callback), it runs, logs and times in the lifecycle's context.
    this.promise = context.runInAsyncScope(() =>
      this.run(trigger).then(
        (report) => {
          stopped(report);
          exit(report.exitCode);
          return report;
        },
        (error: unknown) => {
          // A bug here must still end the process, and visibly.
          log('error', `shutdown failed: ${errorMessage(error)}`, {
            stack: error instanceof Error ? error.stack : undefined,
          });
          exit(1);
          throw error;
        },
      ),
    );
    return this.promise;
  }

  /** A signal: the first starts the shutdown, a second forces it, any further one is logged. */
  signal(signal: NodeJS.Signals): void {
    const { log, forced, state } = this.parts;
    if (!this.promise) {
      log('info', `${signal} received: starting graceful shutdown`, { signal });
      void this.begin(signal).catch(() => {});
      return;
    }
    if (!this.forcedBy && state.get() !== 'stopped') {
      this.forcedBy = signal;
      forced.push(`second signal ${signal}: remaining delay and drain skipped`);
      log(
        'warn',
        `${signal} received during shutdown: forcing (delay and drain cut, hooks still run)`,
        {
          signal,
        },
      );
      this.notify();
      return;
    }
    log(
      'warn',
      state.get() === 'stopped'
        ? `${signal} received after shutdown ended: ignored`
        : `${signal} received again: shutdown already forced, hooks are bounded by their timeouts`,
      { signal },
    );
  }

  /** An uncaught exception or unhandled rejection: fatal log, then the shutdown (exit 1). */
  fatal(kind: FatalKind, error: unknown): void {
    const { log, forced } = this.parts;
    log('error', `fatal ${kind}: ${errorMessage(error)}`, {
      kind,
      stack: error instanceof Error ? error.stack : undefined,
    });
    if (!forced.includes(kind)) forced.push(kind);
    void this.begin(kind).catch(() => {});
  }

  /**
   * Waits until `done()` holds, the absolute time `deadline` (a `performance.now()` value) passes
   * or a forced exit; resolves whether `done()` held. Every wake-up compares the clock with the
   * deadline, so after a blocked event loop the lifecycle acts on the first callback it gets.
   */
  private waitUntil(done: () => boolean, deadline: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (done()) return resolve(true);
      if (this.forcedBy || now() >= deadline) return resolve(false);
      const finish = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve(done());
      };
      const timer = setTimeout(finish, Math.max(1, Math.ceil(deadline - now())));
      timer.unref();
      this.wake = () => {
        if (done() || this.forcedBy || now() >= deadline) finish();
      };
    });
  }

  private async run(trigger: ShutdownTrigger): Promise<ShutdownReport> {
    const { config, server, tracker, work, hooks, log, forced } = this.parts;
    const { logger } = config;
    const setState = (next: LifecycleState) => this.parts.state.set(next);
    const waitUntil = (done: () => boolean, deadline: number) => this.waitUntil(done, deadline);
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
    this.parts.running.add(release);
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
      if (config.readinessDelayMs > 0) await waitUntil(() => false, delayEnd);
      const afterDelay = config.readinessDelayMs > 0 ? now() : started;
      // Deadlines are absolute times from the signal, never timers chained after the previous
      // step: time lost before (a late timer, a blocked event loop, the accept queue) comes out
      // of the drain budget instead of being added to it.
      const drainDeadline = this.forcedBy ? afterDelay : delayEnd + config.drainTimeoutMs;

      // 3–5. Stop accepting; `Connection: close` on what is in flight; close idle sockets.
      let inFlightAtStop = 0;
      if (server && tracker) {
        ({ inFlightAtStop } = await tracker.stop(
          () => closeListener(server),
          drainDeadline,
          () => this.forcedBy !== undefined,
        ));
      }

      // 6. Wait for in-flight requests, tracked work and open sockets, up to the drain deadline.
      const drainedAll = await waitUntil(
        () =>
          (tracker?.inFlight ?? 0) === 0 && work.size === 0 && (tracker?.openSockets ?? 0) === 0,
        drainDeadline,
      );
      if (!this.forcedBy) {
        checkOverrun({ phase: 'drain', limitMs: config.drainTimeoutMs }, drainDeadline, now());
      }
      let destroyed = 0;
      const interrupted: string[] = [];
      if (!drainedAll) {
        destroyed = tracker?.destroyAll() ?? 0;
        if (destroyed > 0) forced.push(`${destroyed} request(s) cut at the drain timeout`);
        interrupted.push(...work.interruptAll());
        if (interrupted.length > 0) {
          forced.push(`tracked work interrupted: ${interrupted.join(', ')}`);
        }
      } else {
        // Only sockets already ending after their `Connection: close` response can be left.
        tracker?.destroyAll();
      }
      work.closeDrain();
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
        work: { completed: work.completed, interrupted },
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
      this.parts.running.delete(release);
      release();
    }
  }
}
