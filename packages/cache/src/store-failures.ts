import type { CacheCounters } from './cache-stats.js';
import { CACHE_WARNINGS } from './cache-warnings.js';
import type { CacheLogger, CacheStore } from './types.js';

/** How a cache goes on without its store: every failure counted, logged at most once per interval. */
export interface StoreFailures {
  /** Counts a failed store call and logs `SHIPSHAPE_CACHE_DEGRADED` unless logged recently. */
  fail(op: string, error: unknown): void;
  /** Whether the store reported its circuit open (and not closed since). */
  readonly down: boolean;
}

/** Follows the store's circuit (`attach`) and rate-limits the degraded warning. */
export function watchStore(
  name: string,
  store: CacheStore,
  logger: CacheLogger | undefined,
  errorLogIntervalMs: number,
  counts: CacheCounters,
): StoreFailures {
  let lastErrorLog = Number.NEGATIVE_INFINITY;
  let suppressed = 0;
  let down = false;

  const fail = (op: string, error: unknown) => {
    counts.errors++;
    const now = Date.now();
    if (now - lastErrorLog < errorLogIntervalMs) {
      suppressed++;
      return;
    }
    lastErrorLog = now;
    logger?.warn(`@shipshape/cache: cache "${name}" is degraded; ${op} went on without its store`, {
      code: CACHE_WARNINGS.degraded,
      cache: name,
      op,
      error: error instanceof Error ? error.message : String(error),
      suppressed,
    });
    suppressed = 0;
  };

  store.attach?.({
    onStateChange(state, detail) {
      if (state === 'down') {
        down = true;
        fail(`${detail.tier} circuit opened`, detail.error);
      } else {
        down = false;
        logger?.info(`@shipshape/cache: cache "${name}" store ${detail.tier} is back`, {
          cache: name,
          tier: detail.tier,
          suppressed,
        });
        // The next outage is news again: log it at once.
        lastErrorLog = Number.NEGATIVE_INFINITY;
        suppressed = 0;
      }
    },
  });

  return {
    fail,
    get down() {
      return down;
    },
  };
}
