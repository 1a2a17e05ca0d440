// In-process behaviour with `exit: false`: options, startup, states, hooks, work, dispose.
import { Agent, createServer, request, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { describeEachExpress, freePort } from '../../../test/helpers/index.js';
import { resolveConfig } from '../src/config.js';
import { createLifecycle, type Lifecycle, type LifecycleState } from '../src/index.js';
import { get } from './child.js';

interface Line {
  level: string;
  message: string;
  meta: Record<string, unknown> | undefined;
}

function memoryLogger() {
  const lines: Line[] = [];
  const at = (level: string) => (message: string, meta?: Record<string, unknown>) => {
    lines.push({ level, message, meta });
  };
  return { lines, logger: { info: at('info'), warn: at('warn'), error: at('error') } };
}

const created: Lifecycle[] = [];
/** Every lifecycle made here uses exit: false, no signals, and is disposed after its test. */
function make(options: Parameters<typeof createLifecycle>[0] = {}) {
  const { lines, logger } = memoryLogger();
  const states: LifecycleState[] = [];
  const lifecycle = createLifecycle({
    exit: false,
    signals: [],
    handleUncaughtException: false,
    unhandledRejection: 'off',
    logger,
    health: { setState: (s) => states.push(s) },
    ...options,
  });
  created.push(lifecycle);
  return { lifecycle, lines, states };
}

afterEach(async () => {
  for (const lifecycle of created.splice(0)) {
    if (lifecycle.state !== 'stopped' && lifecycle.server?.listening) await lifecycle.shutdown();
    lifecycle.dispose();
  }
});

describe('options', () => {
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ readinessDelayMs: -1 }, /"readinessDelayMs" must be a non-negative integer .* got -1/],
    [{ drainTimeoutMs: '25s' }, /"drainTimeoutMs" must be .* got "25s"/],
    [{ hookTimeoutMs: 1.5 }, /"hookTimeoutMs" must be .* got 1.5/],
    [{ drainTimeoutMs: 2 ** 31 }, /"drainTimeoutMs" must be at most 2147483647/],
    [{ signals: 'SIGTERM' }, /"signals" must be an array/],
    [{ signals: ['SIGFOO'] }, /unknown signal "SIGFOO"/],
    [{ signals: ['SIGKILL'] }, /cannot include SIGKILL/],
    [{ app: () => {}, server: createServer() }, /either "server" or "app", not both/],
    [{ app: 'express' }, /"app" must be an Express app .* got "express"/],
    [{ server: {} }, /"server" must be an http.Server/],
    [{ port: 70000 }, /"port" must be an integer from 0 to 65535, got 70000/],
    [{ health: { set: () => {} } }, /"health" must have a setState\(state\) method/],
    [{ logger: { info: () => {} } }, /"logger" must have info, warn and error methods/],
    [
      { timeouts: { headersTimeout: 10, requestTimeout: 5 } },
      /headersTimeout" \(10\) must not exceed/,
    ],
    [{ timeouts: { idleTimeout: 5 } }, /"timeouts.idleTimeout" is not a known timeout/],
    [{ timeouts: true }, /"timeouts" must be an object or false, got true/],
    [{ exit: 'no' }, /"exit" must be a boolean, got "no"/],
    [{ unhandledRejection: 'crash' }, /"unhandledRejection" must be "fatal", "log" or "off"/],
  ];
  for (const [options, message] of bad) {
    it(`throws at factory time for ${JSON.stringify(options)}`, () => {
      expect(() => createLifecycle(options as never)).toThrow(message);
      expect(() => createLifecycle(options as never)).toThrow(/^@shipshape\/lifecycle: /);
      expect(() => createLifecycle(options as never)).toThrow(
        expect.objectContaining({ name: 'TypeError', code: 'SHIPSHAPE_LIFECYCLE_INVALID_OPTION' }),
      );
    });
  }

  it('gives bad arguments a code too', async () => {
    const { lifecycle } = make();
    expect(() => lifecycle.onShutdown('', () => {})).toThrow(
      expect.objectContaining({ code: 'SHIPSHAPE_LIFECYCLE_INVALID_ARGUMENT' }),
    );
    expect(() => lifecycle.onShutdown('db', () => {}, { timeoutMs: -1 })).toThrow(
      expect.objectContaining({ code: 'SHIPSHAPE_LIFECYCLE_INVALID_OPTION' }),
    );
    await expect(lifecycle.listen(-1)).rejects.toMatchObject({
      code: 'SHIPSHAPE_LIFECYCLE_INVALID_ARGUMENT',
    });
  });

  it('warns once about unknown options, naming them all, through the logger', () => {
    const { lines } = make({ readinesDelayMs: 10, drainTimeout: 5 } as never);
    expect(lines.filter((l) => l.level === 'warn')).toHaveLength(1);
    expect(lines[0]?.meta).toMatchObject({
      code: 'SHIPSHAPE_LIFECYCLE_UNKNOWN_OPTION',
      options: ['readinesDelayMs', 'drainTimeout'],
    });
    expect(lines[0]?.message).toMatch(/unknown options "readinesDelayMs", "drainTimeout" ignored/);
  });

  it('without a logger, warns through process.emitWarning (once)', async () => {
    const seen: Error[] = [];
    const listener = (warning: Error) => seen.push(warning);
    process.on('warning', listener);
    try {
      const lifecycle = createLifecycle({
        exit: false,
        signals: [],
        readinesDelayMs: 10,
        drainTimeout: 5,
      } as never);
      created.push(lifecycle);
      // 'warning' is emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.removeListener('warning', listener);
    }
    const ours = seen.filter(
      (w) => (w as Error & { code?: string }).code === 'SHIPSHAPE_LIFECYCLE_UNKNOWN_OPTION',
    );
    expect(ours).toHaveLength(1);
    expect(ours[0]?.name).toBe('ShipshapeLifecycleWarning');
    expect(ours[0]?.message).toMatch(/^@shipshape\/lifecycle: unknown options "readinesDelayMs"/);
  });

  it('reads NODE_ENV at factory time for the readiness delay', () => {
    const delay = (env: NodeJS.ProcessEnv, options = {}) =>
      resolveConfig(options, env).config.readinessDelayMs;
    expect(delay({ NODE_ENV: 'production' })).toBe(5000);
    expect(delay({})).toBe(5000);
    expect(delay({ NODE_ENV: 'test' })).toBe(0);
    expect(delay({ NODE_ENV: 'development' })).toBe(0);
    expect(delay({ NODE_ENV: 'production' }, { readinessDelayMs: 1200 })).toBe(1200);
    expect(delay({ NODE_ENV: 'test' }, { readinessDelayMs: 300 })).toBe(300);
  });

  it('has the documented defaults', () => {
    const { config } = resolveConfig({}, { NODE_ENV: 'production' });
    expect(config).toMatchObject({
      drainTimeoutMs: 25_000,
      hookTimeoutMs: 5000,
      startupTimeoutMs: 10_000,
      signals: ['SIGTERM', 'SIGINT'],
      exit: true,
      handleUncaughtException: true,
      unhandledRejection: 'fatal',
      timeouts: { headersTimeout: 66_000, requestTimeout: 300_000, keepAliveTimeout: 65_000 },
    });
  });

  it('does not mutate the options it is given', () => {
    const options = Object.freeze({ signals: Object.freeze(['SIGTERM'] as const), exit: false });
    const { lifecycle } = make(options);
    expect(lifecycle.state).toBe('starting');
  });

  it('logs each coded warning once, and honours warnings: false / a list', () => {
    const { lines } = make({ readinesDelayMs: 10 } as never);
    const unknown = lines.filter((l) => l.meta?.code === 'SHIPSHAPE_LIFECYCLE_UNKNOWN_OPTION');
    expect(unknown).toHaveLength(1);
    expect(unknown[0]?.message).toMatch(/unknown option "readinesDelayMs" ignored/);

    const short = make({ timeouts: { keepAliveTimeout: 5000 } });
    expect(short.lines.map((l) => l.meta?.code)).toContain('SHIPSHAPE_LIFECYCLE_SHORT_KEEPALIVE');
    expect(make({ timeouts: { keepAliveTimeout: 5000 }, warnings: false }).lines).toEqual([]);
    expect(
      make({
        timeouts: { keepAliveTimeout: 5000 },
        warnings: ['SHIPSHAPE_LIFECYCLE_SHORT_KEEPALIVE'],
      }).lines,
    ).toEqual([]);
  });

  it('warns when production runs with no readiness delay', () => {
    const previous = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      const { lines } = make({ readinessDelayMs: 0 });
      expect(lines.map((l) => l.meta?.code)).toEqual(['SHIPSHAPE_LIFECYCLE_NO_READINESS_DELAY']);
    } finally {
      process.env.NODE_ENV = previous;
    }
  });
});

