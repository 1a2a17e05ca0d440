import { BlockList, isIP } from 'node:net';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator } from 'express-rate-limit';
import { createCircuit } from './circuit.js';
import {
  clientAddress,
  counterIn,
  createEventThrottle,
  describeValue,
  isPositiveInteger,
  requestPath,
  unmapIPv4,
} from './edge.js';
import { type IpBlock, type IpBlockStore, memoryIpStore } from './ip-store.js';
import { optionError } from './options.js';
import { SecurityError, sendProblem } from './problem.js';
import { type AppSettings, assertSafeTrustProxy, checkProxy } from './proxy.js';
import { emitSecurityEvent, type MetricsRegistry, type SecurityLogger } from './types.js';
import { createWarner, type WarningsOption, warnUnknownOptions } from './warnings.js';

export interface AutoBlockOptions {
  /** Rate-limit hits (429s) within `windowMs` that trigger a block. @default 5 */
  readonly hits?: number;
  /** Window for counting hits, in ms. @default 600000 (10 minutes) */
  readonly windowMs?: number;
  /** How long the block lasts, in ms. @default 900000 (15 minutes) */
  readonly blockMs?: number;
}

export interface IpFilterOptions {
  /** Addresses / CIDRs always refused (IPv4 and IPv6). @default [] */
  readonly deny?: readonly string[];
  /** When non-empty, only these addresses / CIDRs are served. @default [] (everyone) */
  readonly allow?: readonly string[];
  /** Block a client after repeated rate-limit hits (feed it with `rateLimit({ ipFilter })`). @default false */
  readonly autoBlock?: boolean | AutoBlockOptions;
  /** Where blocks live: `'memory'` or a shared store such as `redisIpStore(client)`. @default 'memory' */
  readonly store?: 'memory' | IpBlockStore;
  /**
   * When the store fails or times out, and while its circuit is open: `'allow'` serves the
   * request, `'deny'` answers 503.
   * @default 'allow'
   */
  readonly onStoreError?: 'allow' | 'deny';
  /**
   * How long a call to a shared store may take before it counts as failed. A healthy Redis on a
   * LAN answers in well under a millisecond; node-redis never times out a command it has written.
   * @default 100
   */
  readonly storeTimeoutMs?: number;
  /**
   * Consecutive store failures that open the circuit: block lookups then fail at once (requests
   * follow `onStoreError`) until one probe after `storeCooldownMs` succeeds.
   * @default 3
   */
  readonly storeFailureThreshold?: number;
  /** Milliseconds the circuit stays open before one probe call. @default 2000 */
  readonly storeCooldownMs?: number;
  /** IPv6 prefix one block covers (same as the rate limiter's). @default 56 */
  readonly ipv6Subnet?: number;
  /** prom-client Registry for `shipshape_security_ip_blocked_total{reason}`. @default none */
  readonly registry?: MetricsRegistry;
  /** Logger for `ip_blocked` / `ip_auto_blocked` events and warnings. @default none */
  readonly logger?: SecurityLogger;
  /** When given, `trust proxy` = true is refused at factory time. */
  readonly app?: AppSettings;
  /** Switch coded warnings off (`false`) or some of them. @default true */
  readonly warnings?: WarningsOption;
}

const knownOptions: { readonly [K in keyof Required<IpFilterOptions>]: true } = {
  deny: true,
  allow: true,
  autoBlock: true,
  store: true,
  onStoreError: true,
  storeTimeoutMs: true,
  storeFailureThreshold: true,
  storeCooldownMs: true,
  ipv6Subnet: true,
  registry: true,
  logger: true,
  app: true,
  warnings: true,
};

/** The middleware returned by `ipFilter()`, with its block API. */
export interface IpFilterMiddleware extends RequestHandler {
  /** Blocks an address (or an IPv6 prefix key) for `durationMs` (default: autoBlock.blockMs). */
  block(ip: string, durationMs?: number, reason?: string): Promise<void>;
  /** Lifts a block; resolves whether one existed. */
  unblock(ip: string): Promise<boolean>;
  /** The active block covering this address, if any. */
  isBlocked(ip: string): Promise<IpBlock | undefined>;
  /** Counts one rate-limit hit for this address; blocks it when autoBlock's threshold is reached. */
  recordLimitHit(ip: string): Promise<void>;
  /** The key a block for this address is stored under (IPv4 as is, IPv6 masked to its prefix). */
  keyFor(ip: string): string;
  close(): Promise<void>;
}

