import { statfs } from 'node:fs/promises';
import { StorageError } from './errors.js';

/** Bytes available to the service on the filesystem holding `path`. */
export async function freeBytes(path: string): Promise<number> {
  const s = await statfs(path);
  return s.bavail * s.bsize;
}

/**
 * A check that throws `StorageError('full')` once the filesystem under `path` has less than
 * `minFreeBytes` free. It looks at most every `intervalMs`, so it can sit on a write path. Stopping
 * at the floor, before the disk is really full, leaves room to clean up and record why.
 */
export function spaceGuard(
  path: string,
  minFreeBytes: number,
  intervalMs = 500,
): () => Promise<void> {
  let checkedAt = Number.NEGATIVE_INFINITY;
  return async () => {
    const now = performance.now();
    if (now - checkedAt < intervalMs) return;
    checkedAt = now;
    const free = await freeBytes(path);
    if (free < minFreeBytes)
      throw new StorageError(
        'full',
        `only ${free} bytes free under ${path}, below the floor of ${minFreeBytes} (DATA_DIR_MIN_FREE)`,
      );
  };
}
