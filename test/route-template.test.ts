// One table, two copies: @shipshape/health's httpMetrics label and @shipshape/logger's access-line
// route come from separate implementations (packages do not import each other), so both run here
// against the same real Express requests, on Express 4 and 5.
import type { NextFunction, Request, Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeTemplates } from '../packages/health/src/route-template.js';
import { routeTemplate } from '../packages/logger/src/access.js';
import { expressVersions, type Listening, listen } from './helpers/index.js';

interface Case {
  readonly name: string;
  readonly method?: 'GET' | 'POST';
  readonly url: string;
  /** The template both copies must give; `null` for a request no route matched. */
  readonly template: string | null;
  readonly status: number;
}

const cases: readonly Case[] = [
  { name: 'root route', url: '/', template: '/', status: 200 },
  { name: 'plain route', url: '/plain', template: '/plain', status: 200 },
  {
    name: 'query string is not part of it',
    url: '/plain?x=1&y=2',
    template: '/plain',
    status: 200,
  },
  { name: 'param', url: '/users/42', template: '/users/:id', status: 200 },
  { name: 'trailing slash', url: '/users/42/', template: '/users/:id', status: 200 },
  { name: 'two params', url: '/users/42/posts/7', template: '/users/:id/posts/:post', status: 200 },
  { name: 'method route', method: 'POST', url: '/users', template: '/users', status: 201 },
  { name: 'route array', url: '/alias-b', template: '/alias-a,/alias-b', status: 200 },
  { name: 'mounted router', url: '/api/items/5', template: '/api/items/:id', status: 200 },
  { name: 'mounted router root', url: '/api/items', template: '/api/items', status: 200 },
  {
    name: 'nested routers',
    url: '/api/v1/orders/9/lines',
    template: '/api/v1/orders/:order/lines',
    status: 200,
  },
  { name: 'sub-app', url: '/admin/stats', template: '/admin/stats', status: 200 },
  {
    name: 'router inside a sub-app',
    url: '/admin/users/3',
    template: '/admin/users/:id',
    status: 200,
  },
  {
    name: 'route error answered by the app error handler (prefix restored from the path)',
    url: '/api/items/5/fail',
    template: '/api/items/:id/fail',
    status: 500,
  },
  {
    name: 'async route error in a nested router, answered by the app',
    url: '/api/v1/orders/9/fail?x=1',
    template: '/api/v1/orders/:order/fail',
    status: 500,
  },
  {
    name: 'route next() to a 404 of the app',
    url: '/api/items/5/pass',
    template: '/api/items/:id/pass',
    status: 404,
  },
  { name: 'regex route', url: '/files/a/b.txt', template: String(/^\/files\/(.*)$/), status: 200 },
  {
    name: 'regex route in a mounted router',
    url: '/api/re/77',
    template: `/api${String(/^\/re\/(\d+)$/)}`,
    status: 200,
  },
  {
    name: 'sub-app route error answered by the outer app',
    url: '/admin/fail',
    template: '/admin/fail',
    status: 500,
  },
  {
    name: 'regex route error in a mounted router, answered by the app (no fixed shape: no prefix)',
    url: '/api/re-fail/1',
    template: String(/^\/re-fail\/(\d+)$/),
    status: 500,
  },
  // Wildcards and optional parts are written differently in each major; the label is the pattern.
  { name: 'wildcard', url: '/wild/a/b', template: 'WILDCARD', status: 200 },
  { name: 'optional param, given', url: '/opt/1', template: 'OPTIONAL', status: 200 },
  { name: 'optional param, left out', url: '/opt', template: 'OPTIONAL', status: 200 },
  { name: '404', url: '/no/such/thing?q=1', template: null, status: 404 },
  { name: '404 under a router prefix', url: '/api/nothing', template: null, status: 404 },
];

interface Seen {
  readonly health: string | undefined;
  readonly logger: string;
  readonly path: string;
}

for (const version of expressVersions) {
  describe(`route template, both copies (${version.label})`, () => {
    const express = version.express;
    const templates = routeTemplates();
    const seen = new Map<string, (value: Seen) => void>();
    let server: Listening;
    const wildcard = version.major === 5 ? '/wild/*rest' : '/wild/*';
    const optional = version.major === 5 ? '/opt{/:a}' : '/opt/:a?';
    const expected = (t: string | null) =>
      t === 'WILDCARD' ? wildcard : t === 'OPTIONAL' ? optional : t;

    beforeAll(async () => {
      const app = express();
      // What harden() does: read the template when the response has finished, after every
      // router has handed the request back.
      app.use((req: Request, res: Response, next: NextFunction) => {
        res.on('finish', () => {
          const done = seen.get(String(req.headers['x-case']));
          done?.({
            health: templates.of(req),
            logger: routeTemplate(req),
            path: (req.originalUrl ?? '').split('?')[0] ?? '',
          });
        });
        next();
      });
      const ok = (_req: Request, res: Response) => {
        res.send('ok');
      };
      app.get('/', ok);
      app.get('/plain', ok);
      app.get('/users/:id', ok);
      app.get('/users/:id/posts/:post', ok);
      app.post('/users', (_req: Request, res: Response) => {
        res.status(201).send('created');
      });
      app.get(['/alias-a', '/alias-b'], ok);
      app.get(/^\/files\/(.*)$/, ok);
      app.get(wildcard, ok);
      app.get(optional, ok);

      const items = express.Router();
      items.get('/', ok);
      items.get('/:id', ok);
      items.get('/:id/fail', () => {
        throw new Error('boom');
      });
      items.get('/:id/pass', (_req: Request, _res: Response, next: NextFunction) => next());
      const re = express.Router();
      re.get(/^\/re\/(\d+)$/, ok);
      re.get(/^\/re-fail\/(\d+)$/, () => {
        throw new Error('boom');
      });
      const orders = express.Router();
      orders.get('/:order/lines', ok);
      orders.get('/:order/fail', async (_req: Request, _res: Response, next: NextFunction) => {
        await Promise.resolve();
        next(new Error('async boom'));
      });
      const v1 = express.Router();
      v1.use('/orders', orders);
      const api = express.Router();
      api.use('/items', items);
      api.use('/v1', v1);
      api.use(re);
      app.use('/api', api);

      const admin = express();
      admin.get('/stats', ok);
      admin.get('/fail', () => {
        throw new Error('boom');
      });
      const adminUsers = express.Router();
      adminUsers.get('/:id', ok);
      admin.use('/users', adminUsers);
      app.use('/admin', admin);

      app.use((_req: Request, res: Response) => {
        res.status(404).send('not found');
      });
      app.use((_err: unknown, _req: Request, res: Response, _next: NextFunction) => {
        res.status(500).send('error');
      });
      server = await listen(app);
    });
    afterAll(() => server.close());

    it.each(cases)('$name', async (c) => {
      const got = new Promise<Seen>((resolve) => seen.set(c.name, resolve));
      const res = await fetch(`${server.url}${c.url}`, {
        method: c.method ?? 'GET',
        headers: { 'x-case': c.name },
      });
      expect(res.status).toBe(c.status);
      const { health, logger, path } = await got;
      const template = expected(c.template);
      if (template === null) {
        // No route: health gives no label (the middleware uses its own), the access line the path.
        expect(health).toBeUndefined();
        expect(logger).toBe(path);
      } else {
        expect({ health, logger }).toEqual({ health: template, logger: template });
      }
    });
  });
}
