// Connection events of Redis clients that emit them (node-redis, ioredis), through a minimal shape.

export interface EventSource {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off?(event: string, listener: (...args: unknown[]) => void): unknown;
  removeListener?(event: string, listener: (...args: unknown[]) => void): unknown;
  listenerCount?(event: string): number;
}

export function isEventSource(value: unknown): value is EventSource {
  return typeof (value as EventSource | null)?.on === 'function';
}

/** Adds listeners to `source` and returns the function that removes exactly those. */
export function listen(
  source: EventSource,
  listeners: Readonly<Record<string, (...args: unknown[]) => void>>,
): () => void {
  for (const [event, listener] of Object.entries(listeners)) source.on(event, listener);
  return () => {
    const off = (source.off ?? source.removeListener)?.bind(source);
    for (const [event, listener] of Object.entries(listeners)) off?.(event, listener);
  };
}

/**
 * When a client emits events and nobody listens for `'error'`, adds a listener so a lost
 * connection is not an uncaught exception (the store reports outages through its circuit).
 * Returns the function that removes it; a client that already has a listener is left alone.
 */
export function guardErrors(client: unknown): (() => void) | undefined {
  if (!isEventSource(client) || typeof client.listenerCount !== 'function') return undefined;
  if (client.listenerCount('error') > 0) return undefined;
  return listen(client, { error: () => undefined });
}
