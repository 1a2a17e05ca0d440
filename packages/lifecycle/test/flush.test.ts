import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { createLifecycle } from '../src/index.js';

describe('logger flush after the shutdown report', () => {
  it('awaits logger.flush() once the report line is written, after every hook', async () => {
    const events: string[] = [];
    const logger = {
      info: (message: string) => events.push(`info ${message}`),
      warn: (message: string) => events.push(`warn ${message}`),
      error: (message: string) => events.push(`error ${message}`),
      flush: async () => {
        await new Promise((r) => setTimeout(r, 20));
        events.push('flushed');
      },
    };
    const lifecycle = createLifecycle({
      server: createServer((_req, res) => res.end('ok')),
      logger,
      exit: false,
      signals: [],
      readinessDelayMs: 0,
    });
    lifecycle.onShutdown('last hook', () => {
      events.push('hook');
    });
    try {
      await lifecycle.listen(0, '127.0.0.1');
      const report = await lifecycle.shutdown();
      expect(report.exitCode).toBe(0);
      const reportAt = events.findIndex((e) => e.includes('shutdown report'));
      expect(reportAt).toBeGreaterThan(events.indexOf('hook'));
      expect(events.indexOf('flushed')).toBeGreaterThan(reportAt);
    } finally {
      lifecycle.dispose();
    }
  });

  it('a hanging flush is cut at hookTimeoutMs and does not hold the shutdown', async () => {
    const lifecycle = createLifecycle({
      server: createServer((_req, res) => res.end('ok')),
      logger: { info() {}, warn() {}, error() {}, flush: () => new Promise(() => {}) },
      exit: false,
      signals: [],
      readinessDelayMs: 0,
      hookTimeoutMs: 100,
    });
    try {
      await lifecycle.listen(0, '127.0.0.1');
      const report = await lifecycle.shutdown();
      expect(report.exitCode).toBe(0);
    } finally {
      lifecycle.dispose();
    }
  });
});
