import { createServer } from 'node:http';
import pg from 'pg';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  listen,
  POSTGRES_URL,
  REDIS_URL,
  type SpareRedis,
  serviceAvailable,
  startSpareRedis,
} from '../../../test/helpers/index.js';
import {
  cpuCheck,
  createHealth,
  diskCheck,
  eventLoopCheck,
  type Health,
  httpCheck,
  memoryCheck,
  postgresCheck,
  redisCheck,
} from '../src/index.js';
import {
  type PrivatePostgres,
  privatePostgresUnavailable,
  startPrivatePostgres,
} from './private-postgres.js';

const redisUp = await serviceAvailable('redis');
const postgresUp = await serviceAvailable('postgres');

const opened: Health[] = [];
function health(...args: Parameters<typeof createHealth>): Health {
  const h = createHealth({
    defaultMetrics: false,
    processMetrics: false,
    cacheTtlMs: 0,
    ...args[0],
  });
  opened.push(h);
  return h;
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((h) => h.close()));
});

async function statusOf(h: Health, name: string) {
  const r = await h.report('all');
  const c = r.checks.find((x) => x.name === name);
  if (!c) throw new Error(`no result for ${name}`);
  return c;
}

async function eventually(h: Health, name: string, status: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  let last = await statusOf(h, name);
  while (last.status !== status && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    last = await statusOf(h, name);
  }
  return last;
}

describe('process checks', () => {
  it('memoryCheck reports the heap ratio and fails above maxRssBytes', async () => {
    const h = health({
      checks: [memoryCheck(), memoryCheck({ name: 'tiny', maxRssBytes: 1, critical: true })],
    });
    const r = await h.report('all');
    expect(r.checks[0]).toMatchObject({
      name: 'memory',
      status: 'pass',
      observedUnit: 'heap ratio',
      critical: false,
    });
    expect(r.checks[0]?.observedValue).toBeGreaterThan(0);
    expect(r.checks[1]).toMatchObject({ name: 'tiny', status: 'fail', observedUnit: 'bytes' });
    expect(r.checks[1]?.output).toMatch(/^RSS \d+ bytes is above maxRssBytes 1$/);
  });

  it('eventLoopCheck measures a blocked loop', async () => {
    const h = health({
      checks: [eventLoopCheck({ warnP99Ms: 20, maxP99Ms: 10_000, resolutionMs: 5 })],
    });
    expect((await statusOf(h, 'eventLoop')).output).toBe('first run: sampling started');
    await new Promise((r) => setTimeout(r, 30));
    const until = Date.now() + 80;
    while (Date.now() < until) {
      /* block the loop */
    }
    await new Promise((r) => setTimeout(r, 30));
    const c = await statusOf(h, 'eventLoop');
    expect(c.status).toBe('warn');
    expect(c.observedValue).toBeGreaterThanOrEqual(20);
    expect(c.observedUnit).toBe('ms');
  });

  it('diskCheck reads free space with statfs; thresholds fail it; a bad path fails with the error', async () => {
    const h = health({
      checks: [
        diskCheck({ path: '/' }),
        diskCheck({ name: 'huge', path: '/', minFreeBytes: Number.MAX_SAFE_INTEGER }),
        diskCheck({ name: 'missing', path: '/definitely/not/here' }),
      ],
    });
    const r = await h.report('all');
    expect(r.checks[0]).toMatchObject({
      status: expect.stringMatching(/pass|warn|fail/),
      observedUnit: 'bytes',
    });
    expect(r.checks[0]?.observedValue).toBeGreaterThan(0);
    expect(r.checks[1]?.status).toBe('fail');
    expect(r.checks[1]?.output).toContain('below minFreeBytes');
    expect(r.checks[2]?.status).toBe('fail');
    expect(r.checks[2]?.output).toContain('ENOENT');
  });

  it('cpuCheck samples pidusage', async () => {
    const h = health({ checks: [cpuCheck({ warnPercent: 10_000 })] });
    const c = await statusOf(h, 'cpu');
    expect(c.status).toBe('pass');
    expect(c.observedUnit).toBe('percent');
    expect(typeof c.observedValue).toBe('number');
  });

  it('built-in factories validate their options', () => {
    expect(() => memoryCheck({ maxHeapRatio: 2 })).toThrow(
      '@shipshape/health: memoryCheck "maxHeapRatio" must be a number between 0 and 1, got 2',
    );
    expect(() => diskCheck({ path: '' })).toThrow('diskCheck "path" must be a non-empty string');
    expect(() => cpuCheck({ warnPercent: 'x' as never })).toThrow(
      'cpuCheck "warnPercent" must be a finite number',
    );
    expect(() => redisCheck({} as never)).toThrow(
      'redisCheck "client" must be a Redis client with sendCommand(args) or ping()',
    );
    expect(() => postgresCheck(null as never)).toThrow(
      'postgresCheck "poolOrClient" must be a pg Pool or Client',
    );
    expect(() => httpCheck('ftp://x')).toThrow(
      'httpCheck "url" must be an absolute http(s) URL, got "ftp://x"',
    );
    expect(() => httpCheck('/relative')).toThrow('httpCheck "url" must be an absolute http(s) URL');
    expect(() => eventLoopCheck({ timeoutMs: 0 })).toThrow(
      'eventLoopCheck "timeoutMs" must be a positive integer',
    );
  });
});

