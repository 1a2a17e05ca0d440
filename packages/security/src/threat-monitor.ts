import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { Counter, type Registry } from 'prom-client';
import { describeValue } from './edge.js';
import { optionError } from './options.js';
import { SecurityError } from './problem.js';
import { emitSecurityEvent, type MetricsRegistry, type SecurityLogger } from './types.js';
import { createWarner, type WarningsOption, warnUnknownOptions } from './warnings.js';

/** The pattern families `threatMonitor()` looks for. */
export type ThreatRule = 'sql' | 'xss' | 'traversal' | 'crlf' | 'jndi';
export type ThreatLocation = 'path' | 'query' | 'body';

export interface ThreatMonitorOptions {
  /**
   * `monitor` logs `suspicious_input` and counts; `block` also answers 400.
   * @default 'monitor'
   */
  readonly mode?: 'monitor' | 'block';
  /** Rule families to apply. @default ['sql', 'xss', 'traversal', 'crlf', 'jndi'] */
  readonly rules?: readonly ThreatRule[];
  /**
   * Where to look. CRLF is only looked for in the path and query: line breaks are normal in
   * body text.
   * @default ['path', 'query', 'body']
   */
  readonly locations?: readonly ThreatLocation[];
  /** Receives `suspicious_input` events (rule, location and field names; never the values). */
  readonly logger?: SecurityLogger;
  /** prom-client registry for `shipshape_security_suspicious_input_total`. @default undefined */
  readonly registry?: MetricsRegistry;
  /** Longest string inspected (characters); the rest is ignored. @default 8192 */
  readonly maxStringLength?: number;
  /** Most strings inspected per request (body and query together). @default 1000 */
  readonly maxStrings?: number;
  /** Return true to skip a request (e.g. a trusted internal route). @default undefined */
  readonly skip?: (req: Request) => boolean;
  /**
   * An `ipFilter()` whose auto-block counts each flagged request of a client as one hit, like
   * `rateLimit({ ipFilter })` counts each 429. @default undefined
   */
  readonly ipFilter?: { recordLimitHit(ip: string): Promise<void> };
  /** @default true */
  readonly warnings?: WarningsOption;
}

const knownThreatOptions: { readonly [K in keyof Required<ThreatMonitorOptions>]: true } = {
  mode: true,
  rules: true,
  locations: true,
  logger: true,
  registry: true,
  maxStringLength: true,
  maxStrings: true,
  skip: true,
  ipFilter: true,
  warnings: true,
};

/**
 * The patterns. Each is linear-time (no nested quantifiers over the same characters) and looks
 * for a *shape*, not a keyword: `select` alone is English, `' or 1=1` and `union select` are not.
 */
