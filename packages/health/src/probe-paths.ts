// The probe endpoints, in one place: the router serves them, the testing helpers request them.
import type { Probe } from './types.js';

/** Which aggregate a report is for: one probe, or every check (`/health`, `/health/detailed`). */
export type ReportScope = Probe | 'all';

/** Where the router is mounted unless `basePath` says otherwise. */
export const DEFAULT_BASE_PATH = '/health';

/** Each report's probe endpoint under the base path (`''`: the base path itself). */
export const PROBE_PATHS: { readonly [S in ReportScope]: string } = {
  all: '',
  liveness: '/live',
  readiness: '/ready',
  startup: '/startup',
};

/** A probe's path under `basePath` (joined as given; the router normalises its own). */
export function probePath(scope: ReportScope, basePath?: string): string {
  return `${basePath ?? DEFAULT_BASE_PATH}${PROBE_PATHS[scope]}`;
}
