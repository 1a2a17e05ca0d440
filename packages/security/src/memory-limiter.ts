// The in-process rate-limit counter: express-rate-limit's MemoryStore semantics, synchronous.
import { createHash } from 'node:crypto';
import type { ClientRateLimitInfo } from 'express-rate-limit';

/** One client's window. `policy` caches the draft-8 `RateLimit-Policy` value (its key hash). */
export interface LimiterClient {
  totalHits: number;
  /** Epoch ms at which the window ends. */
  resetMs: number;
  policy: string | undefined;
}

/**
 * Fixed windows per key with the same rules as express-rate-limit's `MemoryStore` (v8): a client's
 * window starts at its first hit and restarts at the first hit after it ended; every `windowMs`
 * the clients not seen since the previous sweep are dropped (two maps, swapped). What differs is
 * only the shape of the calls: `hit()` answers synchronously, so the request path has no promise,
 * no `await` and no async resource for AsyncLocalStorage to propagate into.
 */
export class MemoryLimiter {
  private previous = new Map<string, LimiterClient>();
  private current = new Map<string, LimiterClient>();
  private readonly interval: NodeJS.Timeout;

  constructor(readonly windowMs: number) {
    this.interval = setInterval(() => {
      this.previous = this.current;
      this.current = new Map();
    }, windowMs);
    this.interval.unref();
  }

  /** Counts one hit for `key` at `now` (MemoryStore.increment). */
  hit(key: string, now: number): LimiterClient {
    let client = this.current.get(key);
    if (client === undefined) {
      client = this.previous.get(key);
      if (client === undefined)
        client = { totalHits: 0, resetMs: now + this.windowMs, policy: undefined };
      else this.previous.delete(key);
      this.current.set(key, client);
    }
    if (client.resetMs <= now) {
      client.totalHits = 0;
      client.resetMs = now + this.windowMs;
    }
    client.totalHits++;
    return client;
  }

  /** MemoryStore.get: undefined once the window has ended. */
  get(key: string, now = Date.now()): ClientRateLimitInfo | undefined {
    const client = this.current.get(key) ?? this.previous.get(key);
    if (client === undefined || client.resetMs <= now) return undefined;
    return { totalHits: client.totalHits, resetTime: new Date(client.resetMs) };
  }

  resetKey(key: string): void {
    this.current.delete(key);
    this.previous.delete(key);
  }

  /** Stops the sweep and forgets every client (MemoryStore.shutdown). */
  close(): void {
    clearInterval(this.interval);
    this.current.clear();
    this.previous.clear();
  }
}

/**
 * express-rate-limit's draft-8 partition key: the first 12 hex digits of SHA-256(key), as base64
 * of those ASCII digits.
 */
export function partitionKey(key: string): string {
  const hex = createHash('sha256').update(key).digest('hex').slice(0, 12);
  return Buffer.from(hex).toString('base64');
}
