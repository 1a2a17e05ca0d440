// Every series the alert rules and the dashboard query exists in a live /metrics scrape of the
// service, run as deployed: production, Redis and PostgreSQL, some traffic.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  canRunSparePostgres,
  type SparePostgres,
  startSparePostgres,
} from '../../../../test/helpers/postgres.js';
import { type SpareRedis, startSpareRedis } from '../../../../test/helpers/services.js';
import { type ChildGlass, EXAMPLE_ROOT, spawnGlass, waitDone } from '../http/child.js';
import { ADMIN_TOKEN } from '../http/support.js';
import {
  DEPLOY,
  type Doc,
  type Family,
  familyOf,
  parseMetrics,
  readYaml,
  type Selector,
  selectorsOf,
  toolAvailable,
} from './support.js';

/** Series Prometheus makes itself, not the service. */
const SYNTHETIC = new Set(['up']);
/** Labels Prometheus attaches to every scraped series (the target's). */
const TARGET_LABELS = new Set(['job', 'instance']);
/**
 * Label values checked against the scrape. Others are open-ended (`route`, `status_code`) or
 * appear only on failures (`status="failed"` of a dataset).
 */
const ENUMERATED = new Set(['check', 'critical', 'state', 'limiter', 'cache', 'method']);
/** Labels enumerated only on some families (`status` of a dataset is open-ended, see above). */
const ENUMERATED_IN: Record<string, readonly string[]> = {
  shipshape_health_check_status: ['status'],
};

const rules = (
  readYaml(join(DEPLOY, 'prometheus/rules/glass.rules.yml')).groups as {
    rules: { alert: string; expr: string }[];
  }[]
).flatMap((g) => g.rules.map((r) => ({ where: `rule ${r.alert}`, expr: r.expr })));
const dashboard = JSON.parse(
  readFileSync(join(DEPLOY, 'grafana/dashboards/glass.json'), 'utf8'),
) as { panels: Doc[]; templating: { list: { definition: string }[] } };
const panels = dashboard.panels
  .filter((p) => p.type !== 'row')
  .flatMap((p) =>
    (p.targets as { expr: string }[]).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr })),
  );

/** What is wrong with `selector` given the scraped families ([] when it is fine). */
function problemsOf(selector: Selector, families: Map<string, Family>): string[] {
  if (SYNTHETIC.has(selector.metric)) return [];
  const family = familyOf(families, selector.metric);
  if (!family) return [`${selector.metric} is not exported`];
  const problems: string[] = [];
  for (const m of selector.matchers) {
    if (TARGET_LABELS.has(m.label)) continue;
    if (family.samples.length === 0) {
      problems.push(`${selector.metric}: no sample to check label ${m.label} on`);
      continue;
    }
    const values = new Set(family.samples.map((s) => s[m.label]).filter((v) => v !== undefined));
    if (values.size === 0) problems.push(`${selector.metric} has no label ${m.label}`);
    else if (
      m.op === '=' &&
      (ENUMERATED.has(m.label) || ENUMERATED_IN[selector.metric]?.includes(m.label)) &&
      !values.has(m.value)
    )
      problems.push(
        `${selector.metric}{${m.label}="${m.value}"}: the service exports ${[...values].join(', ')}`,
      );
  }
  return problems;
}

describe('PromQL selector extraction', () => {
  it('finds metric names and matchers, and nothing else', () => {
    expect(
      selectorsOf(
        'histogram_quantile(0.99, sum by (job, route, le) (rate(a_bucket{job="glass", route!~".+[.]csv"}[5m]))) > 1 and on (job) b / (1536 * 1024) > 1.5e9 or max by (x) (c{check="redis"}[$__rate_interval])',
      ),
    ).toEqual([
      {
        metric: 'a_bucket',
        matchers: [
          { label: 'job', op: '=', value: 'glass' },
          { label: 'route', op: '!~', value: '.+[.]csv' },
        ],
      },
      { metric: 'c', matchers: [{ label: 'check', op: '=', value: 'redis' }] },
      { metric: 'b', matchers: [] },
    ]);
  });
});

const hasRedis = toolAvailable('redis-server', 'the live /metrics check is skipped');
const hasPostgres =
  canRunSparePostgres() || toolAvailable('initdb', 'the live /metrics check is skipped');