describe('startup', () => {
  it('runs checks in order, listens, then marks ready', async () => {
    const order: string[] = [];
    const { lifecycle, states } = make({ app: (_req, res) => res.end('hi') });
    lifecycle.addStartupCheck('config', () => {
      order.push(`config:${lifecycle.server?.listening}`);
    });
    lifecycle.addStartupCheck('database', async () => {
      order.push(`database:${lifecycle.state}`);
    });
    const address = await lifecycle.listen(0, '127.0.0.1');
    expect(order).toEqual(['config:false', 'database:starting']);
    expect(states).toEqual(['starting', 'ready']);
    expect(lifecycle.state).toBe('ready');
    expect(address?.port).toBeGreaterThan(0);
    const outcome = await get(`http://127.0.0.1:${address?.port}/`, undefined);
    expect(outcome.body).toBe('hi');
  });

  it('a failing check rejects start() naming the check; the server does not listen', async () => {
    const { lifecycle, lines } = make({ app: (_req, res) => res.end() });
    lifecycle.addStartupCheck('database', () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:5999');
    });
    await expect(lifecycle.listen(0, '127.0.0.1')).rejects.toThrow(
      '@shipshape/lifecycle: startup check "database" failed: connect ECONNREFUSED 127.0.0.1:5999',
    );
    expect(lifecycle.server?.listening).toBe(false);
    expect(lifecycle.state).toBe('starting');
    expect(lines.some((l) => l.level === 'error' && l.message.includes('"database"'))).toBe(true);
  });

  it('a hanging check times out with its own timeout and its signal aborts', async () => {
    const { lifecycle } = make({ startupTimeoutMs: 5000 });
    let aborted = false;
    lifecycle.addStartupCheck(
      'disk space',
      (signal) =>
        new Promise(() => {
          signal.addEventListener('abort', () => {
            aborted = true;
          });
        }),
      { timeoutMs: 50 },
    );
    await expect(lifecycle.start()).rejects.toThrow(
      '@shipshape/lifecycle: startup check "disk space" timed out after 50 ms',
    );
    expect(aborted).toBe(true);
  });

  it('stays starting until markReady() when the app listens itself', async () => {
    const server = createServer((_req, res) => res.end());
    const { lifecycle, states } = make({ server });
    expect(lifecycle.state).toBe('starting');
    lifecycle.markReady();
    lifecycle.markReady();
    expect(states).toEqual(['starting', 'ready']);
  });

  it('applies server timeouts, overridable, or leaves them with timeouts: false', () => {
    const a = make({ app: () => {} }).lifecycle.server;
    expect([a?.headersTimeout, a?.requestTimeout, a?.keepAliveTimeout]).toEqual([
      66_000, 300_000, 65_000,
    ]);
    const b = make({ app: () => {}, timeouts: { keepAliveTimeout: 120_000 } }).lifecycle.server;
    expect(b?.keepAliveTimeout).toBe(120_000);
    const server = createServer();
    server.keepAliveTimeout = 1234;
    make({ server, timeouts: false });
    expect(server.keepAliveTimeout).toBe(1234);
  });

  it('reports a port in use clearly', async () => {
    const port = await freePort();
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    try {
      const { lifecycle } = make({ app: () => {} });
      await expect(lifecycle.listen(port, '127.0.0.1')).rejects.toThrow(
        `@shipshape/lifecycle: cannot listen on 127.0.0.1:${port}: listen EADDRINUSE`,
      );
    } finally {
      blocker.close();
    }
  });

  it('rejects bad registrations with clear errors', () => {
    const { lifecycle } = make();
    expect(() => lifecycle.onShutdown('', () => {})).toThrow(
      /shutdown hook name must be a non-empty string/,
    );
    expect(() => lifecycle.onShutdown('db', 'close' as never)).toThrow(
      /shutdown hook "db" must be a function, got "close"/,
    );
    expect(() => lifecycle.addStartupCheck('db', () => {}, { timeoutMs: -5 })).toThrow(
      /startup check "db" timeoutMs must be a non-negative integer/,
    );
    expect(() => lifecycle.track('x' as never)).toThrow(/track\(\) needs a promise, got "x"/);
    return expect(lifecycle.listen(99999)).rejects.toThrow(/listen\(\) port must be an integer/);
  });
});

