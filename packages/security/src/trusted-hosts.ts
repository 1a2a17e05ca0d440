import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { describeValue, requestPath } from './edge.js';
import { optionError } from './options.js';
import { SecurityError, sendProblem } from './problem.js';
import { emitSecurityEvent, type SecurityLogger } from './types.js';
import { createWarner, type WarningsOption, warnUnknownOptions } from './warnings.js';

export interface TrustedHostsOptions {
  /** Allowed hosts: `example.com` (any port), `example.com:8443`, `*.example.com`, `[::1]`, `127.0.0.1`. */
  readonly hosts: readonly string[];
  /** Status for a well-formed but unlisted host. @default 421 */
  readonly status?: 421 | 400;
  /**
   * Use X-Forwarded-Host: `'trusted'` only when the peer is a trusted proxy (Express `trust
   * proxy`), `false` never, `true` always (only behind a proxy that overwrites it).
   * @default 'trusted'
   */
  readonly forwardedHost?: 'trusted' | boolean;
  /** Logger for `host_rejected` events. @default none */
  readonly logger?: SecurityLogger;
  /** Switch coded warnings off (`false`) or some of them. @default true */
  readonly warnings?: WarningsOption;
}

const knownOptions: { readonly [K in keyof Required<TrustedHostsOptions>]: true } = {
  hosts: true,
  status: true,
  forwardedHost: true,
  logger: true,
  warnings: true,
};

export interface ParsedHost {
  readonly host: string;
  readonly port: string | undefined;
}

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** Parses a Host header value (`name[:port]`, `[v6][:port]`); `undefined` when malformed. */
export function parseHost(value: string): ParsedHost | undefined {
  const v = value.trim().toLowerCase();
  if (v === '' || v.length > 261) return undefined;
  let host: string;
  let port: string | undefined;
  if (v.startsWith('[')) {
    const end = v.indexOf(']');
    if (end === -1) return undefined;
    host = v.slice(0, end + 1);
    const rest = v.slice(end + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return undefined;
      port = rest.slice(1);
    }
    if (!/^\[[0-9a-f:.]+\]$/.test(host) || !host.includes(':')) return undefined;
  } else {
    const parts = v.split(':');
    if (parts.length > 2) return undefined;
    host = parts[0] ?? '';
    port = parts[1];
    if (host.endsWith('.')) host = host.slice(0, -1);
    if (host === '' || !host.split('.').every((label) => LABEL.test(label))) return undefined;
  }
  if (port !== undefined && (!/^\d{1,5}$/.test(port) || Number(port) > 65535)) return undefined;
  return { host, port };
}

/**
 * The host the client addressed: the last X-Forwarded-Host value when the peer is a trusted
 * proxy (or `forwarded` is true), else the Host header.
 */
export function effectiveHost(
  req: Request,
  forwarded: 'trusted' | boolean = 'trusted',
): string | undefined {
  const xfh = req.headers['x-forwarded-host'];
  if (xfh !== undefined && forwarded !== false) {
    let use = forwarded === true;
    if (forwarded === 'trusted') {
      const trust = req.app?.get('trust proxy fn') as
        | ((addr: string, i: number) => boolean)
        | undefined;
      use = typeof trust === 'function' && trust(req.socket?.remoteAddress ?? '', 0);
    }
    if (use) {
      const values = (Array.isArray(xfh) ? xfh.join(',') : xfh).split(',');
      const last = values[values.length - 1]?.trim();
      if (last) return last;
    }
  }
  return req.headers.host;
}

interface HostPattern {
  readonly host: string;
  readonly port: string | undefined;
  readonly wildcard: boolean;
}

/** A `trustedHosts()` middleware. */
export type TrustedHostsMiddleware = RequestHandler;

/**
 * Refuses requests whose Host (or trusted X-Forwarded-Host) is not listed — 421 for unlisted,
 * 400 for malformed — before any other work. Defends against Host-header injection (poisoned
 * absolute links, password-reset mails) and DNS rebinding.
 */
export function trustedHosts(
  hostsOrOptions: readonly string[] | TrustedHostsOptions,
): TrustedHostsMiddleware {
  const options: TrustedHostsOptions = Array.isArray(hostsOrOptions)
    ? { hosts: hostsOrOptions as readonly string[] }
    : (hostsOrOptions as TrustedHostsOptions);
  if (typeof options !== 'object' || options === null)
    throw optionError(
      `@shipshape/security: trustedHosts needs a list of hosts or { hosts }, got ${describeValue(hostsOrOptions)}`,
    );
  const warner = createWarner(options.logger, options.warnings);
  if (!Array.isArray(hostsOrOptions))
    warnUnknownOptions(warner, 'trustedHosts', options, knownOptions);
  const hosts = options.hosts;
  if (!Array.isArray(hosts) || hosts.length === 0)
    throw optionError(
      `@shipshape/security: trustedHosts "hosts" must be a non-empty array like ["api.example.com", "*.example.com", "localhost"], got ${describeValue(hosts)}`,
    );
  const patterns: HostPattern[] = hosts.map((entry: unknown) => {
    const wildcard = typeof entry === 'string' && entry.startsWith('*.');
    const parsed =
      typeof entry === 'string' ? parseHost(wildcard ? entry.slice(2) : entry) : undefined;
    if (!parsed || (wildcard && !parsed.host.includes('.')))
      throw optionError(
        `@shipshape/security: trustedHosts "hosts" entries are host names, IPs, "[v6]" or "*.example.com", optionally with ":port", got ${describeValue(entry)}`,
      );
    return { host: wildcard ? `.${parsed.host}` : parsed.host, port: parsed.port, wildcard };
  });
  const status = options.status ?? 421;
  if (status !== 421 && status !== 400)
    throw optionError(
      `@shipshape/security: trustedHosts "status" must be 421 or 400, got ${describeValue(status)}`,
    );
  const forwarded = options.forwardedHost ?? 'trusted';
  if (forwarded !== 'trusted' && typeof forwarded !== 'boolean')
    throw optionError(
      `@shipshape/security: trustedHosts "forwardedHost" must be 'trusted', true or false, got ${describeValue(forwarded)}`,
    );
  const logger = options.logger;

  const matches = (h: ParsedHost) =>
    patterns.some(
      (p) =>
        (p.port === undefined || p.port === h.port) &&
        (p.wildcard ? h.host.endsWith(p.host) && h.host.length > p.host.length : h.host === p.host),
    );

  return function trustedHostsMiddleware(req: Request, res: Response, next: NextFunction): void {
    const raw = effectiveHost(req, forwarded);
    const parsed = raw === undefined ? undefined : parseHost(raw);
    if (parsed && matches(parsed)) {
      next();
      return;
    }
    const reason = parsed ? 'unlisted' : 'malformed';
    emitSecurityEvent(logger, 'host_rejected', {
      host: raw?.slice(0, 300),
      reason,
      method: req.method,
      path: requestPath(req),
    });
    sendProblem(
      req,
      res,
      parsed
        ? new SecurityError({
            status,
            code: 'HOST_NOT_ALLOWED',
            detail: `This server does not serve host ${JSON.stringify(parsed.host)}.`,
          })
        : new SecurityError({
            status: 400,
            code: 'INVALID_HOST',
            detail:
              raw === undefined ? 'The Host header is missing.' : 'The Host header is malformed.',
          }),
    );
  };
}
