import type { Health } from '@shipshape/health';
import { Router } from 'express';

interface Sample {
  readonly time: string;
  /** Requests answered since the previous sample, per minute. */
  readonly requestsPerMinute: number;
  /** Share of 5xx among them (0–1). */
  readonly errorRate: number;
  readonly rssBytes: number;
}

export interface Monitoring {
  readonly router: Router;
  /** Takes one sample now (the timer does this every `intervalMs`). */
  sample(): Promise<void>;
  close(): void;
}

type Metrics = {
  readonly name: string;
  readonly values: readonly {
    readonly value: number;
    readonly labels: Record<string, string | number>;
    readonly metricName?: string;
  }[];
}[];

const sum = (
  metrics: Metrics,
  name: string,
  match: (labels: Record<string, unknown>) => boolean = () => true,
) =>
  metrics
    .find((m) => m.name === name)
    ?.values.filter((v) => match(v.labels as Record<string, unknown>))
    .reduce((total, v) => total + v.value, 0) ?? 0;

/**
 * The monitoring page's data: health checks and their history, alert states, request rates
 * sampled in the background (a ring of the last hour), and the processing counters.
 */
export function createMonitoring(
  health: Health,
  { intervalMs = 10_000, keep = 360 } = {},
): Monitoring {
  const samples: Sample[] = [];
  let previous: { at: number; total: number; errors: number } | undefined;

  const sample = async () => {
    const metrics = (await health.registry.getMetricsAsJSON()) as unknown as Metrics;
    const total = sum(metrics, 'http_requests_total');
    const errors = sum(metrics, 'http_requests_total', (l) =>
      String(l.status_code).startsWith('5'),
    );
    const now = Date.now();
    if (previous) {
      const minutes = Math.max((now - previous.at) / 60_000, 1 / 600);
      const answered = total - previous.total;
      samples.push({
        time: new Date(now).toISOString(),
        requestsPerMinute: Math.round((answered / minutes) * 10) / 10,
        errorRate: answered > 0 ? (errors - previous.errors) / answered : 0,
        rssBytes: process.memoryUsage.rss(),
      });
      if (samples.length > keep) samples.shift();
    }
    previous = { at: now, total, errors };
  };
  const timer = setInterval(() => void sample().catch(() => undefined), intervalMs);
  timer.unref();
  void sample().catch(() => undefined);

  const router = Router();
  router.get('/', async (_req, res) => {
    const [detailed, metrics] = await Promise.all([
      health.detailed(),
      health.registry.getMetricsAsJSON() as unknown as Promise<Metrics>,
    ]);
    const datasets: Record<string, number> = {};
    for (const v of metrics.find((m) => m.name === 'glass_datasets_processed_total')?.values ?? [])
      datasets[String(v.labels.status)] = v.value;
    const duration =
      metrics.find((m) => m.name === 'glass_processing_duration_seconds')?.values ?? [];
    const part = (suffix: string) =>
      duration.filter((v) => v.metricName?.endsWith(suffix)).reduce((t, v) => t + v.value, 0);
    const durationSum = part('_sum');
    const durationCount = part('_count');
    const history = health.history();
    res.set('Cache-Control', 'no-store').json({
      time: new Date().toISOString(),
      state: health.state,
      status: detailed.status,
      checks: detailed.checks,
      alerts: health.alerts(),
      history: {
        state: history.state,
        checks: Object.fromEntries(
          Object.entries(history.checks).map(([name, h]) => [
            name,
            { transitions: h.transitions, results: h.results.slice(-20) },
          ]),
        ),
      },
      requests: {
        total: sum(metrics, 'http_requests_total'),
        errors: sum(metrics, 'http_requests_total', (l) => String(l.status_code).startsWith('5')),
        samples,
      },
      processing: {
        datasets,
        rows: sum(metrics, 'glass_rows_processed_total'),
        qualityErrors: sum(metrics, 'glass_quality_errors_total'),
        meanDurationSeconds: durationCount > 0 ? durationSum / durationCount : null,
      },
      process: { rssBytes: process.memoryUsage.rss(), uptimeSeconds: Math.round(process.uptime()) },
    });
  });
  return { router, sample, close: () => clearInterval(timer) };
}
