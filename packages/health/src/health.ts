// createHealth: resolves the options and wires the check runner, the availability state, the
// gauges, the alerts and the router together.
import { Registry } from 'prom-client';
import { AlertEngine, resolveRules, resolveWebhook } from './alerts.js';
import { createAvailability, STATES } from './availability.js';
import { createCheckRunner } from './check-runner.js';
import { exposeToPrimary } from './cluster.js';
import {
  type DocumentSource,
  type HealthDetailed,
  healthDocument,
  RESERVED_DETAILED_KEYS,
} from './health-document.js';
import { registerHealthMetrics } from './health-metrics.js';
import {
  createHttpMetricsMiddleware,
  HttpMetricsCollector,
  resolveHttpMetricsOptions,
} from './http-metrics.js';
import type { ReportScope } from './probe-paths.js';
import { createHealthRouter } from './router.js';
import type {
  AlertEvent,
  AlertState,
  AvailabilityState,
  CheckDefinition,
  HealthHistory,
  HealthLogger,
  HealthOptions,
  HealthStateTarget,
  HttpMetricsOptions,
  Middleware,
  ProbeReport,
  RouterOptions,
} from './types.js';
import {
  assertObject,
  bool,
  fail,
  nonNegativeInt,
  optionalFunction,
  optionalString,
  PKG,
  positiveInt,
  warnUnknownKeys,
} from './validate.js';

export type { HealthDetailed, HealthDocument } from './health-document.js';
export type { ReportScope } from './probe-paths.js';

const knownOptions: { readonly [K in keyof Required<HealthOptions>]: true } = {
  checks: true,
  timeoutMs: true,
  cacheTtlMs: true,
  refreshIntervalMs: true,
  historySize: true,
  initialState: true,
  service: true,
  version: true,
  gitSha: true,
  logger: true,
  registry: true,
  defaultMetrics: true,
  processMetrics: true,
  alerts: true,
  alertIntervalMs: true,
  alertWebhook: true,
  onAlert: true,
  cluster: true,
};

export interface VersionInfo {
  readonly service: string;
  readonly version: string;
  readonly gitSha: string | null;
  readonly node: string;
  readonly startTime: string;
  readonly uptimeSeconds: number;
}

export interface Health extends HealthStateTarget {
  /** The prom-client registry of this instance. */
  readonly registry: Registry;
  /** The current availability state. */
  readonly state: AvailabilityState;
  /** Adds a check; throws when the name is taken. */
  register(check: CheckDefinition): void;
  /** Removes a check by name; returns whether it existed. */
  unregister(name: string): boolean;
  setState(state: AvailabilityState): void;
  /** `setState('ready')`. */
  markReady(): void;
  /** Runs (or reuses cached results of) the checks of one probe, or of all checks. */
  report(scope?: ReportScope, options?: { readonly fresh?: boolean }): Promise<ProbeReport>;
  /** The IETF health+json document. */
  detailed(): Promise<HealthDetailed>;
  /**
   * Adds a top-level member to `/health/detailed` (e.g. the startup configuration report);
   * `undefined` removes it. Members of the IETF format itself cannot be replaced.
   */
  setInfo(name: string, value: unknown): void;
  history(): HealthHistory;
  version(): VersionInfo;
  alerts(): readonly AlertState[];
  onAlert(listener: (event: AlertEvent) => void): () => void;
  /** Evaluates every alert rule now (the background loop does this every `alertIntervalMs`). */
  evaluateAlerts(now?: number): Promise<AlertEvent[]>;
  /** HTTP metrics middleware recording into this instance's registry. */
  httpMetrics(options?: HttpMetricsOptions): Middleware;
  /** Serves the probe endpoints and `/metrics`; passes every other request on. */
  router(options?: RouterOptions): Middleware;
  /** Prometheus text of this registry. */
  metrics(): Promise<string>;
  /** Stops background refresh, alert evaluation and samplers; waits for webhook deliveries. */
  close(): Promise<void>;
}