describe('httpCheck', () => {
  it('passes on 2xx, fails on 5xx, fails when nothing listens, times out a hanging server', async () => {
    const server = createServer((req, res) => {
      if (req.url === '/ok') res.end('fine');
      else if (req.url === '/bad') {
        res.statusCode = 502;
        res.end('bad');
      }
      // '/hang' never answers
    });
    const l = await listen((req, res) => server.emit('request', req, res));
    const dead = await listen(() => undefined);
    const deadUrl = dead.url;
    await dead.close();
    try {
      const h = health({
        checks: [
          httpCheck(`${l.url}/ok`, { name: 'ok' }),
          httpCheck(`${l.url}/bad`, { name: 'bad' }),
          httpCheck(`${deadUrl}/`, { name: 'dead' }),
          httpCheck(`${l.url}/hang`, { name: 'hang', timeoutMs: 200 }),
          httpCheck(`${l.url}/bad`, { name: 'lenient', expectStatus: (s) => s < 600 }),
        ],
      });
      const r = await h.report('all');
      const by = Object.fromEntries(r.checks.map((c) => [c.name, c]));
      expect(by.ok).toMatchObject({ status: 'pass', observedValue: 200, componentType: 'http' });
      expect(by.bad).toMatchObject({ status: 'fail', output: `GET ${l.url}/bad answered 502` });
      expect(by.dead?.status).toBe('fail');
      expect(by.hang).toMatchObject({ status: 'fail', output: 'timed out after 200 ms' });
      expect(by.lenient?.status).toBe('pass');
    } finally {
      await l.close();
    }
  });
});

describe.skipIf(!redisUp)('redisCheck against real Redis', () => {
  it('passes against the shared server through sendCommand and through ping()', async () => {
    const client = createClient({ url: REDIS_URL });
    client.on('error', () => undefined);
    await client.connect();
    try {
      const viaPing = { ping: () => client.ping() };
      const h = health({
        checks: [redisCheck(client), redisCheck(viaPing, { name: 'redis-ping' })],
      });
      const r = await h.report('all');
      expect(r.checks.map((c) => [c.name, c.status, c.componentType])).toEqual([
        ['redis', 'pass', 'datastore'],
        ['redis-ping', 'pass', 'datastore'],
      ]);
    } finally {
      client.destroy();
    }
  });

  describe('a private redis-server really stopped and restarted', () => {
    let spare: SpareRedis;
    beforeAll(async () => {
      spare = await startSpareRedis();
    });
    afterAll(async () => {
      await spare?.stop();
    });

    it('readiness fails while Redis is down and recovers after restart; liveness never fails', async () => {
      const client = createClient({ url: spare.url, socket: { reconnectStrategy: () => 100 } });
      client.on('error', () => undefined);
      await client.connect();
      const h = health({ checks: [redisCheck(client, { timeoutMs: 500 })], initialState: 'ready' });
      try {
        expect((await h.report('readiness')).httpStatus).toBe(200);
        await spare.stop();
        const down = await eventually(h, 'redis', 'fail');
        expect(down.status).toBe('fail');
        expect((await h.report('readiness')).httpStatus).toBe(503);
        expect((await h.report('liveness')).httpStatus).toBe(200);
        await spare.start();
        const up = await eventually(h, 'redis', 'pass');
        expect(up.status).toBe('pass');
        expect((await h.report('readiness')).httpStatus).toBe(200);
        const transitions = h.history().checks.redis?.transitions.map((t) => t.to);
        expect(transitions).toEqual(['pass', 'fail', 'pass']);
      } finally {
        client.destroy();
      }
    });
  });
});

describe.skipIf(!postgresUp)('postgresCheck against real PostgreSQL', () => {
  it('passes against the shared server with a Pool and with a Client', async () => {
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      const h = health({
        checks: [postgresCheck(pool), postgresCheck(client, { name: 'pg-client' })],
      });
      const r = await h.report('all');
      expect(r.checks.map((c) => [c.name, c.status])).toEqual([
        ['postgres', 'pass'],
        ['pg-client', 'pass'],
      ]);
    } finally {
      await client.end();
      await pool.end();
    }
  });

  const unavailable = privatePostgresUnavailable();
  if (unavailable) console.warn(`[skip] private PostgreSQL fault test: ${unavailable}`);
  describe.skipIf(unavailable !== undefined)(
    'a private PostgreSQL really stopped and restarted',
    () => {
      let server: PrivatePostgres;
      beforeAll(async () => {
        server = await startPrivatePostgres();
      }, 60_000);
      afterAll(async () => {
        await server?.destroy();
      });

      it('readiness fails while PostgreSQL is down and recovers after restart (pg.Pool)', async () => {
        const pool = new pg.Pool({
          connectionString: server.url,
          max: 2,
          connectionTimeoutMillis: 1000,
        });
        pool.on('error', () => undefined);
        const h = health({
          checks: [postgresCheck(pool, { timeoutMs: 1500 })],
          initialState: 'ready',
        });
        try {
          expect((await h.report('readiness')).httpStatus).toBe(200);
          await server.stop();
          const down = await eventually(h, 'postgres', 'fail');
          expect(down.status).toBe('fail');
          expect((await h.report('readiness')).httpStatus).toBe(503);
          expect((await h.report('liveness')).httpStatus).toBe(200);
          await server.start();
          const up = await eventually(h, 'postgres', 'pass');
          expect(up.status).toBe('pass');
          expect(h.history().checks.postgres?.transitions.map((t) => t.to)).toEqual([
            'pass',
            'fail',
            'pass',
          ]);
        } finally {
          await pool.end();
        }
      }, 60_000);
    },
  );
});
