// The alert rules with promtool (check + unit tests), the Prometheus config, and the Grafana
// provisioning and dashboard, statically. Metric names are checked against a live scrape in
// metrics.test.ts.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { DEPLOY, type Doc, get, REPO, readYaml, toolAvailable } from './support.js';

const run = promisify(execFile);
const PROM = join(DEPLOY, 'prometheus');
const hasPromtool = toolAvailable('promtool', 'the alert rules are not checked with promtool');

interface Rule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
}
const rules = (readYaml(join(PROM, 'rules/glass.rules.yml')).groups as { rules: Rule[] }[]).flatMap(
  (g) => g.rules,
);

const promtool = (args: string[], cwd = PROM) =>
  run('promtool', args, { cwd }).then(
    ({ stdout, stderr }) => ({ ok: true, output: stdout + stderr }),
    (err: { stdout?: string; stderr?: string }) => ({
      ok: false,
      output: `${err.stdout ?? ''}${err.stderr ?? ''}`,
    }),
  );

const scratch = mkdtempSync(join(tmpdir(), 'glass-promtool-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('alert rules', () => {
  it('cover what the issue lists, each with a severity, summary and description', () => {
    const names = rules.map((r) => r.alert);
    expect(names).toEqual(
      expect.arrayContaining([
        'GlassInstanceDown',
        'GlassNotReady',
        'GlassHighErrorRate',
        'GlassHighLatencyP99',
        'GlassEventLoopLag',
        'GlassMemoryHigh',
        'GlassProcessingFailures',
        'GlassRateLimitSpike',
        'GlassIpBlockSpike',
        'GlassRedisDown',
        'GlassPostgresDown',
      ]),
    );
    expect(new Set(names).size).toBe(names.length);
    for (const rule of rules) {
      expect(['critical', 'warning'], rule.alert).toContain(rule.labels.severity);
      expect(rule.annotations.summary, rule.alert).toBeTruthy();
      expect(rule.annotations.description, rule.alert).toBeTruthy();
      expect(rule.expr, rule.alert).toContain('job="glass"');
    }
  });

  it('each alert has a promtool unit test and a section in docs/deploy.md', () => {
    const tests = readFileSync(join(PROM, 'tests/glass.test.yml'), 'utf8');
    const docs = readFileSync(join(REPO, 'docs/deploy.md'), 'utf8');
    for (const { alert } of rules) {
      expect(tests, alert).toContain(`alertname: ${alert}`);
      expect(docs, alert).toContain(`\`${alert}\``);
    }
  });

  it.skipIf(!hasPromtool)('pass promtool check rules', async () => {
    const result = await promtool(['check', 'rules', 'rules/glass.rules.yml']);
    expect(result.output).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(result.ok).toBe(true);
  });

  it.skipIf(!hasPromtool)('pass their promtool unit tests', async () => {
    const result = await promtool(['test', 'rules', 'tests/glass.test.yml']);
    expect(result.output).toContain('SUCCESS');
    expect(result.ok, result.output).toBe(true);
  });

  it.skipIf(!hasPromtool)('the unit tests fail when a threshold changes', async () => {
    // A copy with the event-loop threshold raised from 200 ms to 900 ms: its test must fail.
    cpSync(join(PROM, 'tests'), join(scratch, 'tests'), { recursive: true });
    const original = readFileSync(join(PROM, 'rules/glass.rules.yml'), 'utf8');
    const changed = original.replace(
      'nodejs_eventloop_lag_p99_seconds{job="glass"} > 0.2',
      'nodejs_eventloop_lag_p99_seconds{job="glass"} > 0.9',
    );
    expect(changed).not.toBe(original);
    cpSync(join(PROM, 'rules'), join(scratch, 'rules'), { recursive: true });
    writeFileSync(join(scratch, 'rules/glass.rules.yml'), changed);
    const result = await promtool(['test', 'rules', 'tests/glass.test.yml'], scratch);
    expect(result.ok).toBe(false);
    expect(result.output).toContain('alertname: GlassEventLoopLag');
  });

  it.skipIf(!hasPromtool)(
    'the compose Prometheus config passes promtool check config',
    async () => {
      // As compose runs it: the directory, plus the scrape token mounted where the config reads it.
      const mounted = join(scratch, 'etc-prometheus');
      cpSync(PROM, mounted, { recursive: true });
      cpSync(join(DEPLOY, 'secrets/metrics_token.example'), join(mounted, 'secrets/metrics_token'));
      const result = await promtool(['check', 'config', 'prometheus.yml'], mounted);
      expect(result.ok, result.output).toBe(true);
      expect(result.output).toContain('SUCCESS');
    },
  );

  it('the scrape config scrapes each instance as job "glass" from a targets file', () => {
    const config = readYaml(join(PROM, 'prometheus.yml'));
    const jobs = config.scrape_configs as Doc[];
    const glass = jobs.find((j) => j.job_name === 'glass');
    expect(glass?.metrics_path).toBe('/metrics');
    expect(get(glass, 'file_sd_configs.0.files')).toEqual(['targets/glass.yml']);
    // /metrics answers only METRICS_TOKEN (or an admin key) in production.
    expect(get(glass, 'authorization')).toEqual({
      type: 'Bearer',
      credentials_file: 'secrets/metrics_token',
    });
    expect(config.rule_files).toEqual(['rules/glass.rules.yml']);
  });
});

