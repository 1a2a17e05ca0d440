import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { AlertEngine, resolveRules, resolveWebhook } from './alerts.js';
import { type ClosableCheck, validateProbes } from './checks.js';
import { exposeToPrimary } from './cluster.js';
import {
  createHttpMetricsMiddleware,
  HttpMetricsCollector,
  resolveHttpMetricsOptions,
} from './http-metrics.js';
import type {
  AlertEvent,
  AlertState,
  AvailabilityState,
  CheckDefinition,
  CheckHistory,
  CheckOutcome,
  CheckResult,
  CheckStatus,
  CheckTransition,
  HealthHistory,
  HealthLogger,
  HealthOptions,
  HealthStateTarget,
  HttpMetricsOptions,
  Middleware,
  Probe,
  ProbeReport,
  RouterOptions,
  StateTransition,
} from './types.js';
import {
  assertObject,
  bool,
  fail,
  isPlainObject,
  nonNegativeInt,
  optionalFunction,
  optionalString,
  PKG,
  positiveInt,
  show,
  warnUnknownKeys,
} from './validate.js';

const STATES: readonly AvailabilityState[] = ['starting', 'ready', 'draining', 'stopped'];
const CHECK_STATUSES: readonly CheckStatus[] = ['pass', 'warn', 'fail'];
const METRIC_STATE = 'shipshape_health_state';
const METRIC_CHECK_UP = 'shipshape_health_check_up';
const METRIC_CHECK_STATUS = 'shipshape_health_check_status';
const METRIC_CHECK_DURATION = 'shipshape_health_check_duration_seconds';
const OUTPUT_LIMIT = 500;

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

const knownRouterOptions: { readonly [K in keyof Required<RouterOptions>]: true } = {
  basePath: true,
  metricsPath: true,
  authorize: true,
  authorizeMetrics: true,
};

/** Which aggregate a report is for: one probe, or every check (`/health`, `/health/detailed`). */
export type ReportScope = Probe | 'all';

/**
 * An IETF "Health Check Response Format for HTTP APIs" (draft-inadarei-api-health-check) body:
 * `application/health+json`, served by the probes to clients that ask for it.
 */
export interface HealthDocument {
  readonly status: CheckStatus;
  readonly version: string;
  readonly releaseId?: string;
  readonly serviceId: string;
  readonly description: string;
  /** Why the status is not `pass`; absent on `pass`. */
  readonly output?: string;
  /** The availability state (an extension member). */
  readonly state: AvailabilityState;
  /** Check name → one-element array of component objects (`componentType`, `status`, `time`…). */
  readonly checks: Readonly<Record<string, readonly Record<string, unknown>[]>>;
}

/** The health+json body of `/health/detailed`: components also carry `observedValue`, `observedUnit`, `output`, `critical`, `probes`, `durationMs`. */
export interface HealthDetailed extends HealthDocument {
  readonly alerts: readonly AlertState[];
  /** Members added with `setInfo()`. */
  readonly [info: string]: unknown;
}

const HEALTH_JSON = 'application/health+json';

/** Whether `Accept` names `application/health+json` with a non-zero q. */
function acceptsHealthJson(req: IncomingMessage): boolean {
  const accept = req.headers.accept?.toLowerCase();
  if (accept === undefined || !accept.includes('health+json')) return false;
  for (const range of accept.split(',')) {
    const [type = '', ...params] = range.split(';');
    if (type.trim() !== HEALTH_JSON) continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  }
  return false;
}

const RESERVED_DETAILED_KEYS = new Set([
  'status',
  'version',
  'releaseId',
  'serviceId',
  'description',
  'output',
  'state',
  'checks',
  'alerts',
  'notes',
  'links',
]);

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

interface ResolvedCheck {
  readonly name: string;
  readonly fn: CheckDefinition['fn'];
  readonly critical: boolean;
  readonly probes: readonly Probe[];
  readonly timeoutMs: number;
  readonly componentType: string;
  readonly close: (() => void) | undefined;
}

