// One owner of a dataset's status: only processing/dataset-status.ts writes it (and its progress).
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '..', 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(join(dir, e.name))
      : e.name.endsWith('.ts')
        ? [join(dir, e.name)]
        : [],
  );
}

describe('dataset status has one writer', () => {
  it('no code but processing/dataset-status.ts creates or updates a dataset row', () => {
    const writers: string[] = [];
    for (const file of sources(SRC)) {
      const path = relative(SRC, file).replaceAll('\\', '/');
      // The storage implementations define the writes; the interface declares them.
      if (path.startsWith('storage/') || path === 'types.ts') continue;
      const text = readFileSync(file, 'utf8');
      for (const [n, line] of text.split('\n').entries())
        if (/\.(updateDataset|createDataset)\(/.test(line)) writers.push(`${path}:${n + 1}`);
    }
    expect(writers.filter((w) => !w.startsWith('processing/dataset-status.ts:'))).toEqual([]);
    // Create, started, progress, done, failed, interrupted, queued: all there.
    expect(writers.length).toBe(7);
  });
});
