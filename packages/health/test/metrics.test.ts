import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import {
  listen,
  readmeMetrics,
  registeredMetrics,
  undocumented,
} from '../../../test/helpers/index.js';
import { createHealth, type Health } from '../src/index.js';
import { fakeCheck } from '../src/testing.js';

const README = fileURLToPath(new URL('../README.md', import.meta.url));
const SRC = fileURLToPath(new URL('../src/', import.meta.url));

const made: Health[] = [];
afterEach(async () => {
  for (const h of made.splice(0)) await h.close();
});

/** Every health metric with a series: two checks run, one HTTP request served. */
async function exercised(options: Parameters<typeof createHealth>[0] = {}): Promise<Health> {
  const h = createHealth({ checks: [fakeCheck('db')], cacheTtlMs: 0, ...options });
  made.push(h);
  const app = express();
  app.use(h.router());
  app.use(h.httpMetrics());
  app.get('/x', (_req, res) => {
    res.send('x');
  });
  const l = await listen(app);
  await (await fetch(`${l.url}/x`)).text();
  await (await fetch(`${l.url}/health`)).text();
  await l.close();
  return h;
}

function samples(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

describe('metrics', () => {
  it('check up is 1 for pass and 0 for warn or fail, never 0.5; the status set has one 1 per check', async () => {
    const ok = fakeCheck('ok');
    const degraded = fakeCheck('degraded', { critical: false });
    const down = fakeCheck('down');
    degraded.warn();
    down.fail('refused');
    const h = createHealth({ checks: [ok, degraded, down], defaultMetrics: false });
    made.push(h);
    await h.report();
    const text = await h.metrics();
    expect(samples(text, 'shipshape_health_check_up')).toEqual([
      'shipshape_health_check_up{check="ok",critical="true"} 1',
      'shipshape_health_check_up{check="degraded",critical="false"} 0',
      'shipshape_health_check_up{check="down",critical="true"} 0',
    ]);
    const status = samples(text, 'shipshape_health_check_status');
    expect(status).toEqual([
      'shipshape_health_check_status{check="ok",critical="true",status="pass"} 1',
      'shipshape_health_check_status{check="ok",critical="true",status="warn"} 0',
      'shipshape_health_check_status{check="ok",critical="true",status="fail"} 0',
      'shipshape_health_check_status{check="degraded",critical="false",status="pass"} 0',
      'shipshape_health_check_status{check="degraded",critical="false",status="warn"} 1',
      'shipshape_health_check_status{check="degraded",critical="false",status="fail"} 0',
      'shipshape_health_check_status{check="down",critical="true",status="pass"} 0',
      'shipshape_health_check_status{check="down",critical="true",status="warn"} 0',
      'shipshape_health_check_status{check="down",critical="true",status="fail"} 1',
    ]);
    expect(text).not.toMatch(/ 0\.5$/m);
    expect(samples(text, 'shipshape_health_state')).toEqual([
      'shipshape_health_state{state="starting"} 1',
      'shipshape_health_state{state="ready"} 0',
      'shipshape_health_state{state="draining"} 0',
      'shipshape_health_state{state="stopped"} 0',
    ]);
    expect(samples(text, 'shipshape_health_check_duration_seconds')).toHaveLength(3);
  });

  it('adds nothing prom-client already exports, and names its own under one namespace', async () => {
    const defaults = new Registry();
    collectDefaultMetrics({ register: defaults });
    const promClient = new Set(defaults.getMetricsAsArray().map((m) => m.name));
    const h = await exercised({ processMetrics: true });
    const ours = [...(await registeredMetrics(h.registry)).entries()].filter(
      ([name]) => !promClient.has(name),
    );
    expect(ours.length).toBeGreaterThan(4);
    for (const [name, { type }] of ours) {
      // HTTP metrics keep the conventional http_ names (configurable prefix); no process_/nodejs_.
      expect(name, name).toMatch(/^(shipshape_health_|http_)[a-z0-9_]+$/);
      expect(name, name).not.toMatch(/percent/);
      if (type === 'counter') expect(name, name).toMatch(/_total$/);
    }
    // processMetrics is accepted for compatibility and adds nothing.
    const without = await exercised({ processMetrics: false });
    expect([...(await registeredMetrics(without.registry)).keys()].sort()).toEqual(
      [...(await registeredMetrics(h.registry)).keys()].sort(),
    );
  });

  it('the README "Metrics" table lists every metric with its type and labels', async () => {
    const h = await exercised({ defaultMetrics: false });
    const documented = readmeMetrics(README);
    expect(undocumented(await registeredMetrics(h.registry), documented)).toEqual([]);
    // Names in the source that a test run might not register are documented too.
    for (const file of readdirSync(SRC)) {
      for (const [name] of readFileSync(SRC + file, 'utf8').matchAll(/\bshipshape_[a-z0-9_]+/g))
        expect(documented.has(name), `${name} (src/${file})`).toBe(true);
    }
  });

  it('the README check catches a missing row, a wrong type and a stale row', () => {
    const registered = new Map([
      ['a_total', { type: 'counter', labels: ['x'] }],
      ['b', { type: 'gauge', labels: [] }],
    ]);
    const documented = new Map([
      ['b', { type: 'counter', labels: [] }],
      ['c', { type: 'gauge', labels: [] }],
    ]);
    expect(undocumented(registered, documented)).toEqual([
      'a_total (counter) is registered but not in the README table',
      'b: README says counter {}, registered gauge {}',
      'c is in the README table but not registered',
    ]);
  });
});
