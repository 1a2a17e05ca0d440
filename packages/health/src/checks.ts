import { statfs } from 'node:fs/promises';
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import pidusage from 'pidusage';
import type {
  CheckDefinition,
  CheckFunction,
  CheckOptions,
  CheckOutcome,
  CheckStatus,
  Probe,
} from './types.js';
import {
  assertObject,
  fail,
  finiteNumber,
  isPlainObject,
  optionalString,
  positiveInt,
} from './validate.js';

export const PROBES: readonly Probe[] = ['liveness', 'readiness', 'startup'];

/** A check definition that owns a resource (a histogram) released by `health.close()`. */
export interface ClosableCheck extends CheckDefinition {
  close?(): void;
}

function base(
  factory: string,
  defaultName: string,
  options: CheckOptions,
  defaults: { critical: boolean; componentType: string },
  fn: CheckFunction,
): CheckDefinition {
  assertObject(factory, 'options', options);
  const name = optionalString(factory, 'name', options.name) ?? defaultName;
  const def: {
    name: string;
    fn: CheckFunction;
    critical: boolean;
    componentType: string;
    probes?: readonly Probe[];
    timeoutMs?: number;
  } = {
    name,
    fn,
    critical: options.critical ?? defaults.critical,
    componentType: defaults.componentType,
  };
  if (typeof def.critical !== 'boolean') fail(factory, 'critical', options.critical, 'a boolean');
  if (options.probes !== undefined) def.probes = validateProbes(factory, options.probes);
  if (options.timeoutMs !== undefined) {
    def.timeoutMs = positiveInt(factory, 'timeoutMs', options.timeoutMs, 0);
  }
  return def;
}

export function validateProbes(where: string, probes: unknown): readonly Probe[] {
  if (
    !Array.isArray(probes) ||
    probes.length === 0 ||
    !probes.every((p) => PROBES.includes(p as Probe))
  ) {
    fail(where, 'probes', probes, `a non-empty array of ${PROBES.map((p) => `"${p}"`).join(', ')}`);
  }
  return [...(probes as Probe[])];
}

function threshold(
  factory: string,
  option: string,
  value: unknown,
  fallback: number | undefined,
  min = 0,
  max = Number.POSITIVE_INFINITY,
): number | undefined {
  if (value === undefined) return fallback;
  const n = finiteNumber(factory, option, value);
  if (n < min || n > max) fail(factory, option, value, `a number between ${min} and ${max}`);
  return n;
}

function grade(value: number, warnAt: number | undefined, failAt: number | undefined): CheckStatus {
  if (failAt !== undefined && value > failAt) return 'fail';
  if (warnAt !== undefined && value > warnAt) return 'warn';
  return 'pass';
}

/** A check around any function. Return `undefined`/`true` (pass), `false`, a status, or `{ status, output }`. */
export function check(
  name: string,
  fn: CheckFunction,
  options: CheckOptions = {},
): CheckDefinition {
  if (typeof name !== 'string' || name === '') fail('check', 'name', name, 'a non-empty string');
  if (typeof fn !== 'function') fail('check', 'fn', fn, 'a function');
  return base('check', name, options, { critical: true, componentType: 'component' }, fn);
}

export interface MemoryCheckOptions extends CheckOptions {
  /** Fail above this RSS in bytes. @default none */
  readonly maxRssBytes?: number;
  /** Warn above this heapUsed / heap size limit ratio. @default 0.85 */
  readonly warnHeapRatio?: number;
  /** Fail above this heapUsed / heap size limit ratio. @default 0.95 */
  readonly maxHeapRatio?: number;
}

/** RSS and V8 heap usage against the heap size limit. Informational by default. */
export function memoryCheck(options: MemoryCheckOptions = {}): CheckDefinition {
  const f = 'memoryCheck';
  const maxRss = threshold(f, 'maxRssBytes', options.maxRssBytes, undefined, 1);
  const warnRatio = threshold(f, 'warnHeapRatio', options.warnHeapRatio, 0.85, 0, 1);
  const maxRatio = threshold(f, 'maxHeapRatio', options.maxHeapRatio, 0.95, 0, 1);
  return base(f, 'memory', options, { critical: false, componentType: 'system' }, async () => {
    const { getHeapStatistics } = await import('node:v8');
    const heap = getHeapStatistics();
    const ratio = heap.used_heap_size / heap.heap_size_limit;
    const rss = process.memoryUsage.rss();
    if (maxRss !== undefined && rss > maxRss) {
      return {
        status: 'fail',
        output: `RSS ${rss} bytes is above maxRssBytes ${maxRss}`,
        observedValue: rss,
        observedUnit: 'bytes',
      };
    }
    const status = grade(ratio, warnRatio, maxRatio);
    return {
      status,
      observedValue: Math.round(ratio * 1000) / 1000,
      observedUnit: 'heap ratio',
      ...(status === 'pass' ? {} : { output: `heap usage ratio ${ratio.toFixed(3)}` }),
    };
  });
}

