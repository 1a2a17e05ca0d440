// The health gauges (README "Metrics"; a test keeps the table and the registry in step), read at
// scrape time. Every gauge names how prom-client's AggregatorRegistry combines it across cluster
// workers: these are 0/1 states and durations, which summed would read 2 on a two-worker primary.
import { collectDefaultMetrics, Gauge, type Registry } from 'prom-client';
import { STATES } from './availability.js';
import type { AvailabilityState, CheckResult, CheckStatus } from './types.js';

const CHECK_STATUSES: readonly CheckStatus[] = ['pass', 'warn', 'fail'];
const METRIC_STATE = 'shipshape_health_state';
const METRIC_CHECK_UP = 'shipshape_health_check_up';
const METRIC_CHECK_STATUS = 'shipshape_health_check_status';
const METRIC_CHECK_DURATION = 'shipshape_health_check_duration_seconds';

export interface HealthMetricsSource {
  /** Also register prom-client's default metrics (once per registry). */
  readonly defaultMetrics: boolean;
  readonly state: () => AvailabilityState;
  /** The last result of each check that has run. */
  readonly results: () => Iterable<CheckResult>;
}

/**
 * Registers the health gauges on `registry` unless it already has them (a registry shared by
 * two instances reports the first one's).
 */
export function registerHealthMetrics(registry: Registry, source: HealthMetricsSource): void {
  const { state, results } = source;
  if (
    source.defaultMetrics &&
    registry.getSingleMetric('process_cpu_user_seconds_total') === undefined
  ) {
    collectDefaultMetrics({ register: registry });
  }
  if (registry.getSingleMetric(METRIC_STATE) !== undefined) return;
  new Gauge({
    name: METRIC_STATE,
    help: 'Availability state: 1 for the current state, 0 for the others (cluster: 1 for every state some worker is in)',
    labelNames: ['state'],
    registers: [registry],
    aggregator: 'max',
    collect() {
      const current = state();
      for (const s of STATES) this.set({ state: s }, s === current ? 1 : 0);
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
      for (const r of results()) {
        this.set({ check: r.name, critical: String(r.critical) }, r.status === 'pass' ? 1 : 0);
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
      for (const r of results()) {
        const labels = { check: r.name, critical: String(r.critical) };
        for (const status of CHECK_STATUSES)
          this.set({ ...labels, status }, r.status === status ? 1 : 0);
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
      for (const r of results()) this.set({ check: r.name }, r.durationMs / 1000);
    },
  });
}
