export {
  type CpuCheckOptions,
  check,
  cpuCheck,
  type DiskCheckOptions,
  diskCheck,
  type EventLoopCheckOptions,
  eventLoopCheck,
  type HttpCheckOptions,
  httpCheck,
  type MemoryCheckOptions,
  memoryCheck,
  type PostgresLike,
  postgresCheck,
  type RedisCheckOptions,
  type RedisLike,
  redisCheck,
} from './checks.js';
export { clusterMetricsHandler } from './cluster.js';
export {
  createHealth,
  type Health,
  type HealthDetailed,
  type HealthDocument,
  type ReportScope,
  type VersionInfo,
} from './health.js';
export { CLIENT_CLOSED_STATUS, DEFAULT_BUCKETS } from './http-metrics.js';
export { listenAndMarkReady } from './listen.js';
export type * from './types.js';
