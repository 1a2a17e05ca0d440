// The IETF "Health Check Response Format for HTTP APIs" (draft-inadarei-api-health-check) body.
import type { AlertState, AvailabilityState, CheckStatus, Probe, ProbeReport } from './types.js';

export const HEALTH_JSON = 'application/health+json';

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

/** Members of the format (and `alerts`) that `setInfo()` may not replace. */
export const RESERVED_DETAILED_KEYS = new Set([
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

export interface DocumentSource {
  readonly service: string;
  readonly version: string;
  readonly gitSha: string | null;
  readonly probesOf: (check: string) => readonly Probe[];
}

/**
 * The IETF health+json document of a report: `checks` maps each check name to a one-element
 * array of component objects. `withDetail` adds what only the guarded `/health/detailed` shows
 * (outputs, observed values, and the extension keys `critical`, `probes`, `durationMs`).
 */
export function healthDocument(
  r: ProbeReport,
  withDetail: boolean,
  source: DocumentSource,
): HealthDocument {
  const { service, version, gitSha } = source;
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
      component.probes = source.probesOf(c.name);
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
