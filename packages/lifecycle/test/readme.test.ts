import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tsBlocks, typecheckSamples } from '../../../test/helpers/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const blocks = tsBlocks(`${root}README.md`);

describe('README', () => {
  it('every ts sample type-checks against the built package', { timeout: 120_000 }, () => {
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    expect(typecheckSamples('lifecycle', blocks)).toEqual([]);
  });

  it('the Kubernetes example gives the defaults enough grace period', () => {
    const manifest = readFileSync(`${root}examples/kubernetes.yaml`, 'utf8');
    const grace = Number(/terminationGracePeriodSeconds: (\d+)/.exec(manifest)?.[1]);
    // readinessDelayMs 5 s + drainTimeoutMs 25 s + three 5 s hooks, as the README states.
    expect(grace).toBeGreaterThanOrEqual(5 + 25 + 3 * 5);
    expect(manifest).toMatch(/readinessProbe:\s+httpGet: \{ path: \/health\/ready/);
    // The README's excerpt shows the same path.
    expect(readFileSync(`${root}README.md`, 'utf8')).toMatch(/httpGet: \{ path: \/health\/ready/);
  });
});