describe('shutdown with exit: false', () => {
  it('runs once: shutdown() twice returns one report, states go draining → stopped', async () => {
    const { lifecycle, states } = make({ app: (_req, res) => res.end() });
    await lifecycle.listen(0, '127.0.0.1');
    const calls: string[] = [];
    lifecycle.onShutdown('first', () => {
      calls.push('first');
    });
    const remove = lifecycle.onShutdown('removed', () => {
      calls.push('removed');
    });
    lifecycle.onShutdown('last', async () => {
      calls.push('last');
    });
    remove();
    const a = lifecycle.shutdown();
    const b = lifecycle.shutdown();
    expect(a).toBe(b);
    const report = await a;
    expect(await lifecycle.stopped).toBe(report);
    expect(calls).toEqual(['last', 'first']);
    expect(states).toEqual(['starting', 'ready', 'draining', 'stopped']);
    expect(report).toMatchObject({ trigger: 'shutdown()', exitCode: 0, forced: [] });
    expect(report.hooks.map((h) => h.status)).toEqual(['ok', 'ok']);
    expect(typeof report.openHandles).toBe('object');
    expect(lifecycle.server?.listening).toBe(false);
  });

  it('answers readiness 200 when ready and 503 otherwise', async () => {
    const { lifecycle } = make({ readinessDelayMs: 300 });
    const server = createServer(lifecycle.readiness());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    try {
      expect((await get(url, undefined)).status).toBe(503);
      lifecycle.markReady();
      const ready = await get(url, undefined);
      expect([ready.status, ready.body]).toEqual([200, '{"status":"ready"}']);
      const done = lifecycle.shutdown();
      const draining = await get(url, undefined);
      expect([draining.status, draining.body]).toEqual([503, '{"status":"draining"}']);
      await done;
    } finally {
      server.close();
    }
  });

  it('refuses new tasks after the drain and counts tracked work', async () => {
    const { lifecycle } = make();
    let release: () => void = () => {};
    lifecycle.track(
      new Promise<void>((resolve) => {
        release = resolve;
      }),
      'upload',
    );
    const result = lifecycle.task('compute', async () => 42);
    await expect(result).resolves.toBe(42);
    const done = lifecycle.shutdown();
    setTimeout(() => release(), 30);
    const report = await done;
    expect(report.work).toEqual({ completed: 2, interrupted: [] });
    await expect(lifecycle.task('late', async () => 1)).rejects.toThrow(
      '@shipshape/lifecycle: task "late" refused: shutdown is past the drain phase',
    );
  });

  it('logs a task failure instead of leaving an unhandled rejection', async () => {
    const { lifecycle, lines } = make();
    const p = lifecycle.task('sync', async () => {
      throw new Error('upstream 500');
    });
    await expect(p).rejects.toThrow('upstream 500');
    expect(lines.some((l) => l.message.includes('task "sync" failed: upstream 500'))).toBe(true);
  });

  it('does not truncate a large response whose end() was called before the stop', async () => {
    // Node 20's server.close() destroys such sockets (closeIdleConnections checks `finished`,
    // which end() sets before the bytes leave); the lifecycle must wait for `finish`.
    const size = 32 * 1024 * 1024;
    const body = Buffer.alloc(size, 97);
    const { lifecycle } = make({ app: (_req, res) => res.end(body), drainTimeoutMs: 10_000 });
    const address = await lifecycle.listen(0, '127.0.0.1');
    const agent = new Agent({ keepAlive: true });
    const received = await new Promise<number>((resolve, reject) => {
      request({ host: '127.0.0.1', port: address?.port, agent }, (res) => {
        let got = 0;
        res.pause();
        setTimeout(() => {
          void lifecycle.shutdown();
          res.resume();
        }, 100);
        res.on('data', (chunk: Buffer) => {
          got += chunk.length;
        });
        res.on('end', () => resolve(got));
        res.on('error', reject);
      })
        .on('error', reject)
        .end();
    });
    agent.destroy();
    expect(received).toBe(size);
    const report = await lifecycle.stopped;
    expect(report.requests).toMatchObject({ inFlightAtStop: 1, drained: 1, destroyed: 0 });
  });

  const handled = ['SIGTERM', 'SIGINT', 'SIGHUP', 'uncaughtException', 'unhandledRejection'];
  const counts = () => handled.map((e) => process.listenerCount(e));
  const withHandlers = (server?: Server) =>
    createLifecycle({
      ...(server ? { server } : {}),
      exit: false,
      signals: ['SIGTERM', 'SIGINT', 'SIGHUP'],
      unhandledRejection: 'log',
      logger: memoryLogger().logger,
    });

  it('installs its process handlers at listen(), not at createLifecycle(); dispose() removes them', async () => {
    const before = counts();
    const server = createServer();
    const serverBefore = [
      server.listenerCount('request'),
      server.listenerCount('connection'),
      server.listenerCount('listening'),
    ];
    const lifecycle = withHandlers(server);
    expect(counts()).toEqual(before);
    await lifecycle.listen(0, '127.0.0.1');
    expect(counts()).toEqual(before.map((n) => n + 1));
    lifecycle.dispose();
    expect(counts()).toEqual(before);
    lifecycle.dispose(); // idempotent
    expect(counts()).toEqual(before);
    expect([
      server.listenerCount('request'),
      server.listenerCount('connection'),
      server.listenerCount('listening'),
    ]).toEqual(serverBefore);
    await expect(lifecycle.start()).rejects.toThrow(/start\(\) after dispose\(\)/);
    await new Promise((resolve) => server.close(resolve));
  });

  it('installs them when a server the app listens on itself starts listening', async () => {
    const before = counts();
    const server = createServer();
    const lifecycle = withHandlers(server);
    expect(counts()).toEqual(before);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    expect(counts()).toEqual(before.map((n) => n + 1));
    // Already listening when the lifecycle is made: at once.
    const second = withHandlers(server);
    expect(counts()).toEqual(before.map((n) => n + 2));
    lifecycle.dispose();
    second.dispose();
    expect(counts()).toEqual(before);
    await new Promise((resolve) => server.close(resolve));
  });

  it('installs them at start() or markReady() without a server, once', async () => {
    const before = counts();
    const started = withHandlers();
    const marked = withHandlers();
    expect(counts()).toEqual(before);
    await started.start();
    marked.markReady();
    marked.markReady();
    expect(counts()).toEqual(before.map((n) => n + 2));
    started.dispose();
    marked.dispose();
    expect(counts()).toEqual(before);
  });

  it('dispose() during a shutdown stops its timers and never exits', async () => {
    const server = createServer((_req, res) => {
      setTimeout(() => res.end('late'), 200);
    });
    const lifecycle = createLifecycle({
      server,
      signals: [],
      readinessDelayMs: 0,
      logger: memoryLogger().logger,
      // exit: true — a process.exit here would end the test run.
    });
    const { port } = (await lifecycle.listen(0, '127.0.0.1')) as { port: number };
    const pending = get(`http://127.0.0.1:${port}/`, undefined);
    await new Promise((resolve) => setTimeout(resolve, 50));
    void lifecycle.shutdown();
    lifecycle.dispose();
    const report = await lifecycle.stopped;
    expect(report.exitCode).toBe(0);
    expect((await pending).body).toBe('late');
  });

  it('two instances do not interfere', async () => {
    const one = make();
    const two = make();
    one.lifecycle.markReady();
    two.lifecycle.onShutdown('two', () => {});
    await one.lifecycle.shutdown();
    expect(two.lifecycle.state).toBe('starting');
    expect(one.lifecycle.state).toBe('stopped');
  });
});

describeEachExpress('startTestServer', (express) => {
  it('serves an app on 127.0.0.1 port 0 and closes keep-alive sockets', async () => {
    const { startTestServer } = await import('../src/testing.js');
    const app = express();
    app.get('/x', (_req, res) => {
      res.json({ ok: true });
    });
    const server = await startTestServer(app);
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const agent = new Agent({ keepAlive: true });
    const outcome = await get(`${server.url}/x`, agent);
    expect(outcome.body).toBe('{"ok":true}');
    await server.close();
    expect(server.server.listening).toBe(false);
    expect(outcome.socket?.destroyed || (await waitClosed(outcome.socket))).toBe(true);
    agent.destroy();
  });
});

function waitClosed(socket: { once(e: 'close', f: () => void): unknown } | undefined) {
  return new Promise<boolean>((resolve) => {
    if (!socket) return resolve(false);
    const timer = setTimeout(() => resolve(false), 2000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}
