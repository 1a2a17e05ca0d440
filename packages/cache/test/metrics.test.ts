import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import {
  compileToPrivateDir,
  readmeMetrics,
  registeredMetrics,
  undocumented,
} from '../../../test/helpers/index.js';
import { createCache } from '../src/index.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const README = join(packageDir, 'README.md');
const SRC = join(packageDir, 'src');

describe('cache metrics', () => {
  it('the README "Metrics" table lists every metric with its type and labels', async () => {
    const registry = new Registry();
    const memory = createCache({ name: 'memory' });
    memory.metrics(registry);
    await memory.set('k', 1);
    await memory.get('k');
    const documented = readmeMetrics(README);
    expect(undocumented(await registeredMetrics(registry), documented)).toEqual([]);
    for (const file of readdirSync(SRC))
      for (const [name] of readFileSync(join(SRC, file), 'utf8').matchAll(
        /\bshipshape_[a-z0-9_]+/g,
      ))
        expect(documented.has(name), `${name} (src/${file})`).toBe(true);
    await memory.close();
  });

  it('follows the naming conventions: no ratio gauge, counters end in _total, one namespace', async () => {
    const registry = new Registry();
    const cache = createCache({ name: 'c' });
    cache.metrics(registry);
    const metrics = await registeredMetrics(registry);
    expect(metrics.has('shipshape_cache_hit_ratio')).toBe(false);
    for (const [name, { type }] of metrics) {
      expect(name).toMatch(/^shipshape_cache_[a-z0-9_]+$/);
      expect(name).not.toMatch(/ratio|rate|percent/);
      if (type === 'counter') expect(name).toMatch(/_total$/);
    }
    await cache.close();
  });

  describe('in a node:cluster primary (prom-client AggregatorRegistry)', () => {
    let buildDir: string | undefined;
    afterAll(async () => {
      if (buildDir) await rm(buildDir, { recursive: true, force: true });
    });

    it('sums counters, entries and bytes over the workers; degraded is 0/1, never summed', {
      timeout: 90_000,
    }, async () => {
      buildDir = await compileToPrivateDir(packageDir, 'cache-cluster');
      const child = spawn(
        process.execPath,
        [join(packageDir, 'test/fixtures/cluster-metrics.mjs'), join(buildDir, 'index.js')],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let text = '';
      child.stdout.on('data', (c: Buffer) => {
        text += c.toString();
      });
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect(code).toBe(0);
      const value = (series: string) => {
        const line = text.split('\n').find((l) => l.startsWith(`${series} `));
        return line === undefined ? undefined : Number(line.slice(series.length + 1));
      };
      expect(value('shipshape_cache_hits_total{cache="shared"}')).toBe(3);
      expect(value('shipshape_cache_misses_total{cache="shared"}')).toBe(1);
      expect(value('shipshape_cache_entries{cache="shared"}')).toBe(4);
      expect(value('shipshape_cache_bytes{cache="shared"}')).toBeGreaterThan(0);
      expect(value('shipshape_cache_degraded{cache="shared"}')).toBe(0);
      expect(value('shipshape_cache_degraded{cache="broken"}')).toBe(1);
    });
  });
});