export interface EventLoopCheckOptions extends CheckOptions {
  /** Warn when the p99 delay since the previous run is above this many ms. @default 100 */
  readonly warnP99Ms?: number;
  /** Fail when the p99 delay since the previous run is above this many ms. @default 1000 */
  readonly maxP99Ms?: number;
  /** Sampling resolution of monitorEventLoopDelay in ms. @default 20 */
  readonly resolutionMs?: number;
}

/**
 * p99 event-loop delay since the previous run, from `monitorEventLoopDelay`. The histogram is
 * enabled on the first run and disabled by `health.close()`.
 */
export function eventLoopCheck(options: EventLoopCheckOptions = {}): ClosableCheck {
  const f = 'eventLoopCheck';
  const warnAt = threshold(f, 'warnP99Ms', options.warnP99Ms, 100);
  const failAt = threshold(f, 'maxP99Ms', options.maxP99Ms, 1000);
  const resolution = positiveInt(f, 'resolutionMs', options.resolutionMs, 20);
  let histogram: IntervalHistogram | undefined;
  const def = base(f, 'eventLoop', options, { critical: false, componentType: 'system' }, () => {
    if (histogram === undefined) {
      histogram = monitorEventLoopDelay({ resolution });
      histogram.enable();
      return {
        status: 'pass',
        output: 'first run: sampling started',
        observedValue: 0,
        observedUnit: 'ms',
      };
    }
    const p99 = histogram.count > 0 ? histogram.percentile(99) / 1e6 : 0;
    histogram.reset();
    const status = grade(p99, warnAt, failAt);
    return {
      status,
      observedValue: Math.round(p99 * 100) / 100,
      observedUnit: 'ms',
      ...(status === 'pass' ? {} : { output: `event-loop p99 delay ${p99.toFixed(1)} ms` }),
    };
  });
  return {
    ...def,
    close() {
      histogram?.disable();
      histogram = undefined;
    },
  };
}

export interface DiskCheckOptions extends CheckOptions {
  /** Any path on the filesystem to watch. @default process.cwd() */
  readonly path?: string;
  /** Fail below this many free bytes (available to unprivileged users). @default none */
  readonly minFreeBytes?: number;
  /** Fail below this free ratio. @default 0.05 */
  readonly minFreeRatio?: number;
  /** Warn below this free ratio. @default 0.1 */
  readonly warnFreeRatio?: number;
}

/** Free disk space from `fs.statfs`. Informational by default. */
export function diskCheck(options: DiskCheckOptions = {}): CheckDefinition {
  const f = 'diskCheck';
  const path = optionalString(f, 'path', options.path);
  const minBytes = threshold(f, 'minFreeBytes', options.minFreeBytes, undefined);
  const minRatio = threshold(f, 'minFreeRatio', options.minFreeRatio, 0.05, 0, 1);
  const warnRatio = threshold(f, 'warnFreeRatio', options.warnFreeRatio, 0.1, 0, 1);
  return base(f, 'disk', options, { critical: false, componentType: 'system' }, async () => {
    const s = await statfs(path ?? process.cwd());
    const free = s.bavail * s.bsize;
    const ratio = s.blocks > 0 ? s.bavail / s.blocks : 0;
    if (minBytes !== undefined && free < minBytes) {
      return {
        status: 'fail',
        output: `${free} bytes free, below minFreeBytes ${minBytes}`,
        observedValue: free,
        observedUnit: 'bytes',
      };
    }
    let status: CheckStatus = 'pass';
    if (minRatio !== undefined && ratio < minRatio) status = 'fail';
    else if (warnRatio !== undefined && ratio < warnRatio) status = 'warn';
    return {
      status,
      observedValue: free,
      observedUnit: 'bytes',
      ...(status === 'pass' ? {} : { output: `free ratio ${ratio.toFixed(3)}` }),
    };
  });
}

