import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tsBlocks, typecheckSamples } from '../../../../test/helpers/index.js';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('README (part 1) code samples', () => {
  it('type-check against the built package', { timeout: 120_000 }, () => {
    const blocks = tsBlocks(join(packageDir, 'README.md'), [
      '<!-- part 1: start',
      '<!-- part 1: end -->',
    ]);
    expect(blocks.length).toBeGreaterThanOrEqual(4);
    expect(typecheckSamples('security-part1', blocks)).toEqual([]);
  });
});
