import { readdir, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { GlassStorage } from '../types.js';

export interface SweepOptions {
  readonly storage: Pick<GlassStorage, 'uploadPaths'>;
  /** The upload directory (uploadGuard's `dir`). */
  readonly dir: string;
  /** Only files unmodified for at least this long are removed (a transfer in progress is not). */
  readonly graceMs: number;
}

/**
 * Deletes stored uploads that no dataset refers to: what a crash during a transfer, or a failed
 * insert of the dataset row, left behind. Resolves with the removed paths.
 */
export async function sweepOrphanUploads(options: SweepOptions): Promise<string[]> {
  const referenced = new Set((await options.storage.uploadPaths()).map((p) => resolve(p)));
  const removed: string[] = [];
  const now = Date.now();
  for (const entry of await readdir(options.dir, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = resolve(join(options.dir, entry.name));
    if (referenced.has(path)) continue;
    const info = await stat(path).catch(() => undefined);
    if (!info || now - info.mtimeMs < options.graceMs) continue;
    try {
      await unlink(path);
      removed.push(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return removed;
}