interface Entry {
  readonly check: ResolvedCheck;
  last: CheckResult | undefined;
  lastAt: number;
  inFlight: Promise<CheckResult> | undefined;
  /** When a timed-out run that ignored its abort signal started; cleared when it settles. */
  stuckSince: number | undefined;
  readonly results: CheckResult[];
  readonly transitions: CheckTransition[];
}

class CheckTimeout extends Error {}

function push<T>(ring: T[], item: T, size: number): void {
  ring.push(item);
  if (ring.length > size) ring.shift();
}

function truncate(s: string): string {
  return s.length > OUTPUT_LIMIT ? `${s.slice(0, OUTPUT_LIMIT)}…` : s;
}

const STATUS_RANK: Record<CheckStatus, number> = { pass: 0, warn: 1, fail: 2 };

function normalize(outcome: unknown): {
  status: CheckStatus;
  output?: string;
  observedValue?: number | string | boolean;
  observedUnit?: string;
} {
  if (outcome === undefined || outcome === true) return { status: 'pass' };
  if (outcome === false) return { status: 'fail', output: 'check returned false' };
  if (outcome === 'pass' || outcome === 'warn' || outcome === 'fail') return { status: outcome };
  if (isPlainObject(outcome)) {
    const s = outcome.status;
    if (s === 'pass' || s === 'warn' || s === 'fail') {
      const out: ReturnType<typeof normalize> = { status: s };
      if (typeof outcome.output === 'string') out.output = truncate(outcome.output);
      const v = outcome.observedValue;
      if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') {
        out.observedValue = v;
      }
      if (typeof outcome.observedUnit === 'string') out.observedUnit = outcome.observedUnit;
      return out;
    }
  }
  return {
    status: 'fail',
    output: truncate(
      `check returned an invalid result ${show(outcome)}; expected undefined, a boolean, "pass" | "warn" | "fail" or { status }`,
    ),
  };
}

function resolveCheck(def: unknown, defaultTimeout: number): ResolvedCheck {
  const where = 'register';
  if (!isPlainObject(def)) fail(where, 'check', def, 'a check definition { name, fn }');
  const name = def.name;
  if (typeof name !== 'string' || name === '') fail(where, 'name', name, 'a non-empty string');
  if (typeof def.fn !== 'function') fail(`check "${name}"`, 'fn', def.fn, 'a function');
  return {
    name,
    fn: def.fn as CheckDefinition['fn'],
    critical: bool(`check "${name}"`, 'critical', def.critical, true),
    probes:
      def.probes === undefined ? ['readiness'] : validateProbes(`check "${name}"`, def.probes),
    timeoutMs: positiveInt(`check "${name}"`, 'timeoutMs', def.timeoutMs, defaultTimeout),
    componentType:
      optionalString(`check "${name}"`, 'componentType', def.componentType) ?? 'component',
    close:
      typeof (def as unknown as ClosableCheck).close === 'function'
        ? () => (def as unknown as Required<ClosableCheck>).close()
        : undefined,
  };
}

function normalizeBasePath(where: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !value.startsWith('/')) {
    fail(where, 'basePath', value, 'a path starting with "/"');
  }
  return value.length > 1 && value.endsWith('/') ? value.slice(0, -1) : value;
}

