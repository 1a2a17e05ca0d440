// Shared helpers of the deployment tests: YAML, PromQL selectors, Prometheus text, tools on PATH.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** examples/glass-standardizer/deploy/ */
export const DEPLOY = fileURLToPath(new URL('../../deploy/', import.meta.url));
/** The repository root. */
export const REPO = fileURLToPath(new URL('../../../../', import.meta.url));

// js-yaml (a root devDependency) is loaded with require, so the type checker needs no declaration
// package for it.
const yaml = createRequire(import.meta.url)('js-yaml') as {
  load(text: string): unknown;
  loadAll(text: string): unknown[];
  dump(value: unknown): string;
};

export type Doc = Record<string, unknown>;

export function readYaml(path: string): Doc {
  return yaml.load(readFileSync(path, 'utf8')) as Doc;
}

export function readYamlAll(path: string): Doc[] {
  return yaml.loadAll(readFileSync(path, 'utf8')).filter(Boolean) as Doc[];
}

export const dumpYaml = (value: unknown): string => yaml.dump(value);

/** `get(doc, 'spec.template.spec')`, undefined when a step is missing. */
export function get<T = unknown>(value: unknown, path: string): T {
  let at: unknown = value;
  for (const key of path.split('.')) {
    if (at === null || typeof at !== 'object') return undefined as T;
    at = (at as Record<string, unknown>)[key];
  }
  return at as T;
}

/**
 * Whether a program is on PATH. When it is not: a warning and `false` (the suite skips), or an
 * error when SHIPSHAPE_REQUIRE_SERVICES=1 (CI installs it).
 */
export function toolAvailable(program: string, purpose: string): boolean {
  const found = spawnSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' }).status === 0;
  if (found) return true;
  const message = `${program} is not installed (apt-get install -y --no-install-recommends ${program === 'promtool' ? 'prometheus' : program}); ${purpose}`;
  if (process.env.SHIPSHAPE_REQUIRE_SERVICES === '1')
    throw new Error(`${message} — required because SHIPSHAPE_REQUIRE_SERVICES=1`);
  console.warn(`[skip] ${message}: skipped`);
  return false;
}

// --- PromQL ---------------------------------------------------------------------------------

export interface Matcher {
  readonly label: string;
  readonly op: '=' | '!=' | '=~' | '!~';
  readonly value: string;
}

export interface Selector {
  readonly metric: string;
  readonly matchers: readonly Matcher[];
}

const PROMQL_WORDS = new Set([
  // aggregations, keywords, functions used anywhere in PromQL
  'sum',
  'min',
  'max',
  'avg',
  'count',
  'stddev',
  'stdvar',
  'topk',
  'bottomk',
  'quantile',
  'count_values',
  'group',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'rate',
  'irate',
  'increase',
  'delta',
  'idelta',
  'deriv',
  'histogram_quantile',
  'abs',
  'clamp_min',
  'clamp_max',
  'vector',
  'scalar',
  'time',
  'absent',
  'label_replace',
  'avg_over_time',
  'max_over_time',
  'min_over_time',
  'sum_over_time',
  'inf',
  'nan',
]);

/**
 * The series selectors of a PromQL expression: metric names with their label matchers. Enough
 * of PromQL for rules and dashboards (no string literals outside matchers, no subqueries).
 */
export function selectorsOf(expr: string): Selector[] {
  const found: Selector[] = [];
  // Grouping label lists first (they hold no braces), then the selectors (their matcher values
  // may hold brackets), then range and duration brackets ($__rate_interval included).
  let rest = expr.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  rest = rest.replace(
    /([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}/g,
    (_all, metric: string | undefined, body: string) => {
      const matchers: Matcher[] = [];
      for (const m of body.matchAll(
        /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g,
      ))
        matchers.push({ label: m[1] as string, op: m[2] as Matcher['op'], value: m[3] as string });
      const name = metric ?? matchers.find((m) => m.label === '__name__' && m.op === '=')?.value;
      if (!name) throw new Error(`selector without a metric name in ${expr}`);
      found.push({ metric: name, matchers });
      return ' ';
    },
  );
  rest = rest.replace(/\[[^\]]*\]/g, ' ');
  // numbers (1e9, 0.05) and the remaining bare metric names
  rest = rest.replace(/\b\d+(\.\d+)?([eE][+-]?\d+)?\b/g, ' ');
  for (const m of rest.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const word = m[1] as string;
    if (m[2] || PROMQL_WORDS.has(word.toLowerCase()) || word.startsWith('$')) continue;
    found.push({ metric: word, matchers: [] });
  }
  return found;
}

// --- Prometheus text format -----------------------------------------------------------------

export interface Family {
  readonly name: string;
  readonly type: string;
  /** Label sets of the family's samples (histogram series included). */
  readonly samples: Record<string, string>[];
}

/** Families of a /metrics scrape, by name (`# TYPE` lines, then the samples under them). */
export function parseMetrics(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      families.set(type[1] as string, {
        name: type[1] as string,
        type: type[2] as string,
        samples: [],
      });
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s/.exec(line);
    if (!sample) continue;
    const family = familyOf(families, sample[1] as string);
    if (!family) continue;
    const labels: Record<string, string> = {};
    for (const l of (sample[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1] as string] = l[2] as string;
    family.samples.push(labels);
  }
  return families;
}

/** The family a series name belongs to (`x_bucket` → histogram `x`). */
export function familyOf(families: Map<string, Family>, series: string): Family | undefined {
  const exact = families.get(series);
  if (exact) return exact;
  const base = /^(.*)_(bucket|sum|count)$/.exec(series)?.[1];
  const family = base === undefined ? undefined : families.get(base);
  return family && (family.type === 'histogram' || family.type === 'summary') ? family : undefined;
}
