// part 1: headers, rate limits, proxy, IP filter, CORS, trusted hosts, CSRF
export type {
  MetricsRegistry,
  RedisCommandClient,
  SecurityEventName,
  SecurityLogger,
} from './types.js';
export { emitSecurityEvent } from './types.js';
export type { SecurityWarningCode, WarningsOption } from './warnings.js';
// end part 1
