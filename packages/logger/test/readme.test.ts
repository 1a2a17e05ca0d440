import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tsBlocks, typecheckSamples } from '../../../test/helpers/index.js';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const blocks = tsBlocks(join(packageDir, 'README.md'));

describe('README code samples', () => {
  it('has TypeScript samples', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
  });

  it('every ```ts block type-checks against the built package', { timeout: 120_000 }, () => {
    expect(typecheckSamples('logger', blocks)).toEqual([]);
  });

  it('the test-logger sample runs as written', async () => {
    const { createTestLogger } = await import('../src/testing.js');
    const sample = blocks.find((b) => b.includes('createTestLogger()')) ?? '';
    const body = sample.replace(/^import .*$/m, '').replace(/console\.log\(.*\);\n/, '');
    const run = new Function('createTestLogger', body) as (f: typeof createTestLogger) => void;
    expect(() => run(createTestLogger)).not.toThrow();
  });
});
