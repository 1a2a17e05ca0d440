// The probe router: `/health*` and `/metrics` answered with node:http directly, everything else
// passed on.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { HEALTH_JSON, type HealthDetailed, type HealthDocument } from './health-document.js';
import { DEFAULT_BASE_PATH, PROBE_PATHS, type ReportScope } from './probe-paths.js';
import type {
  CheckStatus,
  HealthHistory,
  HealthLogger,
  Middleware,
  ProbeReport,
  RouterOptions,
} from './types.js';
import { assertObject, bool, fail, optionalFunction, warnUnknownKeys } from './validate.js';

const knownRouterOptions: { readonly [K in keyof Required<RouterOptions>]: true } = {
  basePath: true,
  metricsPath: true,
  authorize: true,
  authorizeMetrics: true,
};

/** What the router serves, from its health instance. */
export interface RouterSource {
  readonly registry: Registry;
  readonly logger: HealthLogger | undefined;
  report(scope: ReportScope): Promise<ProbeReport>;
  /** The statuses-only health+json document of a probe's report. */
  document(report: ProbeReport): HealthDocument;
  detailed(): Promise<HealthDetailed>;
  history(): HealthHistory;
  version(): unknown;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export function createHealthRouter(
  source: RouterSource,
  routerOptions: RouterOptions = {},
): Middleware {
  assertObject('router', 'options', routerOptions);
  warnUnknownKeys('router', routerOptions, knownRouterOptions, source.logger);
  const basePath = normalizeBasePath('router', routerOptions.basePath, DEFAULT_BASE_PATH);
  const rawMetricsPath = routerOptions.metricsPath;
  let metricsPath: string | undefined = '/metrics';
  if (rawMetricsPath === false) metricsPath = undefined;
  else if (rawMetricsPath !== undefined) {
    if (typeof rawMetricsPath !== 'string' || !rawMetricsPath.startsWith('/')) {
      fail('router', 'metricsPath', rawMetricsPath, 'a path starting with "/" or false');
    }
    metricsPath = rawMetricsPath;
  }
  const authorize = optionalFunction<Middleware>('router', 'authorize', routerOptions.authorize);
  const authorizeMetrics = bool(
    'router',
    'authorizeMetrics',
    routerOptions.authorizeMetrics,
    false,
  );
  const root = basePath === '/' ? '' : basePath;
  const { registry } = source;

  // Probes answer a compact `application/json` summary (`checks: { name: status }`) unless the
  // client asks for the IETF format, which maps each check to an array of objects.
  const probe =
    (scope: ReportScope): Handler =>
    async (req, res) => {
      const r = await source.report(scope);
      res.setHeader('vary', 'accept');
      if (acceptsHealthJson(req)) {
        send(req, res, r.httpStatus, HEALTH_JSON, source.document(r));
        return;
      }
      const checks: Record<string, CheckStatus> = {};
      for (const c of r.checks) checks[c.name] = c.status;
      send(req, res, r.httpStatus, 'application/json', {
        status: r.status,
        state: r.state,
        checks,
      });
    };

  const routes = new Map<string, { handler: Handler; guarded: boolean }>();
  for (const [scope, path] of Object.entries(PROBE_PATHS) as [ReportScope, string][]) {
    routes.set(`${root}${path}` || '/', { handler: probe(scope), guarded: false });
  }
  routes.set(`${root}/detailed`, {
    guarded: true,
    handler: async (req, res) => {
      const d = await source.detailed();
      send(req, res, d.status === 'fail' ? 503 : 200, HEALTH_JSON, d);
    },
  });
  routes.set(`${root}/history`, {
    guarded: true,
    handler: async (req, res) => send(req, res, 200, 'application/json', source.history()),
  });
  routes.set(`${root}/version`, {
    guarded: false,
    handler: async (req, res) => send(req, res, 200, 'application/json', source.version()),
  });
  if (metricsPath !== undefined) {
    routes.set(metricsPath, {
      guarded: authorizeMetrics,
      handler: async (req, res) => {
        const text = await registry.metrics();
        sendRaw(req, res, 200, registry.contentType, text);
      },
    });
  }

  const prefixes = [root || '/', ...(metricsPath === undefined ? [] : [metricsPath])];
  return function healthRouter(req, res, next) {
    // Cheap reject for the app's own traffic before any URL parsing.
    const url = req.url ?? '/';
    let candidate = false;
    for (const p of prefixes) if (url.startsWith(p)) candidate = true;
    if (!candidate) {
      next();
      return;
    }
    const route = routes.get(requestPath(req));
    if (route === undefined) {
      next();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      send(req, res, 405, 'application/problem+json', {
        type: 'about:blank',
        title: 'Method Not Allowed',
        status: 405,
        detail: `${req.method} is not allowed on ${requestPath(req)}; use GET or HEAD`,
        ...requestId(res),
      });
      return;
    }
    const run = () => {
      route.handler(req, res).catch(next);
    };
    if (route.guarded && authorize) {
      try {
        authorize(req, res, (err?: unknown) => {
          if (err !== undefined && err !== null && err !== 'route') next(err);
          else run();
        });
      } catch (err) {
        next(err);
      }
      return;
    }
    run();
  };
}

/** Whether `Accept` names `application/health+json` with a non-zero q. */
function acceptsHealthJson(req: IncomingMessage): boolean {
  const accept = req.headers.accept?.toLowerCase();
  if (accept === undefined || !accept.includes('health+json')) return false;
  for (const range of accept.split(',')) {
    const [type = '', ...params] = range.split(';');
    if (type.trim() !== HEALTH_JSON) continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  }
  return false;
}

function normalizeBasePath(where: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !value.startsWith('/')) {
    fail(where, 'basePath', value, 'a path starting with "/"');
  }
  return value.length > 1 && value.endsWith('/') ? value.slice(0, -1) : value;
}

function requestPath(req: IncomingMessage & { path?: string }): string {
  if (typeof req.path === 'string') return req.path;
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function requestId(res: ServerResponse): { requestId?: string } {
  const id = res.getHeader('x-request-id');
  return typeof id === 'string' ? { requestId: id } : {};
}

function send(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  type: string,
  body: unknown,
): void {
  sendRaw(req, res, status, `${type}; charset=utf-8`, JSON.stringify(body));
}

// Raw node:http on purpose: no ETag, so a probe is never answered 304 from a cache.
function sendRaw(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
): void {
  res.statusCode = status;
  res.setHeader('content-type', type);
  res.setHeader('cache-control', 'no-store');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(req.method === 'HEAD' ? undefined : body);
}