/** Creates a registry of checks with probes, history, alerts and Prometheus metrics. */
export function createHealth(options: HealthOptions = {}): Health {
  assertObject('createHealth', 'options', options);
  const where = 'createHealth';
  const logger = options.logger as HealthLogger | undefined;
  if (
    logger !== undefined &&
    (typeof logger !== 'object' ||
      logger === null ||
      typeof logger.warn !== 'function' ||
      typeof logger.info !== 'function' ||
      typeof logger.error !== 'function')
  ) {
    fail(where, 'logger', logger, 'an object with info(), warn() and error()');
  }
  warnUnknownKeys(where, options, knownOptions, logger);
  const timeoutMs = positiveInt(where, 'timeoutMs', options.timeoutMs, 2000);
  const cacheTtlMs = nonNegativeInt(where, 'cacheTtlMs', options.cacheTtlMs, 1000);
  const refreshIntervalMs = nonNegativeInt(
    where,
    'refreshIntervalMs',
    options.refreshIntervalMs,
    0,
  );
  const historySize = positiveInt(where, 'historySize', options.historySize, 50);
  const alertIntervalMs = positiveInt(where, 'alertIntervalMs', options.alertIntervalMs, 5000);
  const initialState = options.initialState ?? 'starting';
  if (!STATES.includes(initialState)) {
    fail(where, 'initialState', initialState, `one of ${STATES.map((s) => `"${s}"`).join(', ')}`);
  }
  const service = optionalString(where, 'service', options.service) ?? 'app';
  const version =
    optionalString(where, 'version', options.version) ?? process.env.npm_package_version ?? '0.0.0';
  const gitSha =
    optionalString(where, 'gitSha', options.gitSha) ??
    process.env.GIT_SHA ??
    process.env.GIT_COMMIT ??
    null;
  const registry = options.registry ?? new Registry();
  if (!(registry instanceof Registry)) {
    fail(where, 'registry', registry, 'a prom-client Registry');
  }
  const defaultMetrics = bool(where, 'defaultMetrics', options.defaultMetrics, true);
  // Deprecated and ignored: its pidusage gauges duplicated prom-client's process metrics.
  bool(where, 'processMetrics', options.processMetrics, true);
  const useCluster = bool(where, 'cluster', options.cluster, false);
  const rules = resolveRules(options.alerts);
  const webhook = resolveWebhook(options.alertWebhook);
  const onAlert = optionalFunction<(e: AlertEvent) => void>(where, 'onAlert', options.onAlert);
  if (options.checks !== undefined && !Array.isArray(options.checks)) {
    fail(where, 'checks', options.checks, 'an array of check definitions');
  }

  const availability = createAvailability(initialState, historySize, logger);
  const checks = createCheckRunner({
    timeoutMs,
    cacheTtlMs,
    historySize,
    logger,
    state: () => availability.state,
  });
  const collectors = new Map<string, HttpMetricsCollector>();
  const closers: (() => void)[] = [];
  let closed = false;

  for (const def of options.checks ?? []) checks.register(def);

  registerHealthMetrics(registry, {
    defaultMetrics,
    state: () => availability.state,
    results: () => checks.lastResults(),
  });
  if (useCluster) closers.push(exposeToPrimary(registry));

  function collectorFor(buckets: readonly number[], prefix: string): HttpMetricsCollector {
    const existing = collectors.get(prefix);
    if (existing) {
      if (existing.buckets.join() !== buckets.join()) {
        throw new Error(
          `${PKG}: httpMetrics with prefix "${prefix}" already exists with other buckets; use one set of buckets per prefix`,
        );
      }
      return existing;
    }
    const c = new HttpMetricsCollector(registry, buckets, prefix);
    collectors.set(prefix, c);
    return c;
  }

  // --- alerts ------------------------------------------------------------------------------
  const engine = new AlertEngine(
    rules,
    {
      httpWindow() {
        const c = collectors.get('http_') ?? collectors.values().next().value;
        return c?.takeWindow();
      },
    },
    service,
    logger,
    webhook,
  );
  if (onAlert) engine.onAlert(onAlert);
  let alertTimer: NodeJS.Timeout | undefined;
  if (engine.size > 0) {
    engine.start();
    alertTimer = setInterval(() => {
      engine.evaluate().catch((err: unknown) => {
        logger?.error('@shipshape/health: alert evaluation failed', { error: String(err) });
      });
    }, alertIntervalMs);
    alertTimer.unref();
  }

  let refreshTimer: NodeJS.Timeout | undefined;
  if (refreshIntervalMs > 0) {
    refreshTimer = setInterval(() => {
      checks.report('all', { fresh: true }).catch((err: unknown) => {
        logger?.error('@shipshape/health: background refresh failed', { error: String(err) });
      });
    }, refreshIntervalMs);
    refreshTimer.unref();
  }

  function versionInfo(): VersionInfo {
    const uptime = process.uptime();
    return {
      service,
      version,
      gitSha,
      node: process.version,
      startTime: new Date(Date.now() - uptime * 1000).toISOString(),
      uptimeSeconds: Math.round(uptime * 1000) / 1000,
    };
  }

  const info = new Map<string, unknown>();
  const documentSource: DocumentSource = {
    service,
    version,
    gitSha,
    probesOf: (name) => checks.probesOf(name),
  };

  async function detailed(): Promise<HealthDetailed> {
    const doc = healthDocument(await checks.report('all'), true, documentSource);
    return { ...Object.fromEntries(info), ...doc, alerts: engine.states() };
  }

  function history(): HealthHistory {
    return { state: availability.transitions(), checks: checks.history() };
  }

  return {
    registry,
    get state() {
      return availability.state;
    },
    register: (def) => checks.register(def),
    unregister: (name) => checks.unregister(name),
    setState: (next) => availability.set(next),
    markReady() {
      availability.set('ready');
    },
    report: (scope, reportOptions) => checks.report(scope, reportOptions),
    detailed,
    setInfo(name: string, value: unknown) {
      if (typeof name !== 'string' || name === '' || RESERVED_DETAILED_KEYS.has(name))
        throw new Error(
          `${PKG}: setInfo() name must be a non-empty string other than ${[...RESERVED_DETAILED_KEYS].join(', ')}, got ${JSON.stringify(name)}`,
        );
      if (value === undefined) info.delete(name);
      else info.set(name, value);
    },
    history,
    version: versionInfo,
    alerts: () => engine.states(),
    onAlert: (listener) => engine.onAlert(listener),
    evaluateAlerts: (now) => engine.evaluate(now),
    httpMetrics(metricsOptions: HttpMetricsOptions = {}) {
      const config = resolveHttpMetricsOptions(metricsOptions);
      return createHttpMetricsMiddleware(collectorFor(config.buckets, config.prefix), config);
    },
    router: (routerOptions) =>
      createHealthRouter(
        {
          registry,
          logger,
          report: (scope) => checks.report(scope),
          document: (r) => healthDocument(r, false, documentSource),
          detailed,
          history,
          version: versionInfo,
        },
        routerOptions,
      ),
    metrics: () => registry.metrics(),
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(alertTimer);
      clearInterval(refreshTimer);
      engine.close();
      checks.close();
      for (const c of closers) c();
      await engine.flush();
    },
  };
}
