import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  freePort,
  type SpareRedis,
  sampleLatency,
  startSpareRedis,
} from '../../../../test/helpers/index.js';
import { SAMPLES } from '../helpers.js';
import { type ChildGlass, spawnGlass, waitDone } from '../http/child.js';
import { ADMIN_TOKEN, upload } from '../http/support.js';
import { timed } from './support.js';

interface Ready {
  status: string;
  checks: Record<string, string>;
}

describe('Redis dies and comes back under the running service (private redis-server)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'glass-fault-redis-'));
  let redis: SpareRedis;
  let glass: ChildGlass;
  let datasetId = '';

  beforeAll(async () => {
    redis = await startSpareRedis();
    glass = await spawnGlass({
      REDIS_URL: redis.url,
      REDIS_PREFIX: 'faults:',
      DATA_DIR: join(dir, 'data'),
      LOG_DIR: join(dir, 'logs'),
      READINESS_DELAY_MS: '0',
    });
    const res = await upload(glass.url, { path: join(SAMPLES, 'lab_a_2024.csv') });
    datasetId = ((await res.json()) as { id: string }).id;
    expect((await waitDone(glass.url, datasetId)).status).toBe('done');
  });
  afterAll(async () => {
    await glass?.stop();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('survives kill -9 of Redis: no crash, fast probes and API, degraded readiness, recovery', async () => {
    const api = `${glass.url}/api/datasets/${datasetId}/antibiogram?minimum=2`;
    const before = await sampleLatency(api, 10);
    expect(before.statuses.every((s) => s === 200)).toBe(true);

    await redis.stop(); // SIGKILL
    await new Promise((r) => setTimeout(r, 300));
    expect(glass.child.exitCode).toBeNull();

    // Every request of the outage: still answered, fast (the stores fail open at once).
    const during = await sampleLatency(
      (i) => `${glass.url}/api/datasets/${datasetId}/resistance?minimum=${(i % 5) + 1}`,
      30,
    );
    expect(during.statuses.every((s) => s === 200)).toBe(true);
    expect(
      during.median - before.median,
      `during ${during.durations.map(Math.round)}`,
    ).toBeLessThan(50);
    const probes = [
      ...(await sampleLatency(`${glass.url}/health/ready`, 10)).durations,
      ...(await sampleLatency(`${glass.url}/health/live`, 10)).durations,
    ];
    // Requirement: < 100 ms. The median holds it; the max only has to stay under Kubernetes'
    // default 1 s probe timeout (a loaded CI machine puts single probes at 100-200 ms; before
    // the fix every probe took ~2 s).
    const sorted = [...probes].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
    expect(median, `probes ${probes.map(Math.round)}`).toBeLessThan(100);
    expect(Math.max(...probes), `probes ${probes.map(Math.round)}`).toBeLessThan(1000);
    // Redis is not critical: the pod stays ready and says what is degraded (a probe answers
    // with the latest finished check, so the news may take a probe or two).
    await vi.waitFor(
      async () => {
        const ready = await timed(`${glass.url}/health/ready`);
        expect(ready.status).toBe(200);
        expect((JSON.parse(ready.body) as Ready).checks.redis).toBe('warn');
      },
      { timeout: 3000, interval: 100 },
    );

    await redis.start();
    await vi.waitFor(
      async () => {
        const back = JSON.parse((await timed(`${glass.url}/health/ready`)).body) as Ready;
        expect(back.checks.redis).toBe('pass');
        expect(back.checks.cache).toBe('pass');
      },
      { timeout: 15_000, interval: 250 },
    );
    expect(glass.output()).toMatch(/the Redis connection is back/);
    expect(glass.output()).not.toMatch(/uncaughtException|unhandledRejection/);
  });

  it('starts while Redis is down (degraded, one clear line) and keeps a password out of every output', async () => {
    const closed = await freePort();
    const secretUrl = `redis://glass:s3cret-pw@127.0.0.1:${closed}`;
    const started = performance.now();
    const down = await spawnGlass({
      REDIS_URL: secretUrl,
      DATA_DIR: join(dir, 'down-data'),
      LOG_DIR: join(dir, 'down-logs'),
    });
    try {
      expect(performance.now() - started).toBeLessThan(20_000);
      expect(down.output()).toMatch(/SHIPSHAPE_UMBRELLA_REDIS_UNREACHABLE/);
      const list = await timed(`${down.url}/api/datasets`);
      expect(list.status).toBe(200);
      const detailed = await timed(`${down.url}/health/detailed`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      expect(detailed.status).toBe(200);
      for (const text of [down.output(), detailed.body]) expect(text).not.toContain('s3cret-pw');
      for (const name of readdirSync(join(dir, 'down-logs')))
        expect(readFileSync(join(dir, 'down-logs', name), 'utf8')).not.toContain('s3cret-pw');
    } finally {
      // Shutting down while Redis is still away: no hook waits for it (was a 5 s hook timeout, exit 1).
      expect(await down.stop()).toEqual({ code: 0, signal: null });
    }
  });
});