export interface CpuCheckOptions extends CheckOptions {
  /** Warn above this CPU % (100 = one core). @default 80 */
  readonly warnPercent?: number;
  /** Fail above this CPU %. @default none (informational only) */
  readonly maxPercent?: number;
}

/** Process CPU % from pidusage (since its previous sample). Informational by default. */
export function cpuCheck(options: CpuCheckOptions = {}): CheckDefinition {
  const f = 'cpuCheck';
  const warnAt = threshold(f, 'warnPercent', options.warnPercent, 80);
  const failAt = threshold(f, 'maxPercent', options.maxPercent, undefined);
  return base(f, 'cpu', options, { critical: false, componentType: 'system' }, async () => {
    const stat = await pidusage(process.pid);
    const status = grade(stat.cpu, warnAt, failAt);
    return {
      status,
      observedValue: Math.round(stat.cpu * 10) / 10,
      observedUnit: 'percent',
      ...(status === 'pass' ? {} : { output: `CPU ${stat.cpu.toFixed(1)} %` }),
    };
  });
}

/**
 * Any Redis client: node-redis v4+ (`sendCommand(['PING'])`), or anything with `ping()` (ioredis,
 * node-redis).
 */
export type RedisLike =
  | { sendCommand(args: string[]): Promise<unknown> }
  | { ping(): Promise<unknown> };

/** Options of `redisCheck`; `timeoutMs` is how long `PING` may take. */
export interface RedisCheckOptions extends CheckOptions {
  /**
   * Milliseconds `PING` may take before the check reports Redis down. A healthy Redis on a LAN
   * answers in well under a millisecond; the default keeps a probe far below Kubernetes' 1 s
   * probe timeout even when the client queues commands instead of failing them.
   * @default 50
   */
  readonly timeoutMs?: number;
}

/** How long a PING that never answered keeps the check from sending another. */
const PING_RETRY_AFTER_MS = 10_000;

interface EventSource {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off?(event: string, listener: (...args: unknown[]) => void): unknown;
  removeListener?(event: string, listener: (...args: unknown[]) => void): unknown;
}

function isEventSource(value: unknown): value is EventSource {
  return typeof (value as EventSource | null)?.on === 'function';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message || error.name : String(error);
}

/**
 * `PING` must answer `PONG` within `timeoutMs` (default 50). Critical by default: an outage fails
 * readiness. With `critical: false` an outage is reported as `warn` (degraded) and readiness stays
 * up. A PING still unanswered from an earlier run is not repeated: the check reports at once, so
 * probes stay fast during an outage and a black-holed connection is not sent one PING per probe.
 * On a client that emits events (node-redis), the check listens for `'error'` (so a connection
 * failure is never an uncaught exception, and its reason appears in the output); `health.close()`
 * or `unregister()` removes the listeners.
 */
