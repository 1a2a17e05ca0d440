import { checkPositiveNumber, invalidOption, withinTime } from './errors.js';
import type { CacheCheckFunction, CacheHealthCheckOptions, CacheStore } from './types.js';

export const HEALTH_KNOWN: { [K in keyof Required<CacheHealthCheckOptions>]: true } = {
  timeoutMs: true,
};

/**
 * A health check for a cache: `pass`, or `warn` while its store does not answer PING within
 * `timeoutMs` or reports itself degraded (the cache still answers, from loaders), `fail` once
 * closed.
 */
export function cacheHealthCheck(
  name: string,
  store: CacheStore,
  isClosed: () => boolean,
  checkOptions: CacheHealthCheckOptions,
  warnUnknown: (op: string, opts: object, known: Readonly<Record<string, true>>) => void,
): CacheCheckFunction {
  if (typeof checkOptions !== 'object' || checkOptions === null)
    throw invalidOption('healthCheck', 'options', checkOptions, 'an object');
  warnUnknown('healthCheck', checkOptions, HEALTH_KNOWN);
  const timeoutMs = checkPositiveNumber('healthCheck', 'timeoutMs', checkOptions.timeoutMs ?? 50);
  const ping = store.ping?.bind(store);
  return async function cacheHealthCheck() {
    if (isClosed()) return { status: 'fail', output: `cache "${name}" is closed` };
    if (ping) {
      try {
        // The store's own timeout is for requests; a probe must answer sooner still.
        await withinTime(
          ping(),
          timeoutMs,
          () => `the store did not answer PING within ${timeoutMs} ms`,
        );
      } catch (error) {
        const health = store.health?.();
        return {
          status: 'warn',
          output: `cache "${name}" degraded: ${health?.output ?? (error instanceof Error ? error.message : String(error))}; requests are served by loaders${store.kind === 'tiered' ? ' and L1' : ''}`,
        };
      }
    }
    const health = store.health?.();
    if (health?.status === 'degraded')
      return {
        status: 'warn',
        output: `cache "${name}" degraded: ${health.output ?? 'store unavailable'}`,
      };
    return { status: 'pass' };
  };
}
