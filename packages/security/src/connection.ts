// Connection errors of Redis clients that emit them (node-redis, ioredis), through a minimal shape.

interface EventSource {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off?(event: string, listener: (...args: unknown[]) => void): unknown;
  removeListener?(event: string, listener: (...args: unknown[]) => void): unknown;
  listenerCount(event: string): number;
}

/**
 * When a client emits events and nobody listens for `'error'`, adds a listener so a lost
 * connection is not an uncaught exception (the stores report outages through their circuit and
 * `onStoreError` policy). Returns the function that removes it; a client that already has a
 * listener is left alone.
 */
export function guardErrors(client: unknown): (() => void) | undefined {
  const source = client as Partial<EventSource> | null;
  if (typeof source?.on !== 'function' || typeof source.listenerCount !== 'function')
    return undefined;
  if (source.listenerCount('error') > 0) return undefined;
  const ignore = () => undefined;
  source.on('error', ignore);
  return () => {
    const off = (source.off ?? source.removeListener)?.bind(source);
    off?.('error', ignore);
  };
}
