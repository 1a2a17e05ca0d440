import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { invalidOption, warnUnknownOptions } from './errors.js';
import type { Cache } from './types.js';

export interface CacheAdminRouterOptions {
  /** The caches to expose, by their names. */
  readonly caches: readonly Cache[];
  /**
   * Decides whether a request may use the admin endpoints. Required: there is no open default.
   * Resolve `false` to answer 403.
   */
  readonly authorize: (req: Request) => boolean | Promise<boolean>;
}

const KNOWN: { [K in keyof Required<CacheAdminRouterOptions>]: true } = {
  caches: true,
  authorize: true,
};

function problem(
  req: Request,
  res: Response,
  status: number,
  title: string,
  detail: string,
  headers: Record<string, string> = {},
) {
  const requestId = res.getHeader('x-request-id');
  res.status(status);
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader('Content-Type', 'application/problem+json; charset=utf-8');
  res.end(
    JSON.stringify({
      type: 'about:blank',
      title,
      status,
      detail,
      instance: req.originalUrl,
      ...(requestId === undefined ? {} : { requestId: String(requestId) }),
    }),
  );
}

function json(res: Response, status: number, body: unknown) {
  res.status(status);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(JSON.stringify(body));
}

/**
 * Admin endpoints for caches, to mount under a path of your choice:
 * `GET /` (all caches with stats), `GET /:cache`, `DELETE /:cache` (clear),
 * `DELETE /:cache/keys/:key`, `DELETE /:cache/tags/:tag`.
 */
export function cacheAdminRouter(options: CacheAdminRouterOptions): RequestHandler {
  const where = 'cacheAdminRouter';
  if (typeof options !== 'object' || options === null)
    throw invalidOption(where, 'options', options, 'an object with "caches" and "authorize"');
  warnUnknownOptions(where, options, KNOWN, undefined);
  if (typeof options.authorize !== 'function')
    throw invalidOption(
      where,
      'authorize',
      options.authorize,
      'a function (req) => boolean; the admin endpoints are never open by default',
    );
  if (
    !Array.isArray(options.caches) ||
    options.caches.some((cache) => typeof cache?.stats !== 'function')
  )
    throw invalidOption(where, 'caches', options.caches, 'an array of caches from createCache()');
  const byName = new Map<string, Cache>();
  for (const cache of options.caches) {
    if (byName.has(cache.name))
      throw invalidOption(where, 'caches', cache.name, 'caches with distinct names');
    byName.set(cache.name, cache);
  }
  const { authorize } = options;

  const handle = async (req: Request, res: Response, next: NextFunction) => {
    const segments = req.path.split('/').filter((part) => part !== '');
    let parts: string[];
    try {
      parts = segments.map((part) => decodeURIComponent(part));
    } catch {
      problem(req, res, 400, 'Bad Request', 'the path contains malformed percent-encoding');
      return;
    }
    const shape =
      parts.length === 0
        ? 'list'
        : parts.length === 1
          ? 'cache'
          : parts.length === 3 && (parts[1] === 'keys' || parts[1] === 'tags')
            ? parts[1]
            : undefined;
    if (shape === undefined) return next();
    const allowed =
      shape === 'list'
        ? ['GET', 'HEAD']
        : shape === 'cache'
          ? ['GET', 'HEAD', 'DELETE']
          : ['DELETE'];
    if (!(await authorize(req))) {
      problem(req, res, 403, 'Forbidden', 'not authorised to administer caches');
      return;
    }
    if (!allowed.includes(req.method)) {
      problem(
        req,
        res,
        405,
        'Method Not Allowed',
        `${req.method} is not supported here; use ${allowed.join(', ')}`,
        { Allow: allowed.join(', ') },
      );
      return;
    }
    if (shape === 'list') {
      json(res, 200, { caches: [...byName.values()].map((cache) => cache.stats()) });
      return;
    }
    const cache = byName.get(parts[0] as string);
    if (!cache) {
      problem(
        req,
        res,
        404,
        'Not Found',
        `no cache named ${JSON.stringify(parts[0])}; known: ${[...byName.keys()].join(', ') || 'none'}`,
      );
      return;
    }
    if (shape === 'cache') {
      if (req.method === 'DELETE') {
        await cache.clear();
        json(res, 200, { cache: cache.name, cleared: true });
      } else {
        json(res, 200, cache.stats());
      }
      return;
    }
    const target = parts[2] as string;
    if (shape === 'keys') {
      json(res, 200, { cache: cache.name, key: target, deleted: await cache.delete(target) });
    } else {
      json(res, 200, {
        cache: cache.name,
        tag: target,
        invalidated: await cache.invalidateTag(target),
      });
    }
  };

  return function cacheAdminMiddleware(req: Request, res: Response, next: NextFunction): void {
    handle(req, res, next).catch(next);
  };
}