function buildList(entries: unknown, option: string): BlockList {
  if (!Array.isArray(entries))
    throw optionError(
      `@shipshape/security: ipFilter "${option}" must be an array of IPv4/IPv6 addresses or CIDRs, got ${describeValue(entries)}`,
    );
  const list = new BlockList();
  for (const entry of entries) {
    const bad = () =>
      optionError(
        `@shipshape/security: ipFilter "${option}" entries are IPv4/IPv6 addresses or CIDRs like "10.0.0.0/8" or "2001:db8::/32", got ${describeValue(entry)}`,
      );
    if (typeof entry !== 'string') throw bad();
    const [address = '', prefix, extra] = entry.trim().split('/');
    if (extra !== undefined) throw bad();
    const ip = unmapIPv4(address);
    const family = isIP(ip);
    if (family === 0) throw bad();
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) {
      list.addAddress(ip, type);
      continue;
    }
    const bits = Number(prefix);
    if (!/^\d{1,3}$/.test(prefix) || bits > (family === 4 ? 32 : 128)) throw bad();
    list.addSubnet(ip, bits, type);
  }
  return list;
}

function inList(list: BlockList, ip: string): boolean {
  const family = isIP(ip);
  if (family === 0) return false;
  return list.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

const DENIED = Symbol('denied');
const NOT_ALLOWED = Symbol('not allowed');
const NO_KEY = Symbol('no key');
/** What the static lists say about an address, or its store key when they let it through. */
type Verdict = typeof DENIED | typeof NOT_ALLOWED | typeof NO_KEY | string;
const VERDICT_CACHE_SIZE = 10_000;

/**
 * Static deny/allow lists (IPv4, IPv6, CIDR) plus blocks kept in a store (manual or automatic
 * after repeated rate-limit hits). Refused clients get 403 problem+json and an `ip_blocked` event.
 */
export function ipFilter(options: IpFilterOptions = {}): IpFilterMiddleware {
  const warner = createWarner(options.logger, options.warnings);
  warnUnknownOptions(warner, 'ipFilter', options, knownOptions, { metrics: 'registry' });
  const fail = (option: string, want: string, got: unknown): never => {
    throw optionError(
      `@shipshape/security: ipFilter "${option}" must be ${want}, got ${describeValue(got)}`,
    );
  };
  const denyEntries = options.deny ?? [];
  const allowEntries = options.allow ?? [];
  const deny = buildList(denyEntries, 'deny');
  const allow = buildList(allowEntries, 'allow');
  const hasAllow = allowEntries.length > 0;

  const auto = options.autoBlock ?? false;
  if (typeof auto !== 'boolean' && (typeof auto !== 'object' || auto === null))
    fail('autoBlock', 'true, false or { hits, windowMs, blockMs }', auto);
  const autoOptions: AutoBlockOptions = typeof auto === 'object' ? auto : {};
  const autoEnabled = auto !== false;
  const hits = autoOptions.hits ?? 5;
  const hitWindowMs = autoOptions.windowMs ?? 600_000;
  const blockMs = autoOptions.blockMs ?? 900_000;
  if (!isPositiveInteger(hits)) fail('autoBlock.hits', 'a positive integer', hits);
  if (!isPositiveInteger(hitWindowMs))
    fail('autoBlock.windowMs', 'a positive integer of milliseconds', hitWindowMs);
  if (!isPositiveInteger(blockMs))
    fail('autoBlock.blockMs', 'a positive integer of milliseconds', blockMs);
  const onStoreError = options.onStoreError ?? 'allow';
  if (onStoreError !== 'allow' && onStoreError !== 'deny')
    fail('onStoreError', "'allow' or 'deny'", onStoreError);
  const storeTimeoutMs = options.storeTimeoutMs ?? 100;
  if (!isPositiveInteger(storeTimeoutMs))
    fail('storeTimeoutMs', 'a positive integer of milliseconds', storeTimeoutMs);
  const storeFailureThreshold = options.storeFailureThreshold ?? 3;
  if (!isPositiveInteger(storeFailureThreshold))
    fail('storeFailureThreshold', 'a positive integer', storeFailureThreshold);
  const storeCooldownMs = options.storeCooldownMs ?? 2000;
  if (!isPositiveInteger(storeCooldownMs))
    fail('storeCooldownMs', 'a positive integer of milliseconds', storeCooldownMs);
  const ipv6Subnet = options.ipv6Subnet ?? 56;
  if (!Number.isInteger(ipv6Subnet) || ipv6Subnet < 1 || ipv6Subnet > 128)
    fail('ipv6Subnet', 'an integer from 1 to 128', ipv6Subnet);
  const storeOption = options.store ?? 'memory';
  if (
    storeOption !== 'memory' &&
    (typeof storeOption !== 'object' ||
      storeOption === null ||
      !['block', 'unblock', 'blocked', 'hit'].every(
        (m) => typeof (storeOption as unknown as Record<string, unknown>)[m] === 'function',
      ))
  )
    fail(
      'store',
      "'memory' or an IpBlockStore (block/unblock/blocked/hit), e.g. redisIpStore(client)",
      storeOption,
    );
  if (options.app) assertSafeTrustProxy(options.app);
  const ownsStore = storeOption === 'memory';
  const store: IpBlockStore = storeOption === 'memory' ? memoryIpStore() : storeOption;
  const logger = options.logger;
  const blockedCounter = counterIn(
    options.registry,
    'shipshape_security_ip_blocked_total',
    'Requests refused by the IP filter',
    ['reason'],
  );

  const shouldLog = createEventThrottle();
  // A shared store sits behind a circuit breaker; the in-process one answers synchronously.
  const circuit = ownsStore
    ? undefined
    : createCircuit(
        {
          label: 'ipFilter store',
          timeoutMs: storeTimeoutMs,
          failureThreshold: storeFailureThreshold,
          cooldownMs: storeCooldownMs,
        },
        {
          onClose() {
            logger?.info('@shipshape/security: ipFilter store is back; block checks resume');
            warner.rearm('SHIPSHAPE_SECURITY_STORE_ERROR');
          },
        },
      );
  /** A store call through the circuit (explicit calls are `forced`: tried even while open). */
  const call = <T>(fn: () => T | Promise<T>, forced = false): Promise<T> =>
    circuit ? circuit.run(fn, forced) : Promise.resolve().then(fn);

  const keyFor = (ip: string): string => {
    const trimmed = ip.trim();
    if (trimmed.includes('/')) {
      const [address = ''] = trimmed.split('/');
      if (isIP(address) === 0) fail('ip', 'an IP address or CIDR', ip);
      return trimmed.toLowerCase();
    }
    const unmapped = unmapIPv4(trimmed);
    if (isIP(unmapped) === 0) fail('ip', 'an IP address', ip);
    return ipKeyGenerator(unmapped, ipv6Subnet);
  };

  const refuse = (
    req: Request,
    res: Response,
    ip: string,
    reason: string,
    code: string,
    until?: number,
  ) => {
    blockedCounter?.inc({ reason });
    if (shouldLog(`${reason}\n${ip}`))
      emitSecurityEvent(logger, 'ip_blocked', {
        ip,
        reason,
        method: req.method,
        path: requestPath(req),
        ...(until !== undefined ? { until: new Date(until).toISOString() } : {}),
      });
    const headers: Record<string, string> = {};
    if (until !== undefined)
      headers['Retry-After'] = String(Math.max(1, Math.ceil((until - Date.now()) / 1000)));
    sendProblem(
      req,
      res,
      new SecurityError({
        status: 403,
        code,
        detail:
          code === 'IP_NOT_ALLOWED' ? 'Your address is not allowed.' : 'Your address is blocked.',
        headers,
      }),
    );
  };

  // The static lists never change, so their verdict and the store key are remembered per address:
  // clients repeat (keep-alive, NAT), and BlockList.check() builds a native SocketAddress per call.
  // Bounded: the map starts over when it holds VERDICT_CACHE_SIZE addresses.
  const verdicts = new Map<string, Verdict>();
  const verdictFor = (ip: string): Verdict => {
    let verdict = verdicts.get(ip);
    if (verdict !== undefined) return verdict;
    if (inList(deny, ip)) verdict = DENIED;
    else if (hasAllow && !inList(allow, ip)) verdict = NOT_ALLOWED;
    else {
      try {
        verdict = keyFor(ip);
      } catch {
        verdict = NO_KEY;
      }
    }
    if (verdicts.size >= VERDICT_CACHE_SIZE) verdicts.clear();
    verdicts.set(ip, verdict);
    return verdict;
  };

  const storeFailed = (req: Request, res: Response, next: NextFunction, error: unknown) => {
    warner.warn(
      'SHIPSHAPE_SECURITY_STORE_ERROR',
      `ipFilter store failed (${error instanceof Error ? error.message : String(error)}); requests are ${onStoreError === 'allow' ? 'served without block checks' : 'refused with 503'} until it recovers (after ${storeFailureThreshold} failures in a row the store is not called for ${storeCooldownMs} ms at a time)`,
      { policy: onStoreError },
    );
    if (onStoreError === 'allow') {
      next();
      return;
    }
    sendProblem(
      req,
      res,
      new SecurityError({
        status: 503,
        code: 'IP_STORE_UNAVAILABLE',
        detail: 'The IP filter cannot reach its store; try again shortly.',
        headers: { 'Retry-After': String(Math.max(1, Math.ceil(storeCooldownMs / 1000))) },
      }),
    );
  };

  const middleware = function ipFilterMiddleware(
    req: Request,
    res: Response,
    next: NextFunction,
  ): void {
    const proxyError = checkProxy(req, warner);
    if (proxyError) {
      logger?.error((proxyError.cause as Error).message, { code: 'TRUST_PROXY_ALL' });
      sendProblem(req, res, proxyError);
      return;
    }
    const ip = clientAddress(req);
    if (ip === undefined) {
      // The socket is already gone; nothing to answer.
      next();
      return;
    }
    const verdict = verdictFor(ip);
    if (verdict === DENIED) {
      refuse(req, res, ip, 'deny-list', 'IP_BLOCKED');
      return;
    }
    if (verdict === NOT_ALLOWED) {
      refuse(req, res, ip, 'not-allowlisted', 'IP_NOT_ALLOWED');
      return;
    }
    if (verdict === NO_KEY) {
      next();
      return;
    }
    const key = verdict;
    if (circuit === undefined) {
      // The in-process store answers at once: no promise, no timer on the request path.
      const answer = store.blocked(key) as IpBlock | undefined;
      if (answer) refuse(req, res, ip, answer.reason, 'IP_BLOCKED', answer.until);
      else next();
      return;
    }
    // Circuit open: follow the policy at once, without a store call, promise or timer.
    const refused = circuit.refuse();
    if (refused) {
      storeFailed(req, res, next, refused);
      return;
    }
    circuit
      .run(() => store.blocked(key))
      .then(
        (block) => {
          if (block) refuse(req, res, ip, block.reason, 'IP_BLOCKED', block.until);
          else next();
        },
        (error: unknown) => storeFailed(req, res, next, error),
      );
  } as IpFilterMiddleware;

  middleware.keyFor = keyFor;
  // Explicit calls are tried even while the circuit is open (an operator wants a real answer),
  // and their success closes it; the auto-block feed follows the circuit like requests do.
  middleware.block = async (ip, durationMs = blockMs, reason = 'manual') => {
    if (!isPositiveInteger(durationMs))
      fail('block durationMs', 'a positive integer of milliseconds', durationMs);
    const key = keyFor(ip);
    await call(() => store.block(key, durationMs, reason), true);
  };
  middleware.unblock = async (ip) => {
    const key = keyFor(ip);
    return call(() => store.unblock(key), true);
  };
  middleware.isBlocked = async (ip) => {
    const key = keyFor(ip);
    return call(() => store.blocked(key), true);
  };
  middleware.recordLimitHit = async (ip) => {
    if (!autoEnabled) return;
    const key = keyFor(ip);
    const count = await call(() => store.hit(key, hitWindowMs));
    if (count < hits) return;
    await call(() => store.block(key, blockMs, 'auto-block'));
    emitSecurityEvent(logger, 'ip_auto_blocked', {
      ip,
      key,
      hits: count,
      windowMs: hitWindowMs,
      blockMs,
    });
  };
  middleware.close = async () => {
    if (ownsStore) await store.close?.();
  };
  return middleware;
}
