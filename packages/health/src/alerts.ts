import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import pidusage from 'pidusage';
import type { HttpWindowStats } from './http-metrics.js';
import type {
  AlertEvent,
  AlertMetric,
  AlertRule,
  AlertState,
  HealthLogger,
  WebhookOptions,
} from './types.js';
import {
  assertObject,
  fail,
  finiteNumber,
  isPlainObject,
  nonNegativeInt,
  positiveInt,
} from './validate.js';

const METRICS: readonly AlertMetric[] = [
  'cpuPercent',
  'rssBytes',
  'eventLoopP99Ms',
  'errorRate',
  'p95LatencyMs',
];

interface RuleState {
  readonly name: string;
  readonly metric: AlertMetric;
  readonly threshold: number;
  readonly forMs: number;
  status: 'inactive' | 'pending' | 'firing';
  value: number | undefined;
  pendingSince: number | undefined;
  resolvingSince: number | undefined;
  since: string | undefined;
}

export interface WebhookConfig {
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
}

export function resolveRules(rules: unknown): RuleState[] {
  if (rules === undefined) return [];
  if (!Array.isArray(rules)) fail('createHealth', 'alerts', rules, 'an array of alert rules');
  const seen = new Set<string>();
  return rules.map((rule: AlertRule, i) => {
    const where = `createHealth alerts[${i}]`;
    if (!isPlainObject(rule)) fail(where, 'rule', rule, 'an object { metric, threshold, forMs? }');
    if (!METRICS.includes(rule.metric)) {
      fail(where, 'metric', rule.metric, `one of ${METRICS.map((m) => `"${m}"`).join(', ')}`);
    }
    const threshold = finiteNumber(where, 'threshold', rule.threshold);
    const forMs = nonNegativeInt(where, 'forMs', rule.forMs, 0);
    const name = rule.name ?? rule.metric;
    if (typeof name !== 'string' || name === '') fail(where, 'name', name, 'a non-empty string');
    if (seen.has(name)) fail(where, 'name', name, 'unique among alert rules');
    seen.add(name);
    return {
      name,
      metric: rule.metric,
      threshold,
      forMs,
      status: 'inactive',
      value: undefined,
      pendingSince: undefined,
      resolvingSince: undefined,
      since: undefined,
    };
  });
}

