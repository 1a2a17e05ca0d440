import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tsBlocks, typecheckSamples } from '../../../../test/helpers/index.js';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('README (authentication) code samples', () => {
  it('type-check against the built package', { timeout: 120_000 }, () => {
    const blocks = tsBlocks(join(packageDir, 'README.md'), [
      '<!-- auth: start',
      '<!-- auth: end -->',
    ]);
    expect(blocks.length).toBeGreaterThanOrEqual(1);
    expect(typecheckSamples('security-auth', blocks)).toEqual([]);
  });
});
