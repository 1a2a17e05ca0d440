import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Registry } from 'prom-client';
import { type RoutedRequest, routeTemplates } from './route-template.js';
import type { HttpMetricsOptions, Middleware } from './types.js';
import { fail, optionalFunction, optionalString, warnUnknownKeys } from './validate.js';

export const DEFAULT_BUCKETS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

const knownKeys: { readonly [K in keyof Required<HttpMetricsOptions>]: true } = {
  buckets: true,
  unmatchedRoute: true,
  prefix: true,
  skip: true,
};

interface HttpMetricsConfig {
  readonly buckets: readonly number[];
  readonly unmatchedRoute: string;
  readonly prefix: string;
  readonly skip: ((req: IncomingMessage) => boolean) | undefined;
}

export function resolveHttpMetricsOptions(options: HttpMetricsOptions = {}): HttpMetricsConfig {
  if (typeof options !== 'object' || options === null) {
    fail('httpMetrics', 'options', options, 'an object');
  }
  warnUnknownKeys('httpMetrics', options, knownKeys, undefined);
  let buckets = DEFAULT_BUCKETS;
  if (options.buckets !== undefined) {
    const b = options.buckets as unknown;
    if (
      !Array.isArray(b) ||
      b.length === 0 ||
      !b.every(
        (x, i) => typeof x === 'number' && Number.isFinite(x) && x > 0 && (i === 0 || x > b[i - 1]),
      )
    ) {
      fail(
        'httpMetrics',
        'buckets',
        b,
        'a non-empty array of increasing positive finite numbers (seconds)',
      );
    }
    buckets = [...(b as number[])];
  }
  const prefix = options.prefix ?? 'http_';
  if (typeof prefix !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$|^$/.test(prefix)) {
    fail('httpMetrics', 'prefix', prefix, 'a Prometheus metric name prefix such as "http_"');
  }
  return {
    buckets,
    unmatchedRoute:
      optionalString('httpMetrics', 'unmatchedRoute', options.unmatchedRoute) ?? '<unmatched>',
    prefix,
    skip: optionalFunction('httpMetrics', 'skip', options.skip),
  };
}

interface Series {
  readonly labels: {
    readonly method: string;
    readonly status_code: string;
    readonly route: string;
  };
  count: number;
  sum: number;
  /** Non-cumulative counts per bucket; the last slot is +Inf. */
  readonly counts: Float64Array;
}

interface Window {
  total: number;
  errors: number;
  counts: Float64Array;
}

export interface HttpWindowStats {
  readonly requests: number;
  /** Share of responses with status >= 500, or undefined without traffic. */
  readonly errorRate: number | undefined;
  /** Estimated p95 latency in ms from the histogram buckets, or undefined without traffic. */
  readonly p95LatencyMs: number | undefined;
}

/**
 * Records HTTP metrics into plain numbers and exposes them to prom-client as metric objects
 * (the registry only reads them on scrape), so the per-request cost is a few map lookups.
 */
export class HttpMetricsCollector {
  readonly buckets: readonly number[];
  readonly prefix: string;
  inFlight = 0;
  private readonly series = new Map<string, Map<string, Map<number, Series>>>();
  private window: Window;

  constructor(registry: Registry, buckets: readonly number[], prefix: string) {
    this.buckets = buckets;
    this.prefix = prefix;
    this.window = { total: 0, errors: 0, counts: new Float64Array(buckets.length + 1) };
    const collector = this;
    const totalName = `${prefix}requests_total`;
    const durationName = `${prefix}request_duration_seconds`;
    const inFlightName = `${prefix}requests_in_flight`;
    const metric = (name: string, help: string, type: string, values: () => unknown[]) => {
      const m = {
        name,
        help,
        type,
        aggregator: 'sum',
        async get() {
          return { name, help, type, values: values(), aggregator: 'sum' };
        },
        reset() {
          collector.reset();
        },
      };
      registry.registerMetric(m as unknown as Parameters<Registry['registerMetric']>[0]);
    };
    metric(totalName, 'Total HTTP requests', 'counter', () => {
      const out: unknown[] = [];
      for (const s of collector.allSeries()) out.push({ labels: s.labels, value: s.count });
      return out;
    });
    metric(durationName, 'HTTP request duration in seconds', 'histogram', () => {
      const out: unknown[] = [];
      const bucketName = `${durationName}_bucket`;
      for (const s of collector.allSeries()) {
        let cumulative = 0;
        for (let i = 0; i < buckets.length; i++) {
          cumulative += s.counts[i] ?? 0;
          out.push({
            labels: { ...s.labels, le: buckets[i] },
            value: cumulative,
            metricName: bucketName,
          });
        }
        out.push({ labels: { ...s.labels, le: '+Inf' }, value: s.count, metricName: bucketName });
        out.push({ labels: s.labels, value: s.sum, metricName: `${durationName}_sum` });
        out.push({ labels: s.labels, value: s.count, metricName: `${durationName}_count` });
      }
      return out;
    });
    metric(inFlightName, 'HTTP requests being served', 'gauge', () => [
      { labels: {}, value: collector.inFlight },
    ]);
  }