export function redisCheck(client: RedisLike, options: RedisCheckOptions = {}): ClosableCheck {
  const f = 'redisCheck';
  const c = client as Partial<{ sendCommand: unknown; ping: unknown }> | null;
  if (
    typeof c !== 'object' ||
    c === null ||
    (typeof c.sendCommand !== 'function' && typeof c.ping !== 'function')
  ) {
    fail(f, 'client', client, 'a Redis client with sendCommand(args) or ping()');
  }
  assertObject(f, 'options', options);
  const budget = positiveInt(f, 'timeoutMs', options.timeoutMs, 50);
  const critical = options.critical ?? true;
  const down: CheckStatus = critical ? 'fail' : 'warn';
  const policy = critical ? '' : '; non-critical: readiness stays up, degraded';
  let pending: { readonly since: number } | undefined;
  let connectionError: string | undefined;

  const send = (): Promise<unknown> =>
    'sendCommand' in client && typeof client.sendCommand === 'function'
      ? client.sendCommand(['PING'])
      : (client as { ping(): Promise<unknown> }).ping();
  const reason = (text: string) =>
    `${text}${connectionError === undefined ? '' : ` (connection: ${connectionError})`}${policy}`;

  // The registry's own timeout is only a backstop: the check settles at `budget` by itself, with
  // a status that follows `critical`.
  const def = base(
    f,
    'redis',
    { ...options, timeoutMs: budget + 250 },
    { critical: true, componentType: 'datastore' },
    async () => {
      const now = Date.now();
      if (pending !== undefined && now - pending.since < PING_RETRY_AFTER_MS) {
        return {
          status: down,
          output: reason(`no answer yet to the PING sent ${now - pending.since} ms ago`),
        };
      }
      const mine = { since: now };
      pending = mine;
      const ping = Promise.resolve().then(send);
      const settled = () => {
        if (pending === mine) pending = undefined;
      };
      ping.then(settled, settled);
      let timer: NodeJS.Timeout | undefined;
      try {
        const reply = await Promise.race([
          ping,
          new Promise<typeof pending>((resolve) => {
            timer = setTimeout(() => resolve(mine), budget);
            timer.unref();
          }),
        ]);
        if (reply === mine)
          return { status: down, output: reason(`Redis did not answer PING within ${budget} ms`) };
        if (reply !== 'PONG') {
          return {
            status: down,
            output: reason(`PING answered ${JSON.stringify(reply)}, expected "PONG"`),
          };
        }
        return { status: 'pass' };
      } catch (error) {
        return { status: down, output: reason(`PING failed: ${messageOf(error)}`) };
      } finally {
        clearTimeout(timer);
      }
    },
  );

  let release: (() => void) | undefined;
  if (isEventSource(client)) {
    const source = client;
    const onError = (error: unknown) => {
      connectionError = messageOf(error);
    };
    const onReady = () => {
      connectionError = undefined;
    };
    source.on('error', onError);
    source.on('ready', onReady);
    release = () => {
      const off = (source.off ?? source.removeListener)?.bind(source);
      off?.('error', onError);
      off?.('ready', onReady);
    };
  }
  return {
    ...def,
    close() {
      release?.();
      release = undefined;
    },
  };
}

/** A `pg.Pool` (recommended: it reconnects) or anything with `query(sql)`. */
export interface PostgresLike {
  query(sql: string): Promise<unknown>;
}

/** `SELECT 1` must succeed. Critical by default. Pass a pool, which reconnects after an outage. */
export function postgresCheck(
  poolOrClient: PostgresLike,
  options: CheckOptions = {},
): CheckDefinition {
  const p = poolOrClient as Partial<PostgresLike> | null;
  if (typeof p !== 'object' || p === null || typeof p.query !== 'function') {
    fail(
      'postgresCheck',
      'poolOrClient',
      poolOrClient,
      'a pg Pool or Client (an object with query(sql))',
    );
  }
  return base(
    'postgresCheck',
    'postgres',
    options,
    { critical: true, componentType: 'datastore' },
    async () => {
      await poolOrClient.query('SELECT 1');
      return { status: 'pass' };
    },
  );
}

export interface HttpCheckOptions extends CheckOptions {
  /** @default 'GET' */
  readonly method?: string;
  /** @default {} */
  readonly headers?: Readonly<Record<string, string>>;
  /** Which statuses pass. @default 200–399 */
  readonly expectStatus?: (status: number) => boolean;
}

/** An HTTP dependency answers with an expected status before the timeout. Critical by default. */
export function httpCheck(url: string | URL, options: HttpCheckOptions = {}): CheckDefinition {
  const f = 'httpCheck';
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    fail(f, 'url', url, 'an absolute http(s) URL');
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    fail(f, 'url', url, 'an absolute http(s) URL');
  }
  const method = optionalString(f, 'method', options.method) ?? 'GET';
  const headers = options.headers ?? {};
  if (!isPlainObject(headers)) fail(f, 'headers', headers, 'an object of header strings');
  const expect = options.expectStatus ?? ((s: number) => s >= 200 && s < 400);
  if (typeof expect !== 'function') fail(f, 'expectStatus', expect, 'a function');
  return base(
    f,
    target.host,
    options,
    { critical: true, componentType: 'http' },
    async (signal) => {
      const res = await fetch(target, {
        method,
        headers: { ...headers },
        signal,
        redirect: 'manual',
      });
      // Drain so the socket is released.
      await res.arrayBuffer().catch(() => undefined);
      const ok = expect(res.status);
      return {
        status: ok ? 'pass' : 'fail',
        observedValue: res.status,
        observedUnit: 'http status',
        ...(ok ? {} : { output: `${method} ${target.href} answered ${res.status}` }),
      } satisfies CheckOutcome;
    },
  );
}
