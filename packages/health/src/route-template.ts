/**
 * The `route` label of the HTTP metrics: mount prefix + matched route path.
 *
 * `req.baseUrl` holds the mount prefix only while the request is inside the router. When a
 * route inside a mounted router fails (or calls `next()`) and an app-level handler answers,
 * Express has restored `req.baseUrl` to the parent's value by the time the response ends, while
 * `req.route` is still the mounted route. For a route of fixed shape (literal segments and plain
 * `:params`) the prefix is then recovered from the request path: the segments in front of the
 * route's own. (@shipshape/logger's access line does the same; packages do not import each
 * other, see ARCHITECTURE.md.)
 */

export interface RouteLike {
  readonly path?: unknown;
}

export interface RoutedRequest {
  readonly route?: RouteLike | null;
  readonly baseUrl?: string;
  readonly originalUrl?: string;
  readonly url?: string;
}

const SLASH = 47;
const MAX_BASES_PER_ROUTE = 256;

/** Non-empty path segments before any query string: 3 for "/api/items/42/?x=1". */
function countSegments(path: string): number {
  let n = 0;
  let inSegment = false;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 63 /* ? */) break;
    if (c === SLASH) inSegment = false;
    else if (!inSegment) {
      inSegment = true;
      n++;
    }
  }
  return n;
}

/** The first `n` non-empty segments of a path with their slashes: "/api/v1" for n = 2. */
function leadingSegments(path: string, n: number): string {
  let seen = 0;
  let inSegment = false;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === SLASH || c === 63) {
      if (inSegment && seen === n) return path.slice(0, i);
      if (c === 63) break;
      inSegment = false;
    } else if (!inSegment) {
      inSegment = true;
      seen++;
    }
  }
  return path;
}

export interface RouteTemplates {
  /** The label for a request that matched a route, or `undefined` when none matched. */
  of(req: RoutedRequest): string | undefined;
}

export function routeTemplates(): RouteTemplates {
  // route object -> its segment count (-1: wildcards, optional parts, regular expressions).
  const segments = new WeakMap<object, number>();
  // route object -> mount prefix -> template: no string building per request once warm.
  const templates = new WeakMap<object, Map<string, string>>();

  function ownSegments(route: RouteLike): number {
    let n = segments.get(route);
    if (n === undefined) {
      n =
        typeof route.path === 'string' && !/[*?+(){}[\]]/.test(route.path)
          ? countSegments(route.path)
          : -1;
      segments.set(route, n);
    }
    return n;
  }

  return {
    of(req) {
      const route = req.route;
      if (route === undefined || route === null) return undefined;
      let base = req.baseUrl ?? '';
      const own = ownSegments(route);
      if (own >= 0) {
        const path = req.originalUrl ?? req.url ?? '';
        const prefix = countSegments(path) - own;
        if (prefix >= 0 && prefix !== countSegments(base)) base = leadingSegments(path, prefix);
      }
      let byBase = templates.get(route);
      if (byBase === undefined) {
        byBase = new Map();
        templates.set(route, byBase);
      }
      let template = byBase.get(base);
      if (template === undefined) {
        const p = typeof route.path === 'string' ? route.path : String(route.path);
        // router.get('/') mounted at /api/items is "/api/items", not "/api/items/".
        template = base !== '' && p === '/' ? base : base + p;
        // A router mounted at a path with parameters gives one base per value; bound the cache.
        if (byBase.size < MAX_BASES_PER_ROUTE) byBase.set(base, template);
      }
      return template;
    },
  };
}