  *allSeries(): Generator<Series> {
    for (const byMethod of this.series.values()) {
      for (const byStatus of byMethod.values()) yield* byStatus.values();
    }
  }

  reset(): void {
    this.series.clear();
  }

  record(method: string, status: number, route: string, seconds: number): void {
    let byMethod = this.series.get(route);
    if (byMethod === undefined) {
      byMethod = new Map();
      this.series.set(route, byMethod);
    }
    let byStatus = byMethod.get(method);
    if (byStatus === undefined) {
      byStatus = new Map();
      byMethod.set(method, byStatus);
    }
    let s = byStatus.get(status);
    if (s === undefined) {
      s = {
        labels: { method, status_code: String(status), route },
        count: 0,
        sum: 0,
        counts: new Float64Array(this.buckets.length + 1),
      };
      byStatus.set(status, s);
    }
    const buckets = this.buckets;
    let i = 0;
    while (i < buckets.length && seconds > (buckets[i] as number)) i++;
    s.count++;
    s.sum += seconds;
    s.counts[i] = (s.counts[i] as number) + 1;
    const w = this.window;
    w.total++;
    if (status >= 500) w.errors++;
    w.counts[i] = (w.counts[i] as number) + 1;
  }

  /** Stats since the previous call; used by alert rules. */
  takeWindow(): HttpWindowStats {
    const w = this.window;
    this.window = { total: 0, errors: 0, counts: new Float64Array(this.buckets.length + 1) };
    if (w.total === 0) return { requests: 0, errorRate: undefined, p95LatencyMs: undefined };
    return {
      requests: w.total,
      errorRate: w.errors / w.total,
      p95LatencyMs: quantileFromBuckets(0.95, this.buckets, w.counts, w.total) * 1000,
    };
  }
}

/** histogram_quantile: linear interpolation inside the bucket holding the rank. */
export function quantileFromBuckets(
  q: number,
  buckets: readonly number[],
  counts: Float64Array,
  total: number,
): number {
  const rank = q * total;
  let cumulative = 0;
  for (let i = 0; i < buckets.length; i++) {
    const c = counts[i] as number;
    if (cumulative + c >= rank && c > 0) {
      const lower = i === 0 ? 0 : (buckets[i - 1] as number);
      const upper = buckets[i] as number;
      return lower + (upper - lower) * ((rank - cumulative) / c);
    }
    cumulative += c;
  }
  return buckets[buckets.length - 1] as number;
}

type ExpressishRequest = IncomingMessage & RoutedRequest;

/** Status label for requests the client abandoned before the response finished (nginx's 499). */
export const CLIENT_CLOSED_STATUS = 499;

/**
 * What a composer (harden()) uses to share one `close` listener and one route template between
 * the metrics and the access log: `begin` at the middleware's place (false: skipped), `route` and
 * `end` once the response has closed, with the start time the composer took.
 */
export interface HttpMetricsObserver {
  begin(req: IncomingMessage): boolean;
  route(req: IncomingMessage): string | undefined;
  end(res: ServerResponse, start: number, route: string | undefined): void;
}

export function createHttpMetricsMiddleware(
  collector: HttpMetricsCollector,
  config: HttpMetricsConfig,
): Middleware & HttpMetricsObserver {
  const { unmatchedRoute, skip } = config;
  const templates = routeTemplates();

  function begin(req: IncomingMessage): boolean {
    if (skip?.(req)) return false;
    collector.inFlight++;
    return true;
  }

  function route(req: IncomingMessage): string | undefined {
    return templates.of(req as ExpressishRequest);
  }

  function end(res: ServerResponse, start: number, template: string | undefined): void {
    collector.inFlight--;
    const seconds = (performance.now() - start) / 1000;
    const status = res.writableFinished ? res.statusCode : CLIENT_CLOSED_STATUS;
    collector.record(res.req.method ?? 'GET', status, template ?? unmatchedRoute, seconds);
  }

  function onResponseClose(res: ServerResponse, start: number): void {
    end(res, start, templates.of(res.req as ExpressishRequest));
  }

  const middleware: Middleware = function httpMetricsMiddleware(req, res, next) {
    if (!begin(req)) {
      next();
      return;
    }
    // The start time stays in this closure: a property added to `res` per request measurably
    // slowed the rest of the stack. 'close' fires once per response (after 'finish', or on abort).
    const start = performance.now();
    res.on('close', () => onResponseClose(res, start));
    next();
  };
  return Object.assign(middleware, { begin, route, end });
}