export const threatPatterns: Readonly<Record<ThreatRule, readonly RegExp[]>> = {
  sql: [
    // ' or 1=1 / " OR "a"="a / ' or 'x'='x
    /['"`]\s*\)?\s*\b(?:or|and)\b\s+['"`]?[\w-]*['"`]?\s*(?:=|like\b|<|>)/i,
    /\bunion\b(?:\s+all)?\s+select\b/i,
    // stacked statement: '; drop table x
    /;\s*(?:drop|truncate|alter|create|delete|insert|update|exec(?:ute)?|shutdown)\s+(?:table|database|from|into|\w+\s+set|xp_|sp_|user)/i,
    // quote then comment: admin'-- / admin'#
    /['"`]\s*\)?\s*(?:--|#|\/\*)/,
    /\b(?:sleep|pg_sleep|benchmark)\s*\(\s*\d/i,
    /\bwaitfor\s+delay\s+['"]/i,
    /\b(?:information_schema|pg_catalog|sysobjects|sqlite_master)\b/i,
  ],
  xss: [
    /<\s*script\b/i,
    /<[a-z][^>]*\son[a-z]{3,}\s*=/i,
    /\bjavascript\s*:/i,
    /<\s*(?:iframe|object|embed|svg)\b[^>]*>/i,
  ],
  traversal: [/(?:^|[\\/])\.\.(?:[\\/]|$)/],
  crlf: [/[\r\n]/],
  jndi: [/\$\{\s*(?:jndi\s*:|[^}]{0,40}\$\{)/i],
};

interface Finding {
  rule: ThreatRule;
  location: ThreatLocation;
  field: string;
}

function safeDecode(value: string): string {
  let out = value;
  // Twice: `%252e%252e` is a common way to slip `..` past one decoding.
  for (let i = 0; i < 2 && out.includes('%'); i++) {
    try {
      out = decodeURIComponent(out);
    } catch {
      break;
    }
  }
  return out;
}

// Most values (paths like /api/items/42, ids, plain words) hold only these characters. Every
// pattern above needs a quote, whitespace, one of ; ( < : $ or CR/LF — except the schema-name
// pattern and the traversal pattern, so only those two can match such a value.
const PLAIN = /^[\w/.,-]*$/;
const plainPatterns: Readonly<Record<ThreatRule, readonly RegExp[]>> = {
  sql: threatPatterns.sql.filter((re) => re.source.includes('information_schema')),
  xss: [],
  traversal: threatPatterns.traversal,
  crlf: [],
  jndi: [],
};

/** Which rules match `value` (already decoded). */
export function matchThreats(value: string, rules: readonly ThreatRule[]): ThreatRule[] {
  const patterns = PLAIN.test(value) ? plainPatterns : threatPatterns;
  const found: ThreatRule[] = [];
  for (const rule of rules)
    for (const re of patterns[rule])
      if (re.test(value)) {
        found.push(rule);
        break;
      }
  return found;
}

function collectStrings(
  root: unknown,
  prefix: string,
  out: { field: string; value: string }[],
  maxStrings: number,
): void {
  const stack: { value: unknown; path: string; depth: number }[] = [
    { value: root, path: prefix, depth: 0 },
  ];
  while (stack.length > 0 && out.length < maxStrings) {
    const { value, path, depth } = stack.pop() as { value: unknown; path: string; depth: number };
    if (typeof value === 'string') out.push({ field: path, value });
    else if (typeof value === 'object' && value !== null && depth < 32) {
      for (const key of Object.keys(value)) {
        // Keys are input too (`{"<script>": 1}`); check them as strings of the same field.
        out.push({ field: path, value: key });
        stack.push({
          value: (value as Record<string, unknown>)[key],
          path: path ? `${path}.${key}` : key,
          depth: depth + 1,
        });
      }
    }
  }
}

function listOption<T extends string>(
  value: readonly T[] | undefined,
  allowed: readonly T[],
  what: string,
): T[] {
  if (value === undefined) return [...allowed];
  if (!Array.isArray(value) || !value.every((v) => allowed.includes(v)))
    throw optionError(
      `@shipshape/security: threatMonitor "${what}" must be an array of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describeValue(value)}`,
    );
  return [...value];
}

/**
 * Defence in depth, not a firewall: looks for common injection shapes (SQL, `<script`, event
 * handler attributes, `../`, CRLF, `${jndi:`) in the path, query and parsed body strings. In
 * `monitor` mode it logs `suspicious_input` and counts; in `block` mode it answers 400.
 * Parameterised queries and output encoding remain the real protection.
 */
export function threatMonitor(options: ThreatMonitorOptions = {}): RequestHandler {
  const warner = createWarner(options.logger, options.warnings);
  warnUnknownOptions(warner, 'threatMonitor', options, knownThreatOptions);
  const mode = options.mode ?? 'monitor';
  if (mode !== 'monitor' && mode !== 'block')
    throw optionError(
      `@shipshape/security: threatMonitor "mode" must be 'monitor' or 'block', got ${describeValue(mode)}`,
    );
  const rules = listOption(options.rules, ['sql', 'xss', 'traversal', 'crlf', 'jndi'], 'rules');
  const locations = listOption(options.locations, ['path', 'query', 'body'], 'locations');
  const maxStringLength = options.maxStringLength ?? 8192;
  const maxStrings = options.maxStrings ?? 1000;
  for (const [name, v] of [
    ['maxStringLength', maxStringLength],
    ['maxStrings', maxStrings],
  ] as const)
    if (!Number.isSafeInteger(v) || v <= 0)
      throw optionError(
        `@shipshape/security: threatMonitor "${name}" must be a positive integer, got ${describeValue(v)}`,
      );
  if (options.skip !== undefined && typeof options.skip !== 'function')
    throw optionError(
      `@shipshape/security: threatMonitor "skip" must be a function, got ${typeof options.skip}`,
    );
  if (options.ipFilter !== undefined && typeof options.ipFilter?.recordLimitHit !== 'function')
    throw optionError(
      `@shipshape/security: threatMonitor "ipFilter" must be an ipFilter() middleware (with recordLimitHit), got ${typeof options.ipFilter}`,
    );
  const bodyRules = rules.filter((r) => r !== 'crlf');
  const logger = options.logger;
  const skip = options.skip;
  const autoBlock = options.ipFilter;
  let counter: Counter<'rule' | 'location' | 'mode'> | undefined;
  if (options.registry) {
    const name = 'shipshape_security_suspicious_input_total';
    const existing = options.registry.getSingleMetric(name);
    counter =
      (existing as Counter<'rule' | 'location' | 'mode'> | undefined) ??
      new Counter({
        name,
        help: 'Requests with input matching an injection pattern, by rule and location.',
        labelNames: ['rule', 'location', 'mode'] as const,
        registers: [options.registry as unknown as Registry],
      });
  }

  const inPath = locations.includes('path');
  const inQuery = locations.includes('query');
  const inBody = locations.includes('body');
  return function threatMonitorMiddleware(req: Request, _res: Response, next: NextFunction): void {
    if (skip?.(req)) {
      next();
      return;
    }
    // Allocated only when something matches: most requests find nothing.
    let findings: Finding[] | undefined;
    const check = (location: ThreatLocation, field: string, raw: string, use: ThreatRule[]) => {
      const value = raw.length > maxStringLength ? raw.slice(0, maxStringLength) : raw;
      const matched = matchThreats(value, use);
      if (matched.length === 0) return;
      if (findings === undefined) findings = [];
      for (const rule of matched) findings.push({ rule, location, field });
    };
    const url = req.originalUrl;
    const q = url.indexOf('?');
    if (inPath) check('path', '(path)', safeDecode(q === -1 ? url : url.slice(0, q)), rules);
    if (inQuery && q !== -1) {
      // The raw query string, decoded: covers any query parser setting and encoded CR/LF.
      const parts = url.slice(q + 1).split('&');
      for (let i = 0; i < parts.length && i < maxStrings; i++) {
        const part = parts[i] as string;
        check(
          'query',
          safeDecode(part.split('=')[0] ?? '').slice(0, 100),
          safeDecode(part.replace(/\+/g, ' ')),
          rules,
        );
      }
    }
    if (inBody && req.body !== undefined) {
      const strings: { field: string; value: string }[] = [];
      collectStrings(req.body, '', strings, maxStrings);
      for (const s of strings) check('body', s.field || '(body)', s.value, bodyRules);
    }
    if (findings === undefined) {
      next();
      return;
    }
    const unique = new Map<string, Finding>();
    for (const f of findings) unique.set(`${f.rule}|${f.location}`, f);
    for (const f of unique.values()) counter?.inc({ rule: f.rule, location: f.location, mode });
    emitSecurityEvent(logger, 'suspicious_input', {
      mode,
      rules: [...new Set(findings.map((f) => f.rule))],
      locations: [...new Set(findings.map((f) => f.location))],
      fields: [...new Set(findings.map((f) => f.field))].slice(0, 20),
      method: req.method,
      path: req.route ? `${req.baseUrl}${(req.route as { path: string }).path}` : req.path,
    });
    // Not awaited: a slow store never delays the answer; the block lands a round trip later.
    if (autoBlock && req.ip) autoBlock.recordLimitHit(req.ip).catch(() => undefined);
    if (mode === 'block') {
      next(
        new SecurityError({
          status: 400,
          code: 'SUSPICIOUS_INPUT',
          detail: `The request was refused: input matched ${[...new Set(findings.map((f) => f.rule))].join(', ')} pattern(s).`,
        }),
      );
      return;
    }
    next();
  };
}
