// The README "Metrics" table against what the package really registers: every metric a
// registry holds is a row with the same type and labels, and every row is registered.
import { readFileSync } from 'node:fs';
import type { Registry } from 'prom-client';

export interface MetricDoc {
  readonly type: string;
  readonly labels: readonly string[];
}

/** Rows of every `| metric | type | labels | meaning |` table in a README, by metric name. */
export function readmeMetrics(readme: string): Map<string, MetricDoc> {
  const rows = new Map<string, MetricDoc>();
  let inTable = false;
  for (const line of readFileSync(readme, 'utf8').split('\n')) {
    if (/^\|\s*metric\s*\|\s*type\s*\|\s*labels\s*\|/i.test(line)) {
      inTable = true;
      continue;
    }
    if (!inTable || /^\|[-\s|]+\|$/.test(line)) continue;
    if (!line.startsWith('|')) {
      inTable = false;
      continue;
    }
    const [name = '', type = '', labels = ''] = line
      .split('|')
      .slice(1)
      .map((c) => c.trim());
    rows.set(name.replace(/`/g, ''), {
      type,
      labels: [...labels.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? '').sort(),
    });
  }
  return rows;
}

/** What `registry` holds: type and label names (declared, or seen on a series), by name. */
export async function registeredMetrics(registry: Registry): Promise<Map<string, MetricDoc>> {
  const out = new Map<string, MetricDoc>();
  for (const data of await registry.getMetricsAsJSON()) {
    const metric = registry.getSingleMetric(data.name) as { labelNames?: readonly string[] };
    const labels = new Set(metric.labelNames ?? []);
    for (const v of data.values)
      for (const l of Object.keys(v.labels)) if (l !== 'le' && l !== 'quantile') labels.add(l);
    out.set(data.name, { type: String(data.type), labels: [...labels].sort() });
  }
  return out;
}

/** Differences between the two, as readable lines ([] when the README is right). */
export function undocumented(
  registered: Map<string, MetricDoc>,
  documented: Map<string, MetricDoc>,
): string[] {
  const problems: string[] = [];
  for (const [name, m] of registered) {
    const doc = documented.get(name);
    if (!doc) problems.push(`${name} (${m.type}) is registered but not in the README table`);
    else if (doc.type !== m.type || doc.labels.join() !== m.labels.join())
      problems.push(
        `${name}: README says ${doc.type} {${doc.labels.join(',')}}, registered ${m.type} {${m.labels.join(',')}}`,
      );
  }
  for (const name of documented.keys())
    if (!registered.has(name)) problems.push(`${name} is in the README table but not registered`);
  return problems;
}
