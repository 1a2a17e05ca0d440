import cluster from 'node:cluster';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AggregatorRegistry, type Registry } from 'prom-client';

// prom-client answers the primary from one process-wide list of registries, so the list of
// registries a worker exposes is process-wide too.
const workerRegistries = new Set<Registry>();

/** In a cluster worker: expose `registry` to the primary's aggregation. No-op elsewhere. */
export function exposeToPrimary(registry: Registry): () => void {
  if (!cluster.isWorker) return () => undefined;
  // Constructing an AggregatorRegistry installs prom-client's worker message listener (once).
  new AggregatorRegistry();
  workerRegistries.add(registry);
  AggregatorRegistry.setRegistries([...workerRegistries]);
  return () => {
    workerRegistries.delete(registry);
    AggregatorRegistry.setRegistries([...workerRegistries]);
  };
}

/**
 * For the cluster primary: a request handler answering with the metrics of every worker,
 * aggregated by prom-client's AggregatorRegistry: counters and histograms summed, each gauge by
 * the `aggregator` it declares (the health gauges: `min` for `…_check_up`, `max` for the state
 * sets and durations), so a 0/1 gauge never reads 2.
 */
export function clusterMetricsHandler(): (req: IncomingMessage, res: ServerResponse) => void {
  if (!cluster.isPrimary) {
    throw new Error(
      '@shipshape/health: clusterMetricsHandler() must be called in the cluster primary',
    );
  }
  const aggregator = new AggregatorRegistry();
  return function clusterMetrics(req, res) {
    aggregator.clusterMetrics().then(
      (text) => {
        res.writeHead(200, {
          'content-type': aggregator.contentType,
          'cache-control': 'no-store',
        });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        res.writeHead(500, {
          'content-type': 'text/plain; charset=utf-8',
          'cache-control': 'no-store',
        });
        res.end(
          `@shipshape/health: cluster metrics failed: ${err instanceof Error ? err.message : String(err)}\n`,
        );
      },
    );
  };
}
