import type { Request } from 'express';
import { describeValue } from './edge.js';
import { optionError } from './options.js';
import { SecurityError } from './problem.js';
import type { Warner } from './warnings.js';

/** What an Express app offers for reading settings (both majors). */
export interface AppSettings {
  get(setting: string): unknown;
}

/** The safe `trust proxy` values: a hop count, named ranges, or a CIDR / address list. */
export type TrustProxySetting = number | string | readonly string[];

const SAFE_ALTERNATIVES =
  "use a hop count (app.set('trust proxy', 1) for one reverse proxy), 'loopback' for a proxy on " +
  "the same host, or the proxies' addresses/CIDRs (app.set('trust proxy', ['10.0.0.0/8']))";

export function trustProxyAllMessage(): string {
  return (
    "@shipshape/security: app.set('trust proxy', true) trusts every X-Forwarded-For hop, so any " +
    `client can spoof its IP and escape rate limits and IP blocks; ${SAFE_ALTERNATIVES}`
  );
}

/** Throws when the app trusts every proxy (`trust proxy` = true). */
export function assertSafeTrustProxy(app: AppSettings): void {
  if (app.get('trust proxy') === true) throw optionError(trustProxyAllMessage());
}

/**
 * Sets `trust proxy` after checking it is one of the safe forms. Refuses `true` with a message
 * naming the alternatives.
 */
export function trustProxy(
  app: AppSettings & { set(setting: string, value: unknown): unknown },
  setting: TrustProxySetting,
): void {
  if ((setting as unknown) === true) throw optionError(trustProxyAllMessage());
  const ok =
    (typeof setting === 'number' && Number.isInteger(setting) && setting >= 0) ||
    (typeof setting === 'string' && setting.trim() !== '') ||
    (Array.isArray(setting) && setting.length > 0 && setting.every((s) => typeof s === 'string'));
  if (!ok)
    throw optionError(
      `@shipshape/security: trustProxy setting must be a hop count, 'loopback' or a list of addresses/CIDRs, got ${describeValue(setting)}`,
    );
  app.set('trust proxy', Array.isArray(setting) ? [...setting] : setting);
}

/**
 * Per-request proxy check for middleware that keys on the client IP: refuses `trust proxy` =
 * true (500, every request, so the misconfiguration cannot go unnoticed) and warns once when
 * X-Forwarded-For arrives from a peer the app does not trust (the header is then ignored, and
 * every client behind that proxy shares the proxy's address).
 */
export function checkProxy(req: Request, warner: Warner): SecurityError | undefined {
  const app = req.app as unknown as AppSettings | undefined;
  if (!app) return undefined;
  if (app.get('trust proxy') === true)
    return new SecurityError({
      status: 500,
      code: 'TRUST_PROXY_ALL',
      detail: 'The server is misconfigured.',
      cause: new Error(trustProxyAllMessage()),
    });
  if (
    req.headers['x-forwarded-for'] !== undefined &&
    warner.enabled('SHIPSHAPE_SECURITY_XFF_UNTRUSTED')
  ) {
    const trust = app.get('trust proxy fn');
    const peer = req.socket?.remoteAddress ?? '';
    const trusted =
      typeof trust === 'function' && (trust as (a: string, i: number) => boolean)(peer, 0);
    if (!trusted)
      warner.warn(
        'SHIPSHAPE_SECURITY_XFF_UNTRUSTED',
        `X-Forwarded-For arrived from ${peer} but no proxy is trusted, so it is ignored and all clients behind that proxy share one address; if a reverse proxy sits in front, ${SAFE_ALTERNATIVES}`,
        { peer },
      );
  }
  return undefined;
}
