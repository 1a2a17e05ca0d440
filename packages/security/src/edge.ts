// Internal helpers shared by the middleware factories (never exported from the package).
import type { Request } from 'express';
import { Counter } from 'prom-client';
import type { MetricsRegistry } from './types.js';

/** The one list of probe and scrape paths: `rateLimit` never limits them (its `probePaths` default). */
export const DEFAULT_PROBE_PATHS: readonly string[] = [
  '/health',
  '/healthz',
  '/livez',
  '/readyz',
  '/metrics',
];

export function resolveProduction(option: boolean | undefined): boolean {
  return option ?? process.env.NODE_ENV === 'production';
}

/** The request path without the query string, including any router mount prefix. */
export function requestPath(req: Request): string {
  const url = req.originalUrl ?? req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** `/health` matches `/health`, `/health/` and `/health/ready`, never `/healthcheck-admin`. */
export function matchesPathPrefix(path: string, prefixes: readonly string[]): boolean {
  for (const prefix of prefixes) {
    if (path === prefix || path.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`))
      return true;
  }
  return false;
}

/** The client address as Express resolved it (honouring `trust proxy`), IPv4-mapped unwrapped. */
export function clientAddress(req: Request): string | undefined {
  const ip = req.ip ?? req.socket?.remoteAddress;
  if (ip === undefined || ip === '') return undefined;
  return unmapIPv4(ip);
}

export function unmapIPv4(ip: string): string {
  // Most addresses are not IPv4-mapped: skip the regular expression unless it can match.
  if (ip.charCodeAt(0) !== 58 /* : */) return ip;
  const m = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i.exec(ip);
  return m?.[1] ?? ip;
}

/** Get-or-create a counter in an injected registry, so two factories can share one registry. */
export function counterIn<L extends string>(
  registry: MetricsRegistry | undefined,
  name: string,
  help: string,
  labelNames: readonly L[],
): Counter<L> | undefined {
  if (!registry) return undefined;
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new Counter<L>({
    name,
    help,
    labelNames,
    registers: [registry as unknown as import('prom-client').Registry],
  });
}

export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol' || value === undefined) return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

export function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0;
}

/**
 * Lets one event per key through per interval, so an attacker hammering a blocked or limited
 * endpoint cannot flood the logs (metrics still count every refusal). Bounded: the map is cleared
 * when it grows past `maxKeys`.
 */
export function createEventThrottle(
  intervalMs = 60_000,
  maxKeys = 10_000,
): (key: string) => boolean {
  const last = new Map<string, number>();
  return (key) => {
    const now = Date.now();
    const previous = last.get(key);
    if (previous !== undefined && now - previous < intervalMs) return false;
    if (last.size >= maxKeys) last.clear();
    last.set(key, now);
    return true;
  };
}
