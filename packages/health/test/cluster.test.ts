import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { get } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../test/helpers/index.js';

const fixture = fileURLToPath(new URL('./fixtures/cluster-app.mjs', import.meta.url));
const built = existsSync(fileURLToPath(new URL('../dist/index.js', import.meta.url)));

/** One request on a fresh connection, so the cluster spreads them over its workers. */
function getJson(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

// The fixture runs the built package (dist/), as an app would; `npm test` builds first.
describe('node:cluster metrics aggregation (real cluster in a child process)', () => {
  let child: ChildProcess | undefined;
  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('the primary sums http_requests_total over the workers and never sums the health gauges', {
    timeout: 90_000,
  }, async () => {
    if (!built)
      throw new Error(
        'packages/health/dist is missing: run `npm run build -w packages/health` first',
      );
    const appPort = await freePort();
    child = spawn(process.execPath, [fixture, String(appPort)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [line] = (await once(child.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
    const { metricsPort } = JSON.parse(line.toString()) as { metricsPort: number };

    const pids = new Set<number>();
    const N = 40;
    for (let i = 0; i < N; i++) {
      const res = await getJson(`http://127.0.0.1:${appPort}/work/${i}`);
      expect(res.status).toBe(200);
      pids.add((JSON.parse(res.body) as { pid: number }).pid);
    }
    // Round-robin scheduling hands fresh connections to both workers.
    expect(pids.size).toBe(2);

    const metrics = await getJson(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(metrics.status).toBe(200);
    const total = [...metrics.body.matchAll(/^http_requests_total\{([^}]*)\} (\d+)$/gm)]
      .filter((m) => m[1]?.includes('route="/work/:id"'))
      .reduce((sum, m) => sum + Number(m[2]), 0);
    expect(total).toBe(N);
    // One aggregated series per label set, not one per worker.
    const series =
      metrics.body.match(/^http_requests_total\{[^}]*route="\/work\/:id"[^}]*\}/gm) ?? [];
    expect(series).toHaveLength(1);
    expect(metrics.body).toContain('http_request_duration_seconds_bucket');

    // Gauges are not summed: a 0/1 gauge reads 0 or 1 however many workers there are.
    const value = (series: string) => {
      const line = metrics.body.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    expect(value('shipshape_health_state{state="ready"}')).toBe(1);
    expect(value('shipshape_health_state{state="starting"}')).toBe(0);
    // up: the minimum (1 only where every worker passes).
    expect(value('shipshape_health_check_up{check="steady",critical="true"}')).toBe(1);
    expect(value('shipshape_health_check_up{check="split",critical="true"}')).toBe(0);
    // status: the maximum (1 for every status some worker reports).
    const status = (check: string, s: string) =>
      value(`shipshape_health_check_status{check="${check}",critical="true",status="${s}"}`);
    expect([status('steady', 'pass'), status('steady', 'warn'), status('steady', 'fail')]).toEqual([
      1, 0, 0,
    ]);
    expect([status('split', 'pass'), status('split', 'warn'), status('split', 'fail')]).toEqual([
      1, 1, 0,
    ]);
    // duration: the slowest worker's, a plausible number of seconds rather than a sum.
    expect(value('shipshape_health_check_duration_seconds{check="steady"}')).toBeLessThan(1);
    expect(metrics.body).not.toMatch(/^shipshape_health_\w+(\{[^}]*\})? 2$/m);
  });
});
