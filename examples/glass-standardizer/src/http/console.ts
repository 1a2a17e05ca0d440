import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Authenticator, principalOf, SecurityError } from '@shipshape/security';
import { type Request, type Response, Router } from 'express';

/** The console's static files: `examples/glass-standardizer/public/`. */
export const PUBLIC_DIR = fileURLToPath(new URL('../../public/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

function asset(path: string): Asset {
  const body = readFileSync(path);
  return {
    body,
    type: TYPES[extname(path)] ?? 'application/octet-stream',
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
  };
}

/** Chart.js, served from the installed package (no CDN: the service may have no internet). */
function chartJs(): string {
  const main = createRequire(import.meta.url).resolve('chart.js');
  return join(dirname(main), 'chart.umd.min.js');
}

/** Pages by path; each is a static HTML file whose scripts and styles are same-origin files. */
const PAGES: Record<string, string> = {
  '/sign-in': 'sign-in.html',
  '/datasets': 'datasets.html',
  '/upload': 'upload.html',
  '/datasets/:id': 'dataset.html',
  '/monitoring': 'monitoring.html',
};

function send(req: Request, res: Response, file: Asset, cacheControl: string) {
  res.setHeader('Cache-Control', cacheControl);
  res.setHeader('ETag', file.etag);
  if (req.headers['if-none-match'] === file.etag) {
    res.status(304).end();
    return;
  }
  res.status(200).type(file.type).send(file.body);
}

function csrfToken(req: Request): string | null {
  try {
    return req.csrfToken?.() ?? null;
  } catch {
    return null;
  }
}

export interface ConsoleOptions {
  readonly auth: Authenticator;
  /** Read the files on every request (development); otherwise once, at start. @default false */
  readonly reload?: boolean;
}

/**
 * The web console (same origin as the API): sign-in, datasets, upload, dataset report with
 * downloads and charts, monitoring; and the session endpoints it signs in and out with.
 */
export function consoleRouter(options: ConsoleOptions): Router {
  const { auth } = options;
  const router = Router();
  const files = new Map<string, Asset>();
  const load = (name: string, path: string) => {
    if (!options.reload && files.has(name)) return files.get(name) as Asset;
    const file = asset(path);
    files.set(name, file);
    return file;
  };
  const assetsDir = join(PUBLIC_DIR, 'assets');
  const assetNames = new Set(
    readdirSync(assetsDir).filter((n) => statSync(join(assetsDir, n)).isFile()),
  );
  const vendor = chartJs();
  // Fail at start, not at the first page view, when a file is missing.
  for (const page of Object.values(PAGES)) load(page, join(PUBLIC_DIR, page));
  load('vendor/chart.umd.min.js', vendor);

  router.get('/', (_req, res) => {
    res.redirect(302, '/datasets');
  });
  for (const [path, page] of Object.entries(PAGES))
    router.get(path, (req, res) => {
      send(req, res, load(page, join(PUBLIC_DIR, page)), 'no-cache');
    });
  router.get('/assets/vendor/chart.umd.min.js', (req, res) => {
    send(req, res, load('vendor/chart.umd.min.js', vendor), 'public, max-age=3600');
  });
  router.get('/assets/:name', (req, res, next) => {
    const name = String(req.params.name);
    if (!assetNames.has(name)) return next();
    send(req, res, load(name, join(assetsDir, name)), 'no-cache');
  });

  const current = (req: Request, res: Response, withToken = true) => {
    const principal = principalOf(req);
    if (!principal)
      throw new SecurityError({ status: 401, code: 'AUTH_REQUIRED', detail: 'not signed in' });
    res.set('Cache-Control', 'no-store').json({
      id: principal.id,
      name: principal.name,
      roles: principal.roles,
      via: principal.via ?? principal.source,
      // The CSRF token is bound to the session id, which the browser has only once it kept the
      // cookie of a sign-in: it comes with GET /auth/session.
      csrfToken: withToken ? csrfToken(req) : null,
      idleTimeoutMs: auth.sessions?.idleTimeoutMs ?? null,
    });
  };
  router.get('/auth/session', auth, (req, res) => current(req, res));
  router.post('/auth/session', async (req, res) => {
    const key = (req.body as { key?: unknown } | undefined)?.key;
    await auth.signIn(req, res, typeof key === 'string' ? key.trim() : '');
    current(req, res, false);
  });
  router.delete('/auth/session', async (req, res) => {
    await auth.signOut(req, res);
    res.status(204).end();
  });
  return router;
}
