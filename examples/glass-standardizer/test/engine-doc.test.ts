import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tsBlocks, typecheckSamples } from '../../../test/helpers/index.js';

const blocks = tsBlocks(fileURLToPath(new URL('../ENGINE.md', import.meta.url)));

describe('ENGINE.md code samples', () => {
  it('every ```ts block type-checks against the built package', { timeout: 120_000 }, () => {
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    expect(typecheckSamples('glass-engine', blocks)).toEqual([]);
  });
});