function requestPath(req: IncomingMessage & { path?: string }): string {
  if (typeof req.path === 'string') return req.path;
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
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

  const entries = new Map<string, Entry>();
  let state: AvailabilityState = initialState;
  const stateTransitions: StateTransition[] = [];
  const collectors = new Map<string, HttpMetricsCollector>();
  const closers: (() => void)[] = [];
  let closed = false;

  function register(def: CheckDefinition): void {
    const check = resolveCheck(def, timeoutMs);
    if (entries.has(check.name)) {
      throw new Error(`${PKG}: a check named "${check.name}" is already registered`);
    }
    entries.set(check.name, {
      check,
      last: undefined,
      lastAt: 0,
      inFlight: undefined,
      stuckSince: undefined,
      results: [],
      transitions: [],
    });
  }

  for (const def of options.checks ?? []) register(def);

  async function execute(entry: Entry): Promise<CheckResult> {
    const check = entry.check;
    const controller = new AbortController();
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    let normalized: ReturnType<typeof normalize>;
    // A timed-out run that has not settled yet (it ignored the abort signal) blocks new runs, so
    // a struggling dependency is not sent one more query per probe; after ten timeouts a fresh
    // run is allowed in case the old promise never settles.
    if (entry.stuckSince !== undefined && started - entry.stuckSince < check.timeoutMs * 10) {
      return {
        name: check.name,
        critical: check.critical,
        componentType: check.componentType,
        status: 'fail',
        output: `previous run still pending after timing out (${check.timeoutMs} ms); not started again`,
        time: new Date().toISOString(),
        durationMs: 0,
      };
    }
    entry.stuckSince = undefined;
    const run = Promise.resolve().then(() => check.fn(controller.signal));
    try {
      const outcome = await Promise.race([
        run,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new CheckTimeout()), check.timeoutMs);
          timer.unref();
        }),
      ]);
      normalized = normalize(outcome as CheckOutcome);
    } catch (err) {
      if (err instanceof CheckTimeout) {
        entry.stuckSince = started;
        const clear = () => {
          if (entry.stuckSince === started) entry.stuckSince = undefined;
        };
        run.then(clear, clear);
        controller.abort(new Error(`check timed out after ${check.timeoutMs} ms`));
        normalized = { status: 'fail', output: `timed out after ${check.timeoutMs} ms` };
      } else {
        const message = err instanceof Error ? err.message || err.name : show(err);
        normalized = { status: 'fail', output: truncate(message || 'check threw') };
      }
    } finally {
      clearTimeout(timer);
    }
    const durationMs = Math.round((performance.now() - started) * 100) / 100;
    return {
      name: check.name,
      critical: check.critical,
      componentType: check.componentType,
      ...normalized,
      time: new Date().toISOString(),
      durationMs,
    };
  }

  function record(entry: Entry, result: CheckResult): void {
    const previous = entry.last?.status;
    entry.last = result;
    entry.lastAt = performance.now();
    push(entry.results, result, historySize);
    if (previous !== result.status) {
      const t: CheckTransition = {
        time: result.time,
        from: previous,
        to: result.status,
        ...(result.output === undefined ? {} : { output: result.output }),
      };
      push(entry.transitions, t, historySize);
      if (previous !== undefined || result.status !== 'pass') {
        const meta = {
          check: result.name,
          from: previous,
          to: result.status,
          output: result.output,
        };
        try {
          if (result.status === 'pass') logger?.info(`health check ${result.name} recovered`, meta);
          else logger?.warn(`health check ${result.name} is ${result.status}`, meta);
        } catch {
          // A broken logger must not break the probes.
        }
      }
    }
  }

  function resultOf(entry: Entry, fresh: boolean): Promise<CheckResult> | CheckResult {
    if (!fresh && entry.last !== undefined && performance.now() - entry.lastAt < cacheTtlMs) {
      return entry.last;
    }
    // A run started by an earlier probe is still going (a slow dependency): answer with the last
    // result instead of making this probe wait for it too. Only a caller that asked for a fresh
    // result, or the very first one, waits.
    if (entry.inFlight !== undefined && !fresh && entry.last !== undefined) return entry.last;
    if (entry.inFlight !== undefined) return entry.inFlight;
    const p = execute(entry).then((result) => {
      entry.inFlight = undefined;
      record(entry, result);
      return result;
    });
    entry.inFlight = p;
    return p;
  }

  function aggregate(results: readonly CheckResult[]): CheckStatus {
    let worst: CheckStatus = 'pass';
    for (const r of results) {
      const effective: CheckStatus = r.status === 'fail' && !r.critical ? 'warn' : r.status;
      if (STATUS_RANK[effective] > STATUS_RANK[worst]) worst = effective;
    }
    return worst;
  }

  async function report(
    scope: ReportScope = 'all',
    reportOptions: { readonly fresh?: boolean } = {},
  ): Promise<ProbeReport> {
    if (scope !== 'all' && !['liveness', 'readiness', 'startup'].includes(scope)) {
      fail('report', 'scope', scope, '"all", "liveness", "readiness" or "startup"');
    }
    const selected: Entry[] = [];
    for (const entry of entries.values()) {
      if (scope === 'all' || entry.check.probes.includes(scope)) selected.push(entry);
    }
    const results = await Promise.all(
      selected.map((e) => resultOf(e, reportOptions.fresh === true)),
    );
    const checksStatus = aggregate(results);
    const current = state;
    let ok: boolean;
    if (scope === 'liveness') ok = checksStatus !== 'fail';
    else if (scope === 'startup') ok = current !== 'starting' && checksStatus !== 'fail';
    else ok = current === 'ready' && checksStatus !== 'fail';
    return {
      status: ok ? checksStatus : 'fail',
      httpStatus: ok ? 200 : 503,
      state: current,
      checks: results,
    };
  }

  function setState(next: AvailabilityState): void {
    if (!STATES.includes(next)) {
      fail('setState', 'state', next, `one of ${STATES.map((s) => `"${s}"`).join(', ')}`);
    }
    if (next === state) return;
    const t: StateTransition = { time: new Date().toISOString(), from: state, to: next };
    state = next;
    push(stateTransitions, t, historySize);
    logger?.info(`health state ${t.from} -> ${t.to}`, { from: t.from, to: t.to });
  }

  // --- metrics -----------------------------------------------------------------------------
  // Names: docs in README "Metrics" (a test keeps the table and the registry in step). Every
  // gauge names how prom-client's AggregatorRegistry combines it across cluster workers: these
  // are 0/1 states and durations, which summed would read 2 on a two-worker primary.
  if (defaultMetrics && registry.getSingleMetric('process_cpu_user_seconds_total') === undefined) {
    collectDefaultMetrics({ register: registry });
  }
  if (registry.getSingleMetric(METRIC_STATE) === undefined) {
    new Gauge({
      name: METRIC_STATE,
      help: 'Availability state: 1 for the current state, 0 for the others (cluster: 1 for every state some worker is in)',
      labelNames: ['state'],
      registers: [registry],
      aggregator: 'max',
      collect() {
        for (const s of STATES) this.set({ state: s }, s === state ? 1 : 0);
      },
    });
    new Gauge({
      name: METRIC_CHECK_UP,
      help: 'Whether the last run of each health check passed: 1 pass, 0 warn or fail (cluster: 1 only when it passed in every worker)',
      labelNames: ['check', 'critical'],
      registers: [registry],
      aggregator: 'min',
      collect() {
        this.reset();
        for (const e of entries.values()) {
          if (e.last === undefined) continue;
          this.set(
            { check: e.check.name, critical: String(e.check.critical) },
            e.last.status === 'pass' ? 1 : 0,
          );
        }
      },
    });
    new Gauge({
      name: METRIC_CHECK_STATUS,
      help: 'Status of the last run of each health check: 1 for its status (pass, warn, fail), 0 for the others (cluster: 1 for every status some worker reports)',
      labelNames: ['check', 'critical', 'status'],
      registers: [registry],
      aggregator: 'max',
      collect() {
        this.reset();
        for (const e of entries.values()) {
          if (e.last === undefined) continue;
          const labels = { check: e.check.name, critical: String(e.check.critical) };
          for (const status of CHECK_STATUSES)
            this.set({ ...labels, status }, e.last.status === status ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: METRIC_CHECK_DURATION,
      help: 'Duration of the last run of each health check in seconds (cluster: the slowest worker)',
      labelNames: ['check'],
      registers: [registry],
      aggregator: 'max',
      collect() {
        this.reset();
        for (const e of entries.values()) {
          if (e.last !== undefined) this.set({ check: e.check.name }, e.last.durationMs / 1000);
        }
      },
    });
  }
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
      report('all', { fresh: true }).catch((err: unknown) => {
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

  /**
   * The IETF health+json document of a report: `checks` maps each check name to a one-element
   * array of component objects. `withDetail` adds what only the guarded `/health/detailed` shows
   * (outputs, observed values, alerts, `setInfo()` members).
   */
  function healthDocument(r: ProbeReport, withDetail: boolean): HealthDocument {
    const checks: Record<string, Record<string, unknown>[]> = {};
    for (const c of r.checks) {
      const component: Record<string, unknown> = {
        componentType: c.componentType,
        status: c.status,
        time: c.time,
      };
      if (withDetail) {
        if (c.observedValue !== undefined) component.observedValue = c.observedValue;
        if (c.observedUnit !== undefined) component.observedUnit = c.observedUnit;
        if (c.output !== undefined) component.output = c.output;
        component.critical = c.critical;
        component.probes = entries.get(c.name)?.check.probes ?? [];
        component.durationMs = c.durationMs;
      }
      checks[c.name] = [component];
    }
    // The draft: `output` is omitted on pass, and a warn SHOULD say why.
    let output: string | undefined;
    const failing = r.checks.filter((c) => c.status === 'fail' && c.critical).map((c) => c.name);
    if (failing.length > 0) output = `failing critical checks: ${failing.join(', ')}`;
    else if (r.status === 'fail') output = `state is ${r.state}`;
    else if (r.status === 'warn') {
      const warning = r.checks.filter((c) => c.status !== 'pass').map((c) => c.name);
      output = `checks not passing: ${warning.join(', ')}`;
    }
    return {
      status: r.status,
      version,
      ...(gitSha === null ? {} : { releaseId: gitSha }),
      serviceId: service,
      description: `${service} health`,
      ...(output === undefined ? {} : { output }),
      state: r.state,
      checks,
    };
  }

  async function detailed(): Promise<HealthDetailed> {
    const doc = healthDocument(await report('all'), true);
    return { ...Object.fromEntries(info), ...doc, alerts: engine.states() };
  }

  function history(): HealthHistory {
    const checks: Record<string, CheckHistory> = {};
    for (const [name, e] of entries) {
      checks[name] = { results: [...e.results], transitions: [...e.transitions] };
    }
    return { state: [...stateTransitions], checks };
  }

  function router(routerOptions: RouterOptions = {}): Middleware {
    assertObject('router', 'options', routerOptions);
    warnUnknownKeys('router', routerOptions, knownRouterOptions, logger);
    const basePath = normalizeBasePath('router', routerOptions.basePath, '/health');
    const rawMetricsPath = routerOptions.metricsPath;
    let metricsPath: string | undefined = '/metrics';
    if (rawMetricsPath === false) metricsPath = undefined;
    else if (rawMetricsPath !== undefined) {
      if (typeof rawMetricsPath !== 'string' || !rawMetricsPath.startsWith('/')) {
        fail('router', 'metricsPath', rawMetricsPath, 'a path starting with "/" or false');
      }
      metricsPath = rawMetricsPath;
    }
    const authorize = optionalFunction<Middleware>('router', 'authorize', routerOptions.authorize);
    const authorizeMetrics = bool(
      'router',
      'authorizeMetrics',
      routerOptions.authorizeMetrics,
      false,
    );
    const root = basePath === '/' ? '' : basePath;
    type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

    // Probes answer a compact `application/json` summary (`checks: { name: status }`) unless the
    // client asks for the IETF format, which maps each check to an array of objects.
    const probe =
      (scope: ReportScope): Handler =>
      async (req, res) => {
        const r = await report(scope);
        res.setHeader('vary', 'accept');
        if (acceptsHealthJson(req)) {
          send(req, res, r.httpStatus, HEALTH_JSON, healthDocument(r, false));
          return;
        }
        const checks: Record<string, CheckStatus> = {};
        for (const c of r.checks) checks[c.name] = c.status;
        send(req, res, r.httpStatus, 'application/json', {
          status: r.status,
          state: r.state,
          checks,
        });
      };

    const routes = new Map<string, { handler: Handler; guarded: boolean }>();
    routes.set(root || '/', { handler: probe('all'), guarded: false });
    routes.set(`${root}/live`, { handler: probe('liveness'), guarded: false });
    routes.set(`${root}/ready`, { handler: probe('readiness'), guarded: false });
    routes.set(`${root}/startup`, { handler: probe('startup'), guarded: false });
    routes.set(`${root}/detailed`, {
      guarded: true,
      handler: async (req, res) => {
        const d = await detailed();
        send(req, res, d.status === 'fail' ? 503 : 200, HEALTH_JSON, d);
      },
    });
    routes.set(`${root}/history`, {
      guarded: true,
      handler: async (req, res) => send(req, res, 200, 'application/json', history()),
    });
    routes.set(`${root}/version`, {
      guarded: false,
      handler: async (req, res) => send(req, res, 200, 'application/json', versionInfo()),
    });
    if (metricsPath !== undefined) {
      routes.set(metricsPath, {
        guarded: authorizeMetrics,
        handler: async (req, res) => {
          const text = await registry.metrics();
          sendRaw(req, res, 200, registry.contentType, text);
        },
      });
    }

    const prefixes = [root || '/', ...(metricsPath === undefined ? [] : [metricsPath])];
    return function healthRouter(req, res, next) {
      // Cheap reject for the app's own traffic before any URL parsing.
      const url = req.url ?? '/';
      let candidate = false;
      for (const p of prefixes) if (url.startsWith(p)) candidate = true;
      if (!candidate) {
        next();
        return;
      }
      const route = routes.get(requestPath(req));
      if (route === undefined) {
        next();
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('allow', 'GET, HEAD');
        send(req, res, 405, 'application/problem+json', {
          type: 'about:blank',
          title: 'Method Not Allowed',
          status: 405,
          detail: `${req.method} is not allowed on ${requestPath(req)}; use GET or HEAD`,
          ...requestId(res),
        });
        return;
      }
      const run = () => {
        route.handler(req, res).catch(next);
      };
      if (route.guarded && authorize) {
        try {
          authorize(req, res, (err?: unknown) => {
            if (err !== undefined && err !== null && err !== 'route') next(err);
            else run();
          });
        } catch (err) {
          next(err);
        }
        return;
      }
      run();
    };
  }

  return {
    registry,
    get state() {
      return state;
    },
    register,
    unregister(name: string) {
      const e = entries.get(name);
      if (!e) return false;
      e.check.close?.();
      return entries.delete(name);
    },
    setState,
    markReady() {
      setState('ready');
    },
    report,
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
    router,
    metrics: () => registry.metrics(),
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(alertTimer);
      clearInterval(refreshTimer);
      engine.close();
      for (const e of entries.values()) e.check.close?.();
      for (const c of closers) c();
      await engine.flush();
    },
  };
}

function requestId(res: ServerResponse): { requestId?: string } {
  const id = res.getHeader('x-request-id');
  return typeof id === 'string' ? { requestId: id } : {};
}

function send(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  type: string,
  body: unknown,
): void {
  sendRaw(req, res, status, `${type}; charset=utf-8`, JSON.stringify(body));
}

// Raw node:http on purpose: no ETag, so a probe is never answered 304 from a cache.
function sendRaw(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
): void {
  res.statusCode = status;
  res.setHeader('content-type', type);
  res.setHeader('cache-control', 'no-store');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(req.method === 'HEAD' ? undefined : body);
}