describe.skipIf(!hasRedis || !hasPostgres)('rules and dashboard against a live /metrics', () => {
  let redis: SpareRedis;
  let pg: SparePostgres;
  let glass: ChildGlass;
  let families: Map<string, Family>;
  const dir = mkdtempSync(join(tmpdir(), 'glass-metrics-'));

  beforeAll(async () => {
    [redis, pg] = await Promise.all([startSpareRedis(), startSparePostgres()]);
    glass = await spawnGlass({
      NODE_ENV: 'production',
      ADMIN_TOKEN,
      DATA_DIR: join(dir, 'data'),
      LOG_DIR: join(dir, 'logs'),
      REDIS_URL: redis.url,
      DATABASE_URL: pg.url,
      DATABASE_SCHEMA: 'glass',
      READINESS_DELAY_MS: '0',
    });
    // Traffic that makes every family the rules and panels use carry samples.
    const form = new FormData();
    const csv = readFileSync(join(EXAMPLE_ROOT, 'test/fixtures/samples/lab_a_2024.csv'));
    form.set('file', new Blob([csv], { type: 'text/csv' }), 'lab_a_2024.csv');
    for (const [k, v] of Object.entries({ country: 'KEN', year: '2024', batchId: 'M1' }))
      form.set(k, v);
    const created = await fetch(`${glass.url}/api/datasets`, { method: 'POST', body: form });
    expect(created.status).toBe(202);
    const { id } = (await created.json()) as { id: string };
    expect((await waitDone(glass.url, id)).status).toBe('done');
    for (let i = 0; i < 2; i++)
      await (await fetch(`${glass.url}/api/datasets/${id}/antibiogram?minimum=5`)).arrayBuffer();
    // Over the API limit (100/min per client): 429s count in the rate-limit metric.
    let limited = 0;
    for (let i = 0; i < 110 && limited === 0; i++) {
      const res = await fetch(`${glass.url}/api/datasets?limit=1`);
      await res.arrayBuffer();
      if (res.status === 429) limited++;
    }
    expect(limited).toBe(1);
    // A readiness probe runs the checks (the shipshape_health_check_* series are refreshed by probes).
    expect((await fetch(`${glass.url}/health/ready`)).status).toBe(200);
    const scrape = await fetch(`${glass.url}/metrics`);
    expect(scrape.status).toBe(200);
    families = parseMetrics(await scrape.text());
  }, 120_000);

  afterAll(async () => {
    await glass?.stop();
    await Promise.all([redis?.stop(), pg?.destroy()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('the scrape has the HTTP, health, process, cache, security and glass families', () => {
    for (const name of [
      'http_requests_total',
      'http_request_duration_seconds',
      'shipshape_health_state',
      'shipshape_health_check_up',
      'shipshape_health_check_status',
      'shipshape_health_check_duration_seconds',
      'glass_datasets_processed_total',
      'shipshape_security_rate_limited_total',
      'shipshape_cache_hits_total',
      'nodejs_eventloop_lag_p99_seconds',
    ])
      expect(families.has(name), name).toBe(true);
    const checks = families.get('shipshape_health_check_up')?.samples.map((s) => s.check);
    expect(checks).toEqual(expect.arrayContaining(['redis', 'storage:postgres', 'disk:data']));
    // The names before the shipshape_ namespace and the pidusage/hit-ratio gauges are gone.
    for (const old of [
      'health_state',
      'health_check_up',
      'process_cpu_usage_percent',
      'shipshape_cache_hit_ratio',
    ])
      expect(families.has(old), old).toBe(false);
  });

  it('every alert rule queries series the service exports', () => {
    const problems = rules.flatMap(({ where, expr }) =>
      selectorsOf(expr).flatMap((s) => problemsOf(s, families).map((p) => `${where}: ${p}`)),
    );
    expect(problems).toEqual([]);
    expect(rules.length).toBeGreaterThan(10);
  });

  it('every dashboard query uses series the service exports', () => {
    const problems = [
      ...panels,
      ...dashboard.templating.list.map((v) => ({ where: 'variable', expr: v.definition })),
    ].flatMap(({ where, expr }) =>
      selectorsOf(expr.replace(/^label_values\((.*),\s*\w+\)$/, '$1')).flatMap((s) =>
        problemsOf(s, families).map((p) => `${where}: ${p}`),
      ),
    );
    expect(problems).toEqual([]);
    expect(panels.length).toBeGreaterThan(15);
  });

  it('the check catches a misspelt metric, a missing label and a wrong label value', () => {
    const wrong = [
      'http_request_total{job="glass"}',
      'shipshape_health_check_up{job="glass", probe="redis"}',
      'shipshape_health_check_up{job="glass", check="postgres"}',
      'shipshape_health_check_status{job="glass", status="down"}',
      'glass_datasets_processed_total{job="glass", status="failed"}',
    ].flatMap((expr) => selectorsOf(expr).flatMap((s) => problemsOf(s, families)));
    expect(wrong).toEqual([
      'http_request_total is not exported',
      'shipshape_health_check_up has no label probe',
      expect.stringMatching(
        /^shipshape_health_check_up\{check="postgres"\}: the service exports .*storage:postgres/,
      ),
      'shipshape_health_check_status{status="down"}: the service exports pass, warn, fail',
    ]);
  });
});
