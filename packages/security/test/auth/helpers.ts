import type { Express } from 'express';
import type { ExpressFactory } from '../../../../test/helpers/index.js';
import { principalOf } from '../../src/auth/context.js';

/** A route answering the principal as JSON (what the app sees after authenticate()). */
export function whoAmI(app: Express, path = '/me'): void {
  app.get(path, (req, res) => {
    const p = principalOf(req);
    res.json(
      p ? { id: p.id, name: p.name, roles: p.roles, source: p.source, via: p.via ?? null } : null,
    );
  });
}

export function appWith(express: ExpressFactory): Express {
  const app = express() as unknown as Express;
  app.use(express.json());
  return app;
}

/** The `name=value` of a Set-Cookie header for `name`, and the whole header line. */
export function cookieOf(
  setCookie: string | string[] | undefined,
  name: string,
): { pair: string; line: string } | undefined {
  const lines = Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : [];
  const line = lines.find((l) => l.startsWith(`${name}=`));
  if (!line) return undefined;
  return { pair: line.split(';')[0] as string, line };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
