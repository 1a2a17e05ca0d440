import type { RequestListener, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The process states, in order. `@shipshape/health` mirrors them in its readiness probe. */
export type LifecycleState = 'starting' | 'ready' | 'draining' | 'stopped';

/**
 * The logger shape this package accepts. A winston logger (and `@shipshape/logger`'s logger)
 * satisfies it; so does `console`.
 */
export interface LifecycleLogger {
  info(message: string, meta?: Record<string, unknown>): unknown;
  warn(message: string, meta?: Record<string, unknown>): unknown;
  error(message: string, meta?: Record<string, unknown>): unknown;
  debug?(message: string, meta?: Record<string, unknown>): unknown;
  /**
   * When present, awaited (within `hookTimeoutMs`) after the shutdown report is logged and before
   * the process exits, so the report reaches the log files too.
   */
  flush?(): Promise<unknown>;
}

/** Anything that mirrors the lifecycle state, e.g. `@shipshape/health`'s readiness. */
export interface HealthStateTarget {
  setState(state: LifecycleState): unknown;
}

/** Every coded warning of `@shipshape/lifecycle` (documented in docs/errors.md). */
export type LifecycleWarningCode =
  | 'SHIPSHAPE_LIFECYCLE_UNKNOWN_OPTION'
  | 'SHIPSHAPE_LIFECYCLE_NO_READINESS_DELAY'
  | 'SHIPSHAPE_LIFECYCLE_SHORT_KEEPALIVE'
  | 'SHIPSHAPE_LIFECYCLE_LATE_WORK';

/**
 * The `code` of every `TypeError` the package throws: a bad option (factory options, a step's
 * `{ timeoutMs }`) or a bad argument (a step's name or function, `listen()`'s port, `track()`).
 */
export type LifecycleErrorCode =
  | 'SHIPSHAPE_LIFECYCLE_INVALID_OPTION'
  | 'SHIPSHAPE_LIFECYCLE_INVALID_ARGUMENT';

/** Server timeouts applied to the `http.Server` (milliseconds; `0` disables one, as in Node). */
export interface ServerTimeoutOptions {
  /**
   * Time allowed to receive a request's headers (Node's `server.headersTimeout`).
   * Must not exceed `requestTimeout` when that is non-zero.
   * @default 66000
   */
  readonly headersTimeout?: number;
  /**
   * Time allowed to receive a whole request (Node's `server.requestTimeout`).
   * @default 300000
   */
  readonly requestTimeout?: number;
  /**
   * How long an idle keep-alive socket stays open (Node's `server.keepAliveTimeout`). Keep it
   * longer than the idle timeout of the load balancer in front (60 s on AWS ALB, GCP is 600 s),
   * so the balancer never reuses a socket the server has just closed.
   * @default 65000
   */
  readonly keepAliveTimeout?: number;
}

/** What `unhandledRejection` does: shut down with exit code 1, only log it, or install nothing. */
export type UnhandledRejectionMode = 'fatal' | 'log' | 'off';

export interface LifecycleOptions {
  /** An existing `http.Server` to manage. Give either `server` or `app`, not both. */
  readonly server?: Server;
  /** An Express app (or any request listener); the lifecycle creates the `http.Server` for it. */
  readonly app?: RequestListener;
  /** Port `start()` listens on when the server is not listening yet. */
  readonly port?: number;
  /** Host `start()` listens on. @default undefined (all interfaces, as in Node) */
  readonly host?: string;
  /**
   * Time between "readiness answers 503" and "stop accepting connections", so load balancers
   * stop routing here first. Read from `NODE_ENV` at factory time when not set.
   * @default 0 when NODE_ENV is "test" or "development", else 5000
   */
  readonly readinessDelayMs?: number;
  /**
   * Longest wait, from the end of the readiness delay, for in-flight requests, open sockets and
   * tracked work; requests still in flight then are cut and tasks aborted (exit code 1). The
   * deadline is an absolute time: accepting the queued connections comes out of it.
   * @default 25000
   */
  readonly drainTimeoutMs?: number;
  /** Default timeout of each shutdown hook. @default 5000 */
  readonly hookTimeoutMs?: number;
  /** Default timeout of each startup check. @default 10000 */
  readonly startupTimeoutMs?: number;
  /**
   * Signals that start a graceful shutdown; `[]` installs no signal handler. Like the error
   * handlers, they are installed when the service starts (`start()`, `listen()`, `markReady()`,
   * or the server emitting `'listening'`), not by `createLifecycle()`.
   * @default ["SIGTERM", "SIGINT"]
   */
  readonly signals?: readonly NodeJS.Signals[];
  /** Receives every state change (`starting`, `ready`, `draining`, `stopped`). */
  readonly health?: HealthStateTarget;
  /**
   * Where state changes, fatal errors and the shutdown report go, and the coded warnings. Without
   * one, log lines go to `console` and coded warnings to `process.emitWarning`.
   * @default console
   */
  readonly logger?: LifecycleLogger;
  /** Server timeouts; `false` leaves the server's own values untouched. @default see ServerTimeoutOptions */
  readonly timeouts?: ServerTimeoutOptions | false;
  /**
   * `true`: call `process.exit(code)` when shutdown ends. `false` (embedding, tests): never exit;
   * `shutdown()` and `stopped` resolve with the report instead.
   * @default true
   */
  readonly exit?: boolean;
  /** Install an `uncaughtException` handler: fatal log, shutdown, exit 1. @default true */
  readonly handleUncaughtException?: boolean;
  /** What an `unhandledRejection` does. @default "fatal" */
  readonly unhandledRejection?: UnhandledRejectionMode;
  /** `false` silences every warning; an array silences the listed codes. @default true */
  readonly warnings?: boolean | readonly LifecycleWarningCode[];
}

/** Options of one startup check or shutdown hook. */
export interface StepOptions {
  /** Overrides `startupTimeoutMs` / `hookTimeoutMs` for this step. */
  readonly timeoutMs?: number;
}

/** A startup check or shutdown hook; `signal` aborts when its timeout passes. */
export type StepFunction = (signal: AbortSignal) => unknown;

/** Background work run by `task()`; `signal` aborts when the drain timeout passes. */
export type TaskFunction<T> = (signal: AbortSignal) => Promise<T> | T;

export type ShutdownTrigger =
  | NodeJS.Signals
  | 'shutdown()'
  | 'uncaughtException'
  | 'unhandledRejection';

export interface HookResult {
  readonly name: string;
  readonly status: 'ok' | 'failed' | 'timed out';
  readonly durationMs: number;
  /** The error message when the hook failed. */
  readonly error?: string;
}

/**
 * A deadline (the drain's, or a hook's timeout) the lifecycle could act on only more than 100 ms
 * after it passed: its timer could not run because the event loop was blocked.
 */
export interface DeadlineOverrun {
  readonly phase: 'drain' | 'hook';
  /** The hook's name (`phase: "hook"`). */
  readonly name?: string;
  /** `drainTimeoutMs`, or the hook's timeout. */
  readonly limitMs: number;
  /** How long after the deadline the lifecycle acted (or the step ended). */
  readonly overrunMs: number;
}

/** What `shutdown()` resolves with and the shutdown report logs. */
export interface ShutdownReport {
  readonly trigger: ShutdownTrigger;
  /** 0, or 1 when anything had to be forced or failed (see `forced`). */
  readonly exitCode: 0 | 1;
  /** Why the exit code is 1: e.g. "sockets destroyed at drain timeout", "hook timed out: db". */
  readonly forced: readonly string[];
  readonly durationMs: number;
  /** Duration of each phase in milliseconds. */
  readonly phases: {
    readonly readinessDelay: number;
    readonly drain: number;
    readonly hooks: number;
  };
  readonly requests: {
    /** Requests in flight when the server stopped accepting. */
    readonly inFlightAtStop: number;
    /** Requests (in flight at stop or arriving on open sockets after it) that completed. */
    readonly drained: number;
    /** Requests whose socket was destroyed at the drain timeout. */
    readonly destroyed: number;
    /**
     * Sockets with no request in flight that the drain closed: at the stop, once quiet for
     * 500 ms, or at the drain deadline.
     */
    readonly idleSocketsClosed: number;
  };
  readonly work: {
    /** Tracked promises and tasks that settled during the drain. */
    readonly completed: number;
    /** Names of tracked work still running at the drain timeout (their signal was aborted). */
    readonly interrupted: readonly string[];
  };
  readonly hooks: readonly HookResult[];
  /** Deadlines acted on late because the event loop was blocked (empty when all held). */
  readonly overruns: readonly DeadlineOverrun[];
  readonly eventLoop: {
    /** The longest the event loop was blocked during the shutdown (`monitorEventLoopDelay`). */
    readonly maxDelayMs: number;
  };
  /** `process.getActiveResourcesInfo()` counted by type, just before exit. */
  readonly openHandles: Readonly<Record<string, number>>;
}

export interface Lifecycle {
  /** The managed server (created from `app` when one was given). */
  readonly server: Server | undefined;
  /** The current state. */
  readonly state: LifecycleState;
  /** Resolves with the report once shutdown has finished, whatever triggered it. */
  readonly stopped: Promise<ShutdownReport>;
  /** Registers a startup check run by `start()`, in registration order. Returns an unregister function. */
  addStartupCheck(name: string, fn: StepFunction, options?: StepOptions): () => void;
  /**
   * Installs the signal and error handlers, runs the startup checks, listens (when the server is
   * not listening and a port is known) and marks the process ready. Rejects with a message naming
   * the failed check.
   */
  start(): Promise<AddressInfo | undefined>;
  /** `start()` listening on `port` (and `host`). */
  listen(port: number, host?: string): Promise<AddressInfo | undefined>;
  /**
   * `starting` → `ready` (no effect in any other state), for apps that listen themselves. Installs
   * the process handlers when they are not installed yet.
   */
  markReady(): void;
  /** Registers a shutdown hook; hooks run last-registered-first. Returns an unregister function. */
  onShutdown(name: string, fn: StepFunction, options?: StepOptions): () => void;
  /** Keeps shutdown waiting (up to the drain timeout) for `promise`; returns it unchanged. */
  track<T>(promise: Promise<T>, name?: string): Promise<T>;
  /** Runs `fn(signal)` as tracked background work; rejects at once when shutdown is past the drain. */
  task<T>(name: string, fn: TaskFunction<T>): Promise<T>;
  /** Starts the graceful shutdown (once); resolves with the report (when `exit: false`). */
  shutdown(): Promise<ShutdownReport>;
  /**
   * A request handler answering readiness: 200 `{"status":"ready"}` when ready, else 503 with the
   * state. For apps that do not use `@shipshape/health`.
   */
  readiness(): RequestListener;
  /**
   * Removes every process and server listener this lifecycle installed and clears its timers,
   * without draining, closing the server or exiting: a shutdown in progress goes on without its
   * keep-alive handle and never calls `process.exit`. Idempotent; `start()` rejects afterwards.
   * For tests (`afterEach`) and for embedding.
   */
  dispose(): void;
}
