import corsPackage from 'cors';
import express, { type RequestHandler } from 'express';
import { describe, expect, it } from 'vitest';
import { listen } from '../../../test/helpers/index.js';
import { type CorsOptions, cors } from '../src/cors.js';
import { captureLogger, type Reply, send } from './helpers/http.js';

const ALLOWED = 'https://app.example.com';
const OTHER = 'https://evil.example.net';

/** Sends one preflight and one simple request from `origin` through `middleware`. */
async function ask(middleware: RequestHandler, origin: string): Promise<[Reply, Reply]> {
  const app = express();
  app.use(middleware);
  app.use((_req, res) => {
    res.json({ ok: true });
  });
  const server = await listen(app);
  try {
    const preflight = await send(`${server.url}/items`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'PUT' },
    });
    const simple = await send(`${server.url}/items`, { headers: { origin } });
    return [preflight, simple];
  } finally {
    await server.close();
  }
}

type OriginOption = NonNullable<CorsOptions['origin']>;

/** The `cors` package's `origin` shapes: each allows ALLOWED and refuses OTHER. */
const shapes: Record<string, OriginOption> = {
  'a string': ALLOWED,
  'a RegExp': /^https:\/\/app\.example\.com$/,
  'a global RegExp (lastIndex does not leak between requests)': /^https:\/\/app\.example\.com$/g,
  'an array of strings and RegExps': ['https://other.example.org', /^https:\/\/app\.example\./],
  'a function answering true/false': (origin, callback) => callback(null, origin === ALLOWED),
  'a function answering asynchronously with a RegExp': (_origin, callback) => {
    setImmediate(() => callback(null, /^https:\/\/app\.example\.com$/));
  },
  'a function answering a list': (_origin, callback) =>
    callback(null, [ALLOWED, 'https://b.example.org']),
};

describe('cors({ origin }) accepts the cors package shapes', () => {
  for (const [name, origin] of Object.entries(shapes)) {
    it(`${name}: allows the listed origin like the cors package, refuses another with 403`, async () => {
      const logger = captureLogger();
      const ours = cors({ origin, credentials: true, logger });
      const [preflight, simple] = await ask(ours, ALLOWED);
      expect(preflight.status).toBe(204);
      expect(preflight.headers['access-control-allow-origin']).toBe(ALLOWED);
      expect(preflight.headers['access-control-allow-credentials']).toBe('true');
      expect(simple.headers['access-control-allow-origin']).toBe(ALLOWED);
      // the cors package itself allows the same origin for the same option
      const [theirs] = await ask(
        corsPackage({ origin: origin as never, credentials: true }),
        ALLOWED,
      );
      expect(theirs.headers['access-control-allow-origin']).toBe(ALLOWED);

      const [refused, plain] = await ask(ours, OTHER);
      expect(refused.status).toBe(403);
      expect(refused.json()).toMatchObject({ code: 'CORS_ORIGIN_NOT_ALLOWED' });
      expect(plain.status).toBe(200);
      expect(plain.headers['access-control-allow-origin']).toBeUndefined();
      expect(logger.entries.filter((e) => e.message === 'cors_rejected')).toHaveLength(2);
      expect(logger.entries.filter((e) => e.meta?.code !== undefined)).toEqual([]);
    });
  }

  it("true reflects any origin, '*' sends *, false allows none, all without warnings", async () => {
    const logger = captureLogger();
    const [reflected] = await ask(cors({ origin: true, logger }), OTHER);
    expect(reflected.headers['access-control-allow-origin']).toBe(OTHER);
    const [star] = await ask(cors({ origin: '*', logger }), OTHER);
    expect(star.headers['access-control-allow-origin']).toBe('*');
    const [none, simple] = await ask(cors({ origin: false, logger }), ALLOWED);
    expect(none.status).toBe(403);
    expect(simple.headers['access-control-allow-origin']).toBeUndefined();
    expect(logger.entries.filter((e) => e.level === 'warn')).toEqual([]);
  });

  it('an origin function that fails passes its error to next()', async () => {
    const failing = cors({
      origin: (_origin, callback) => callback(new Error('origin lookup failed')),
    });
    const app = express();
    app.use(failing);
    app.use(((err, _req, res, _next) => {
      res.status(500).json({ error: (err as Error).message });
    }) as express.ErrorRequestHandler);
    const server = await listen(app);
    try {
      const reply = await send(`${server.url}/`, { headers: { origin: ALLOWED } });
      expect(reply.status).toBe(500);
      expect(reply.json()).toEqual({ error: 'origin lookup failed' });
    } finally {
      await server.close();
    }
  });

  it('RegExps are accepted in "origins" too', async () => {
    const [preflight] = await ask(cors({ origins: [/^https:\/\/app\.example\.com$/] }), ALLOWED);
    expect(preflight.headers['access-control-allow-origin']).toBe(ALLOWED);
  });
});

describe('cors({ origin }) refuses what it cannot honour with the option error', () => {
  const cases: Record<string, [CorsOptions, RegExp]> = {
    'a number': [{ origin: 42 as never }, /cors "origin" must be an origin string.*got 42/],
    'an object': [{ origin: { a: 1 } as never }, /cors "origin" must be .*got \{"a":1\}/],
    'a path, not an origin': [
      { origin: 'https://app.example.com/login' },
      /cors "origin" entries are origins like .*got "https:\/\/app.example.com\/login"/,
    ],
    'an array with a number': [
      { origin: [ALLOWED, 7] as never },
      /cors "origin" entries are .*got 7/,
    ],
    'true with credentials': [
      { origin: true, credentials: true },
      /cors "origin" true with "credentials: true" would let every site/,
    ],
    "'*' with credentials": [
      { origin: '*', credentials: true },
      /cors "origin" '\*' with "credentials: true"/,
    ],
    'both origin and origins': [
      { origin: ALLOWED, origins: [ALLOWED] },
      /cors got "origin" .* and "origins"; keep one/,
    ],
  };
  for (const [name, [options, message]] of Object.entries(cases)) {
    it(name, () => {
      let thrown: unknown;
      try {
        cors({ ...options, warnings: false });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(TypeError);
      expect(thrown).toMatchObject({ code: 'SHIPSHAPE_SECURITY_INVALID_OPTION' });
      expect((thrown as Error).message).toMatch(/^@shipshape\/security: cors /);
      expect((thrown as Error).message).toMatch(message);
    });
  }
});
