import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { probePath } from './probe-paths.js';
import type { CheckDefinition, CheckOutcome, Probe } from './types.js';

export interface ProbeResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
}

/** GETs `path` from `app` (an Express app or any request listener) on a throwaway 127.0.0.1 server. */
export async function probe(app: RequestListener, path: string): Promise<ProbeResponse> {
  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  try {
    const { port } = server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, headers: res.headers, body };
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

async function expectStatus(
  app: RequestListener,
  path: string,
  expected: number,
  what: string,
): Promise<ProbeResponse> {
  const res = await probe(app, path);
  if (res.status !== expected) {
    throw new Error(
      `@shipshape/health/testing: expected ${what} (GET ${path} → ${expected}), got ${res.status}: ${JSON.stringify(res.body)}`,
    );
  }
  return res;
}

export interface ExpectOptions {
  /** Where the health router is mounted. @default '/health' */
  readonly basePath?: string;
}

/** Resolves when `GET /health/ready` answers 200; rejects with the body otherwise. */
export function expectReady(
  app: RequestListener,
  options: ExpectOptions = {},
): Promise<ProbeResponse> {
  return expectStatus(app, probePath('readiness', options.basePath), 200, 'ready');
}

/** Resolves when `GET /health/ready` answers 503; rejects otherwise. */
export function expectNotReady(
  app: RequestListener,
  options: ExpectOptions = {},
): Promise<ProbeResponse> {
  return expectStatus(app, probePath('readiness', options.basePath), 503, 'not ready');
}

/** Resolves when `GET /health` answers 200 (every critical check passes, state ready). */
export function expectHealthy(
  app: RequestListener,
  options: ExpectOptions = {},
): Promise<ProbeResponse> {
  return expectStatus(app, probePath('all', options.basePath), 200, 'healthy');
}

/** A check whose outcome the test controls. */
export interface FakeCheck extends CheckDefinition {
  /** How many times the check ran. */
  readonly calls: number;
  pass(): void;
  warn(output?: string): void;
  fail(output?: string): void;
  /** Returns this value as is (to test garbage handling). */
  returns(value: unknown): void;
  /** Throws this error on the next runs. */
  throws(error: unknown): void;
  /** Never answers; the run settles only when the registry aborts it at the check's timeout. */
  hang(): void;
}

export interface FakeCheckOptions {
  readonly critical?: boolean;
  readonly probes?: readonly Probe[];
  readonly timeoutMs?: number;
}

export function fakeCheck(name: string, options: FakeCheckOptions = {}): FakeCheck {
  type Mode =
    | { kind: 'value'; value: unknown }
    | { kind: 'throw'; error: unknown }
    | { kind: 'hang' };
  let mode: Mode = { kind: 'value', value: 'pass' };
  let calls = 0;
  const fake: FakeCheck = {
    name,
    ...(options.critical === undefined ? {} : { critical: options.critical }),
    ...(options.probes === undefined ? {} : { probes: options.probes }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    fn: (signal) => {
      calls++;
      const m = mode;
      if (m.kind === 'throw') throw m.error;
      if (m.kind === 'hang') {
        // Hangs until the health registry aborts it at the timeout, like a well-behaved client.
        return new Promise<CheckOutcome>((_, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        });
      }
      return m.value as CheckOutcome;
    },
    get calls() {
      return calls;
    },
    pass() {
      mode = { kind: 'value', value: 'pass' };
    },
    warn(output) {
      mode = { kind: 'value', value: output === undefined ? 'warn' : { status: 'warn', output } };
    },
    fail(output) {
      mode = { kind: 'value', value: output === undefined ? 'fail' : { status: 'fail', output } };
    },
    returns(value) {
      mode = { kind: 'value', value };
    },
    throws(error) {
      mode = { kind: 'throw', error };
    },
    hang() {
      mode = { kind: 'hang' };
    },
  };
  return fake;
}

/**
 * The value of one series of a metric, e.g.
 * `metricValue(registry, 'http_requests_total', { route: '/users/:id', status_code: '200' })`.
 * Histogram series are read by their full name (`…_count`, `…_sum`, `…_bucket` with `le`).
 * Series whose labels include all given labels are summed; undefined when none matches.
 */
export async function metricValue(
  registry: Registry,
  name: string,
  labels: Readonly<Record<string, string | number>> = {},
): Promise<number | undefined> {
  const baseName = registry.getSingleMetric(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
  const metric = registry.getSingleMetric(baseName);
  if (!metric) return undefined;
  const data = await metric.get();
  let total: number | undefined;
  for (const v of data.values as {
    labels: Record<string, unknown>;
    value: number;
    metricName?: string;
  }[]) {
    if ((v.metricName ?? data.name) !== name) continue;
    const matches = Object.entries(labels).every(
      ([k, want]) => String(v.labels[k]) === String(want),
    );
    if (matches) total = (total ?? 0) + v.value;
  }
  return total;
}
