import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

/** Structural logger; a winston logger satisfies it. */
export interface HealthLogger {
  info(message: string, meta?: Record<string, unknown>): unknown;
  warn(message: string, meta?: Record<string, unknown>): unknown;
  error(message: string, meta?: Record<string, unknown>): unknown;
  debug?(message: string, meta?: Record<string, unknown>): unknown;
}

/** Availability states, owned by `@shipshape/lifecycle` and mirrored here. */
export type AvailabilityState = 'starting' | 'ready' | 'draining' | 'stopped';

/** What `@shipshape/lifecycle` (and anyone else) needs to flip readiness. */
export interface HealthStateTarget {
  setState(state: AvailabilityState): unknown;
}

export type CheckStatus = 'pass' | 'warn' | 'fail';
export type Probe = 'liveness' | 'readiness' | 'startup';

/** What a check function may return. `undefined`/`true` mean pass, `false` means fail. */
export type CheckOutcome =
  | undefined
  | boolean
  | CheckStatus
  | {
      readonly status: CheckStatus;
      readonly output?: string;
      readonly observedValue?: number | string | boolean;
      readonly observedUnit?: string;
    };

export type CheckFunction = (
  signal: AbortSignal,
  // biome-ignore lint/suspicious/noConfusingVoidType: `async () => { await ping(); }` must type-check as a passing check
) => CheckOutcome | Promise<CheckOutcome | void> | void;

/** A registered check. Built-in checks return one of these. */
export interface CheckDefinition {
  readonly name: string;
  readonly fn: CheckFunction;
  /**
   * A failing critical check fails its probes; a failing informational check only warns.
   * @default true
   */
  readonly critical?: boolean;
  /**
   * The probes this check belongs to. Dependencies belong in readiness, never liveness.
   * @default ['readiness']
   */
  readonly probes?: readonly Probe[];
  /**
   * Milliseconds before the check counts as failed. Defaults to `HealthOptions.timeoutMs`.
   */
  readonly timeoutMs?: number;
  /** IETF `componentType` (e.g. `datastore`, `system`, `component`). @default 'component' */
  readonly componentType?: string;
}

/** Per-check options accepted by every built-in check factory. */
export interface CheckOptions {
  /** Overrides the check's default name. */
  readonly name?: string;
  /** @default true for dependency checks, false for process checks (memory, cpu, event loop, disk) */
  readonly critical?: boolean;
  /** @default ['readiness'] */
  readonly probes?: readonly Probe[];
  /** @default HealthOptions.timeoutMs */
  readonly timeoutMs?: number;
}

export interface CheckResult {
  readonly name: string;
  readonly status: CheckStatus;
  readonly critical: boolean;
  readonly componentType: string;
  readonly output?: string;
  readonly observedValue?: number | string | boolean;
  readonly observedUnit?: string;
  /** ISO time the run finished. */
  readonly time: string;
  readonly durationMs: number;
}

export interface ProbeReport {
  readonly status: CheckStatus;
  /** The HTTP status the probe answers with. */
  readonly httpStatus: 200 | 503;
  readonly state: AvailabilityState;
  readonly checks: readonly CheckResult[];
}

export interface StateTransition {
  readonly time: string;
  readonly from: AvailabilityState;
  readonly to: AvailabilityState;
}

export interface CheckTransition {
  readonly time: string;
  readonly from: CheckStatus | undefined;
  readonly to: CheckStatus;
  readonly output?: string;
}

export interface CheckHistory {
  readonly results: readonly CheckResult[];
  readonly transitions: readonly CheckTransition[];
}

export interface HealthHistory {
  readonly state: readonly StateTransition[];
  readonly checks: Readonly<Record<string, CheckHistory>>;
}

export type AlertMetric =
  | 'cpuPercent'
  | 'rssBytes'
  | 'eventLoopP99Ms'
  | 'errorRate'
  | 'p95LatencyMs';

export interface AlertRule {
  /** Unique name; defaults to the metric. */
  readonly name?: string;
  readonly metric: AlertMetric;
  /** Fires when the observed value is above this threshold. */
  readonly threshold: number;
  /**
   * How long the value must stay above the threshold before firing, and below it before
   * resolving (no flapping).
   * @default 0
   */
  readonly forMs?: number;
}