describe('Grafana', () => {
  const datasource = readYaml(join(DEPLOY, 'grafana/provisioning/datasources/prometheus.yml'));
  const provider = readYaml(join(DEPLOY, 'grafana/provisioning/dashboards/glass.yml'));
  const dashboard = JSON.parse(
    readFileSync(join(DEPLOY, 'grafana/dashboards/glass.json'), 'utf8'),
  ) as Doc;
  const panels = (dashboard.panels as Doc[]).filter((p) => p.type !== 'row');

  it('the dashboard uses the provisioned datasource and is loaded from the mounted folder', () => {
    const uid = get<string>(datasource, 'datasources.0.uid');
    expect(get(datasource, 'datasources.0.type')).toBe('prometheus');
    expect(get(datasource, 'datasources.0.url')).toBe('http://prometheus:9090');
    for (const panel of panels) {
      expect(get(panel, 'datasource.uid'), String(panel.title)).toBe(uid);
      for (const target of panel.targets as Doc[])
        expect(get(target, 'datasource.uid'), String(panel.title)).toBe(uid);
    }
    const compose = readYaml(join(DEPLOY, 'compose.yaml'));
    const mounts = get<string[]>(compose, 'services.grafana.volumes');
    const path = get<string>(provider, 'providers.0.options.path');
    expect(mounts).toContain(`./grafana/dashboards:${path}:ro`);
    expect(mounts).toContain('./grafana/provisioning:/etc/grafana/provisioning:ro');
  });

  it('panels have unique ids, a place on the grid and at least one query', () => {
    const all = dashboard.panels as Doc[];
    const ids = all.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of all) {
      const grid = panel.gridPos as { x: number; y: number; w: number; h: number };
      expect(grid.x + grid.w, String(panel.title)).toBeLessThanOrEqual(24);
    }
    for (const panel of panels) expect((panel.targets as Doc[]).length).toBeGreaterThan(0);
  });

  it('covers requests, errors, latency by route, probes, processing, cache and rate limits', () => {
    const exprs = panels.flatMap((p) => (p.targets as Doc[]).map((t) => String(t.expr)));
    const uses = (metric: string) => exprs.some((e) => e.includes(metric));
    for (const metric of [
      'http_requests_total',
      'http_request_duration_seconds_bucket',
      'shipshape_health_state',
      'shipshape_health_check_status',
      'shipshape_health_check_duration_seconds',
      'glass_datasets_processed_total',
      'glass_processing_duration_seconds_bucket',
      'shipshape_cache_hits_total',
      'shipshape_security_rate_limited_total',
    ])
      expect(uses(metric), metric).toBe(true);
    expect(exprs.some((e) => /by \(route/.test(e))).toBe(true);
  });
});
