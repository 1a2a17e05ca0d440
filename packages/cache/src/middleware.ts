import { createHash } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import {
  checkPositiveInteger,
  checkPositiveNumber,
  invalidOption,
  warnUnknownOptions,
} from './errors.js';
import type { Cache } from './types.js';

export interface CacheResponseOptions {
  /** The cache that holds responses. */
  readonly cache: Cache;
  /**
   * Milliseconds a response stays cached.
   * @default the cache's ttl
   */
  readonly ttl?: number;
  /** Tags for `cache.invalidateTag`, fixed or computed from the request. */
  readonly tags?: readonly string[] | ((req: Request) => readonly string[]);
  /**
   * Extra key part (e.g. `Accept-Language`); return `undefined` for none.
   */
  readonly vary?: (req: Request) => string | undefined;
  /**
   * Who the request is for. Requests carrying `Authorization` are cached only when this returns a
   * non-empty string, which becomes part of the key; otherwise they pass through uncached.
   */
  readonly user?: (req: Request) => string | undefined;
  /**
   * Largest body cached, in bytes; larger responses pass through uncached.
   * @default 1048576
   */
  readonly maxBodyBytes?: number;
}

const KNOWN: { [K in keyof Required<CacheResponseOptions>]: true } = {
  cache: true,
  ttl: true,
  tags: true,
  vary: true,
  user: true,
  maxBodyBytes: true,
};

/** What the middleware stores per response. */
interface CachedResponse {
  readonly status: 200;
  readonly headers: Record<string, string>;
  /** Body, base64. */
  readonly body: string;
  readonly etag: string;
  readonly storedAt: number;
}

const KEPT_HEADERS = ['content-type', 'content-language', 'cache-control', 'vary', 'last-modified'];
const CACHEABLE_TYPE = /^(application\/(?:[\w.+-]+\+)?json|text\/[\w.+-]+)\s*(?:;|$)/i;
const NOT_SHARED = /(?:^|,)\s*(?:private|no-store|no-cache)\b/i;

function normalisedQuery(url: string): string {
  const mark = url.indexOf('?');
  if (mark < 0) return '';
  const params = [...new URLSearchParams(url.slice(mark + 1))];
  params.sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return new URLSearchParams(params).toString();
}

function pathOf(url: string): string {
  const mark = url.indexOf('?');
  return mark < 0 ? url : url.slice(0, mark);
}

function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((candidate) => {
    const tag = candidate.trim();
    return tag === etag || tag === `W/${etag}`;
  });
}

function headerText(value: number | string | readonly string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(', ') : String(value);
}

/**
 * Caches GET/HEAD 200 responses with a JSON or text body. HEAD is served from the GET entry.
 * Never stores responses that set cookies or say `private`, `no-store` or `no-cache`, nor
 * requests with `Authorization` unless `user` names the user (then the key includes it).
 */
