import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { readmeMetrics, registeredMetrics, undocumented } from '../../../test/helpers/index.js';
import { ipFilter, rateLimit, threatMonitor } from '../src/index.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : [path];
  });
}

describe('security metrics', () => {
  it('the README "Metrics" table lists every metric with its type and labels', async () => {
    const registry = new Registry();
    rateLimit({ name: 'api', registry, onStoreError: 'allow' });
    ipFilter({ registry });
    threatMonitor({ registry });
    const registered = await registeredMetrics(registry);
    expect(registered.size).toBeGreaterThan(0);
    for (const [name, { type }] of registered) {
      expect(name).toMatch(/^shipshape_security_[a-z0-9_]+$/);
      if (type === 'counter') expect(name).toMatch(/_total$/);
    }
    const documented = readmeMetrics(join(packageDir, 'README.md'));
    expect(undocumented(registered, documented)).toEqual([]);
    // Names in the source that the factories above might not register are documented too.
    for (const file of sources(join(packageDir, 'src')))
      for (const [name] of readFileSync(file, 'utf8').matchAll(/\bshipshape_[a-z0-9_]+/g))
        expect(documented.has(name), `${name} (${file})`).toBe(true);
  });
});