export function resolveWebhook(webhook: WebhookOptions | undefined): WebhookConfig | undefined {
  if (webhook === undefined) return undefined;
  const where = 'createHealth alertWebhook';
  assertObject('createHealth', 'alertWebhook', webhook, 'an object { url }');
  let url: URL;
  try {
    url = new URL(webhook.url);
  } catch {
    fail(where, 'url', webhook.url, 'an absolute http(s) URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    fail(where, 'url', webhook.url, 'an absolute http(s) URL');
  }
  const headers = webhook.headers ?? {};
  if (!isPlainObject(headers) || !Object.values(headers).every((v) => typeof v === 'string')) {
    fail(where, 'headers', headers, 'an object of header strings');
  }
  return { url, headers, timeoutMs: positiveInt(where, 'timeoutMs', webhook.timeoutMs, 5000) };
}

export interface AlertSources {
  /** Stats of the HTTP metrics since the previous evaluation, if httpMetrics is in use. */
  httpWindow(): HttpWindowStats | undefined;
}

export class AlertEngine {
  private readonly rules: RuleState[];
  private histogram: IntervalHistogram | undefined;
  private readonly listeners = new Set<(event: AlertEvent) => void>();
  private readonly pending = new Set<Promise<void>>();

  constructor(
    rules: RuleState[],
    private readonly sources: AlertSources,
    private readonly service: string,
    private readonly logger: HealthLogger | undefined,
    private readonly webhook: WebhookConfig | undefined,
  ) {
    this.rules = rules;
  }

  get size(): number {
    return this.rules.length;
  }

  start(): void {
    if (this.rules.some((r) => r.metric === 'eventLoopP99Ms') && this.histogram === undefined) {
      this.histogram = monitorEventLoopDelay({ resolution: 10 });
      this.histogram.enable();
    }
  }

  onAlert(listener: (event: AlertEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  states(): AlertState[] {
    return this.rules.map((r) => ({
      name: r.name,
      metric: r.metric,
      threshold: r.threshold,
      forMs: r.forMs,
      status: r.status,
      value: r.value,
      ...(r.since === undefined ? {} : { since: r.since }),
    }));
  }

  private async sample(): Promise<Record<AlertMetric, number | undefined>> {
    const needs = new Set(this.rules.map((r) => r.metric));
    const values: Record<AlertMetric, number | undefined> = {
      cpuPercent: undefined,
      rssBytes: undefined,
      eventLoopP99Ms: undefined,
      errorRate: undefined,
      p95LatencyMs: undefined,
    };
    if (needs.has('cpuPercent')) {
      try {
        values.cpuPercent = (await pidusage(process.pid)).cpu;
      } catch (err) {
        this.logger?.error('@shipshape/health: pidusage failed', { error: String(err) });
      }
    }
    if (needs.has('rssBytes')) values.rssBytes = process.memoryUsage.rss();
    if (needs.has('eventLoopP99Ms') && this.histogram) {
      values.eventLoopP99Ms =
        this.histogram.count > 0 ? this.histogram.percentile(99) / 1e6 : undefined;
      this.histogram.reset();
    }
    if (needs.has('errorRate') || needs.has('p95LatencyMs')) {
      const w = this.sources.httpWindow();
      values.errorRate = w?.errorRate;
      values.p95LatencyMs = w?.p95LatencyMs;
    }
    return values;
  }

  /** One evaluation of every rule; `now` (ms since epoch) is injectable for tests. */
  async evaluate(now: number = Date.now()): Promise<AlertEvent[]> {
    const values = await this.sample();
    const events: AlertEvent[] = [];
    for (const rule of this.rules) {
      const value = values[rule.metric];
      rule.value = value;
      // No data (no traffic, no samples) counts as not breaching.
      const breaching = value !== undefined && value > rule.threshold;
      if (rule.status === 'firing') {
        if (breaching) {
          rule.resolvingSince = undefined;
        } else {
          rule.resolvingSince ??= now;
          if (now - rule.resolvingSince >= rule.forMs) {
            rule.status = 'inactive';
            rule.resolvingSince = undefined;
            rule.since = new Date(now).toISOString();
            events.push(this.event(rule, 'resolved', value ?? 0, now));
          }
        }
      } else if (breaching) {
        if (rule.status === 'inactive') {
          rule.status = 'pending';
          rule.pendingSince = now;
        }
        if (now - (rule.pendingSince ?? now) >= rule.forMs) {
          rule.status = 'firing';
          rule.pendingSince = undefined;
          rule.since = new Date(now).toISOString();
          events.push(this.event(rule, 'firing', value, now));
        }
      } else {
        rule.status = 'inactive';
        rule.pendingSince = undefined;
      }
    }
    for (const event of events) this.emit(event);
    return events;
  }

  private event(
    rule: RuleState,
    status: 'firing' | 'resolved',
    value: number,
    now: number,
  ): AlertEvent {
    return {
      name: rule.name,
      metric: rule.metric,
      status,
      value,
      threshold: rule.threshold,
      time: new Date(now).toISOString(),
    };
  }

  private emit(event: AlertEvent): void {
    const meta = { ...event, service: this.service };
    if (event.status === 'firing') {
      this.logger?.warn(`health alert firing: ${event.name}`, meta);
    } else {
      this.logger?.info(`health alert resolved: ${event.name}`, meta);
    }
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.logger?.error('@shipshape/health: an alert listener threw', { error: String(err) });
      }
    }
    if (this.webhook) {
      const p = this.notify(this.webhook, meta).finally(() => this.pending.delete(p));
      this.pending.add(p);
    }
  }

  private async notify(webhook: WebhookConfig, body: Record<string, unknown>): Promise<void> {
    try {
      const res = await fetch(webhook.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...webhook.headers },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(webhook.timeoutMs),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (!res.ok) {
        this.logger?.error('@shipshape/health: alert webhook answered an error', {
          status: res.status,
          url: webhook.url.origin,
        });
      }
    } catch (err) {
      this.logger?.error('@shipshape/health: alert webhook failed', {
        error: err instanceof Error ? err.message : String(err),
        url: webhook.url.origin,
      });
    }
  }

  /** Waits for webhook deliveries in flight. */
  async flush(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  close(): void {
    this.histogram?.disable();
    this.histogram = undefined;
  }
}