export function cacheResponse(options: CacheResponseOptions): RequestHandler {
  const where = 'cacheResponse';
  if (typeof options !== 'object' || options === null)
    throw invalidOption(where, 'options', options, 'an object with a "cache"');
  warnUnknownOptions(where, options, KNOWN, undefined);
  const { cache } = options;
  if (typeof cache !== 'object' || cache === null || typeof cache.getOrSet !== 'function')
    throw invalidOption(where, 'cache', cache, 'a cache from createCache()');
  const ttl =
    options.ttl === undefined ? undefined : checkPositiveNumber(where, 'ttl', options.ttl);
  const maxBodyBytes = checkPositiveInteger(
    where,
    'maxBodyBytes',
    options.maxBodyBytes ?? 1024 * 1024,
  );
  const { tags, vary, user } = options;
  if (tags !== undefined && typeof tags !== 'function' && !Array.isArray(tags))
    throw invalidOption(where, 'tags', tags, 'an array of strings or a function of the request');
  if (vary !== undefined && typeof vary !== 'function')
    throw invalidOption(where, 'vary', vary, 'a function of the request');
  if (user !== undefined && typeof user !== 'function')
    throw invalidOption(where, 'user', user, 'a function of the request');

  const keyFor = (req: Request): string | undefined => {
    let who = '';
    if (req.headers.authorization !== undefined) {
      const name = user?.(req);
      if (typeof name !== 'string' || name === '') return undefined;
      who = name;
    }
    const extra = vary?.(req) ?? '';
    const url = req.originalUrl ?? req.url;
    return `res:GET ${pathOf(url)}?${normalisedQuery(url)}#v=${encodeURIComponent(extra)}#u=${encodeURIComponent(who)}`;
  };

  const serve = (req: Request, res: Response, hit: CachedResponse) => {
    res.setHeader('X-Cache', 'HIT');
    res.setHeader('ETag', hit.etag);
    res.setHeader('Age', String(Math.max(0, Math.floor((Date.now() - hit.storedAt) / 1000))));
    for (const [name, value] of Object.entries(hit.headers)) res.setHeader(name, value);
    if (etagMatches(headerText(req.headers['if-none-match']), hit.etag)) {
      res.removeHeader('Content-Type');
      res.statusCode = 304;
      res.end();
      return;
    }
    const body = Buffer.from(hit.body, 'base64');
    res.statusCode = 200;
    res.setHeader('Content-Length', String(body.length));
    if (req.method === 'HEAD') res.end();
    else res.end(body);
  };

  const capture = (req: Request, res: Response, key: string) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    const collect = (chunk: unknown, encoding: unknown) => {
      if (tooBig || chunk === undefined || chunk === null || typeof chunk === 'function') return;
      const buffer = Buffer.isBuffer(chunk)
        ? chunk
        : chunk instanceof Uint8Array
          ? Buffer.from(chunk)
          : Buffer.from(
              String(chunk),
              typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8',
            );
      size += buffer.length;
      if (size > maxBodyBytes) {
        tooBig = true;
        chunks.length = 0;
        return;
      }
      chunks.push(buffer);
    };
    const originalWrite = res.write;
    const originalEnd = res.end;
    res.write = function cacheResponseWrite(this: Response, chunk: unknown, ...rest: unknown[]) {
      collect(chunk, rest[0]);
      return (originalWrite as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as Response['write'];
    res.end = function cacheResponseEnd(this: Response, chunk?: unknown, ...rest: unknown[]) {
      res.write = originalWrite;
      res.end = originalEnd;
      collect(chunk, rest[0]);
      const storable = !tooBig && req.method === 'GET' && isStorable(res);
      if (storable) {
        try {
          store();
        } catch {
          // A throwing tags() only costs the caching of this response.
        }
      }
      return (originalEnd as (...args: unknown[]) => Response).call(this, chunk, ...rest);
    } as Response['end'];
    const store = () => {
      const body = Buffer.concat(chunks);
      const etag = `"${createHash('sha1').update(body).digest('base64url')}"`;
      if (!res.headersSent) res.setHeader('ETag', etag);
      const headers: Record<string, string> = {};
      for (const name of KEPT_HEADERS) {
        const value = headerText(res.getHeader(name));
        if (value !== undefined) headers[name] = value;
      }
      const entry: CachedResponse = {
        status: 200,
        headers,
        body: body.toString('base64'),
        etag,
        storedAt: Date.now(),
      };
      const tagList = typeof tags === 'function' ? tags(req) : tags;
      const setOptions = {
        ...(ttl === undefined ? {} : { ttl }),
        ...(tagList === undefined ? {} : { tags: tagList }),
      };
      cache.set(key, entry, setOptions).catch(() => undefined);
    };
  };

  return function cacheResponseMiddleware(req: Request, res: Response, next: NextFunction): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      next();
      return;
    }
    let key: string | undefined;
    try {
      key = keyFor(req);
    } catch (error) {
      next(error);
      return;
    }
    if (key === undefined) {
      res.setHeader('X-Cache', 'BYPASS');
      next();
      return;
    }
    const found = key;
    cache.get<CachedResponse>(found).then(
      (hit) => {
        if (hit && hit.status === 200 && typeof hit.body === 'string') {
          serve(req, res, hit);
          return;
        }
        res.setHeader('X-Cache', 'MISS');
        capture(req, res, found);
        next();
      },
      () => {
        // The cache never fails a request: answer from the route.
        res.setHeader('X-Cache', 'MISS');
        next();
      },
    );
  };
}

function isStorable(res: Response): boolean {
  if (res.statusCode !== 200) return false;
  if (res.getHeader('set-cookie') !== undefined) return false;
  const cacheControl = headerText(res.getHeader('cache-control'));
  if (cacheControl && NOT_SHARED.test(cacheControl)) return false;
  const type = headerText(res.getHeader('content-type'));
  return type !== undefined && CACHEABLE_TYPE.test(type);
}