export interface AlertEvent {
  readonly name: string;
  readonly metric: AlertMetric;
  readonly status: 'firing' | 'resolved';
  readonly value: number;
  readonly threshold: number;
  /** ISO time the status changed. */
  readonly time: string;
}

export interface AlertState {
  readonly name: string;
  readonly metric: AlertMetric;
  readonly threshold: number;
  readonly forMs: number;
  readonly status: 'inactive' | 'pending' | 'firing';
  readonly value: number | undefined;
  /** ISO time of the last firing/resolved change. */
  readonly since?: string;
}

export interface WebhookOptions {
  readonly url: string;
  /** @default {} */
  readonly headers?: Readonly<Record<string, string>>;
  /** @default 5000 */
  readonly timeoutMs?: number;
}

export interface HealthOptions {
  /** Checks to register at once (more can be added with `health.register()`). @default [] */
  readonly checks?: readonly CheckDefinition[];
  /** Default per-check timeout in milliseconds. @default 2000 */
  readonly timeoutMs?: number;
  /**
   * Milliseconds a check result is reused; concurrent probes always share one in-flight run.
   * `0` caches nothing beyond the in-flight run.
   * @default 1000
   */
  readonly cacheTtlMs?: number;
  /** Re-run every check on an unref'd interval of this many ms. `0` disables. @default 0 */
  readonly refreshIntervalMs?: number;
  /** Results and transitions kept per check (ring buffer). @default 50 */
  readonly historySize?: number;
  /** Initial availability state. @default 'starting' */
  readonly initialState?: AvailabilityState;
  /** Service name for `/health/version` and IETF `serviceId`. @default 'app' */
  readonly service?: string;
  /** Version for `/health/version`. @default process.env.npm_package_version ?? '0.0.0' */
  readonly version?: string;
  /** Git sha for `/health/version`. @default process.env.GIT_SHA ?? process.env.GIT_COMMIT */
  readonly gitSha?: string;
  /** @default no logging */
  readonly logger?: HealthLogger;
  /** A prom-client registry; pass prom-client's `register` to use the global one. @default a new Registry */
  readonly registry?: Registry;
  /** Register prom-client's default process metrics (`process_*`, `nodejs_*`). @default true */
  readonly defaultMetrics?: boolean;
  /**
   * @deprecated Ignored. Its gauges (`process_cpu_usage_percent`, `process_memory_usage_bytes`)
   * duplicated prom-client's `process_cpu_seconds_total` and `process_resident_memory_bytes`
   * and were removed; `defaultMetrics` covers both.
   */
  readonly processMetrics?: boolean;
  /** Alert rules, evaluated in the background. @default [] */
  readonly alerts?: readonly AlertRule[];
  /** Milliseconds between alert evaluations. @default 5000 */
  readonly alertIntervalMs?: number;
  /** POST every firing/resolved event as JSON to this URL. @default none */
  readonly alertWebhook?: WebhookOptions;
  /** Called with every firing/resolved event. @default none */
  readonly onAlert?: (event: AlertEvent) => void;
  /**
   * In a node:cluster worker, expose this registry to the primary's `clusterMetricsHandler()`.
   * @default false
   */
  readonly cluster?: boolean;
}

export type Middleware = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (err?: unknown) => void,
) => void;

export interface RouterOptions {
  /** Path prefix of the health endpoints. @default '/health' */
  readonly basePath?: string;
  /** Path of the Prometheus endpoint; `false` disables it. @default '/metrics' */
  readonly metricsPath?: string | false;
  /**
   * Guards `/health/detailed` and `/health/history` (and `/metrics` if `authorizeMetrics`).
   * Express-style middleware: call `next()` to allow, answer the request yourself to deny.
   * @default none (open)
   */
  readonly authorize?: Middleware;
  /** Also guard `/metrics` with `authorize`. @default false */
  readonly authorizeMetrics?: boolean;
}

export interface HttpMetricsOptions {
  /** Histogram buckets in seconds. @default [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] */
  readonly buckets?: readonly number[];
  /** The route label for requests no route matched. @default '<unmatched>' */
  readonly unmatchedRoute?: string;
  /** Metric name prefix. @default 'http_' */
  readonly prefix?: string;
  /** Skip requests (e.g. probes); the function gets the request. @default none */
  readonly skip?: (req: IncomingMessage) => boolean;
}
