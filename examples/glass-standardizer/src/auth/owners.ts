import { appendFileSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Who uploaded each dataset (the principal id), so an uploader may delete their own batches
 * only. Kept beside the data in `DATA_DIR/auth/owners.jsonl` (one line per upload); re-read when
 * another instance sharing DATA_DIR appended to it.
 */
export interface Owners {
  get(datasetId: string): string | undefined;
  set(datasetId: string, principalId: string): void;
}

export function openOwners(dataDir: string): Owners {
  const path = join(dataDir, 'auth', 'owners.jsonl');
  const map = new Map<string, string>();
  let size = -1;
  const refresh = () => {
    let now: number;
    try {
      now = statSync(path).size;
    } catch {
      return;
    }
    if (now === size) return;
    size = now;
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (line === '') continue;
      try {
        const { id, owner } = JSON.parse(line) as { id?: unknown; owner?: unknown };
        if (typeof id === 'string' && typeof owner === 'string') map.set(id, owner);
      } catch {
        // A torn last line (a crash mid-append) is skipped.
      }
    }
  };
  refresh();
  return {
    get(datasetId) {
      if (!map.has(datasetId)) refresh();
      return map.get(datasetId);
    },
    set(datasetId, principalId) {
      map.set(datasetId, principalId);
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      appendFileSync(path, `${JSON.stringify({ id: datasetId, owner: principalId })}\n`, {
        mode: 0o600,
      });
    },
  };
}
