// A circuit breaker for shared stores: fail fast while the backend is down, probe it once per
// cool-down, close again on the first success.

export interface CircuitConfig {
  /** What the messages call the backend (`'rate limit store'`, `'IP store'`). */
  readonly label: string;
  /** Milliseconds one call may take before it counts as failed. */
  readonly timeoutMs: number;
  /** Consecutive failures that open the circuit. */
  readonly failureThreshold: number;
  /** Milliseconds the circuit stays open before one probe call is let through. */
  readonly cooldownMs: number;
}

export interface CircuitHooks {
  /** The circuit opened (after `failureThreshold` consecutive failures). */
  onOpen?(error: unknown): void;
  /** A probe (or a forced call) succeeded: the circuit is closed again. */
  onClose?(): void;
}

/** Thrown without calling the store while the circuit is open. */
export class CircuitOpenError extends Error {
  constructor(label: string, openedAt: number, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      `${label} unavailable (circuit open since ${new Date(openedAt).toISOString()}: ${reason})`,
      { cause },
    );
    this.name = 'CircuitOpenError';
  }
}

export interface Circuit {
  readonly open: boolean;
  /**
   * The error to fail with right now, without touching the store, or `undefined` when a call may
   * go ahead (the circuit is closed, or the cool-down is over and no probe is running).
   */
  refuse(): Error | undefined;
  /**
   * Runs `fn` within `timeoutMs` and counts its outcome. While open it fails at once, except for
   * the one probe per cool-down; `force` runs it anyway (explicit calls such as `block()`), and
   * its success closes the circuit too.
   */
  run<T>(fn: () => T | Promise<T>, force?: boolean): Promise<T>;
}

export function createCircuit(config: CircuitConfig, hooks: CircuitHooks = {}): Circuit {
  const { label, timeoutMs, failureThreshold, cooldownMs } = config;
  let failures = 0;
  let open = false;
  let openedAt = 0;
  let openUntil = 0;
  let probing = false;
  let lastError: unknown;
  // Failures of calls that were already running when a failure was counted are one event (a
  // burst of concurrent calls timing out together is one slow moment, not N failures in a row).
  let countedAt = Number.NEGATIVE_INFINITY;

  const refuse = (): Error | undefined => {
    if (!open) return undefined;
    if (probing || Date.now() < openUntil) return new CircuitOpenError(label, openedAt, lastError);
    return undefined;
  };

  const succeeded = () => {
    failures = 0;
    if (!open) return;
    open = false;
    hooks.onClose?.();
  };

  const failed = (error: unknown, startedAt: number) => {
    lastError = error;
    if (open) {
      openUntil = Date.now() + cooldownMs;
      return;
    }
    if (startedAt < countedAt) return;
    failures++;
    countedAt = Date.now();
    if (failures >= failureThreshold) {
      open = true;
      openedAt = Date.now();
      openUntil = openedAt + cooldownMs;
      hooks.onOpen?.(error);
    }
  };

  return {
    get open() {
      return open;
    },
    refuse,
    run<T>(fn: () => T | Promise<T>, force = false): Promise<T> {
      if (!force) {
        const refused = refuse();
        if (refused) return Promise.reject(refused);
      }
      const probe = open && !force;
      if (probe) probing = true;
      const startedAt = Date.now();
      return new Promise<T>((resolve, reject) => {
        let settled = false;
        const settle = () => {
          if (settled) return false;
          settled = true;
          clearTimeout(timer);
          if (probe) probing = false;
          return true;
        };
        const timer = setTimeout(() => {
          // Timers run before I/O in the event loop: when the process itself was busy, the answer
          // may already be waiting on the socket. Give it that one poll phase before giving up,
          // so a slow event loop is not mistaken for a slow store.
          setImmediate(() => {
            if (!settle()) return;
            const error = new Error(`${label} did not answer within ${timeoutMs} ms`);
            failed(error, startedAt);
            reject(error);
          });
        }, timeoutMs);
        timer.unref();
        // An answer after the timeout changes nothing: that call was already counted as failed.
        Promise.resolve()
          .then(fn)
          .then(
            (value) => {
              if (!settle()) return;
              succeeded();
              resolve(value);
            },
            (error: unknown) => {
              if (!settle()) return;
              failed(error, startedAt);
              reject(error);
            },
          );
      });
    },
  };
}
