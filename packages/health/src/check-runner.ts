// Runs the registered checks: timeouts, the TTL cache shared by concurrent probes, per-check
// history and transitions, and the aggregate report of a probe.
import { performance } from 'node:perf_hooks';
import { type ClosableCheck, PROBES, validateProbes } from './checks.js';
import type { ReportScope } from './probe-paths.js';
import { push } from './ring.js';
import type {
  AvailabilityState,
  CheckDefinition,
  CheckHistory,
  CheckOutcome,
  CheckResult,
  CheckStatus,
  CheckTransition,
  HealthLogger,
  Probe,
  ProbeReport,
} from './types.js';
import { bool, fail, isPlainObject, optionalString, PKG, positiveInt, show } from './validate.js';

const OUTPUT_LIMIT = 500;

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

function aggregate(results: readonly CheckResult[]): CheckStatus {
  let worst: CheckStatus = 'pass';
  for (const r of results) {
    const effective: CheckStatus = r.status === 'fail' && !r.critical ? 'warn' : r.status;
    if (STATUS_RANK[effective] > STATUS_RANK[worst]) worst = effective;
  }
  return worst;
}

export interface CheckRunnerConfig {
  /** Per-check timeout unless the check sets its own. */
  readonly timeoutMs: number;
  readonly cacheTtlMs: number;
  readonly historySize: number;
  readonly logger: HealthLogger | undefined;
  /** The availability state a report combines with the checks. */
  readonly state: () => AvailabilityState;
}

export interface CheckRunner {
  /** Adds a check; throws when the name is taken. */
  register(def: CheckDefinition): void;
  /** Removes a check by name (closing what it owns); returns whether it existed. */
  unregister(name: string): boolean;
  report(scope?: ReportScope, options?: { readonly fresh?: boolean }): Promise<ProbeReport>;
  /** The last result of each check that has run, in registration order. */
  lastResults(): Generator<CheckResult>;
  /** The probes a check belongs to ([] when it is not registered). */
  probesOf(name: string): readonly Probe[];
  /** Per check: the last results and status transitions (copies). */
  history(): Record<string, CheckHistory>;
  /** Releases what every check owns. */
  close(): void;
}

export function createCheckRunner(config: CheckRunnerConfig): CheckRunner {
  const { timeoutMs, cacheTtlMs, historySize, logger } = config;
  const entries = new Map<string, Entry>();

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

  return {
    register(def) {
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
    },

    unregister(name) {
      const e = entries.get(name);
      if (!e) return false;
      e.check.close?.();
      return entries.delete(name);
    },

    async report(scope = 'all', reportOptions = {}) {
      if (scope !== 'all' && !PROBES.includes(scope)) {
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
      const current = config.state();
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
    },

    *lastResults() {
      for (const e of entries.values()) if (e.last !== undefined) yield e.last;
    },

    probesOf: (name) => entries.get(name)?.check.probes ?? [],

    history() {
      const checks: Record<string, CheckHistory> = {};
      for (const [name, e] of entries) {
        checks[name] = { results: [...e.results], transitions: [...e.transitions] };
      }
      return checks;
    },

    close() {
      for (const e of entries.values()) e.check.close?.();
    },
  };
}
