import { Counter, Histogram, type Registry } from 'prom-client';

/** The service's own metrics, beside the HTTP and process metrics of `@shipshape/health`. */
export interface GlassMetrics {
  readonly datasets: Counter<'status'>;
  readonly rows: Counter;
  readonly duration: Histogram<'status'>;
  readonly qualityErrors: Counter;
}

export function createGlassMetrics(registry: Registry): GlassMetrics {
  return {
    datasets: new Counter({
      name: 'glass_datasets_processed_total',
      help: 'Datasets that finished processing, by final status.',
      labelNames: ['status'],
      registers: [registry],
    }),
    rows: new Counter({
      name: 'glass_rows_processed_total',
      help: 'Input rows read while processing datasets.',
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'glass_processing_duration_seconds',
      help: 'Wall time from the start of processing to its end, by final status.',
      labelNames: ['status'],
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900],
      registers: [registry],
    }),
    qualityErrors: new Counter({
      name: 'glass_quality_errors_total',
      help: 'Quality findings of severity ERROR across processed datasets.',
      registers: [registry],
    }),
  };
}
