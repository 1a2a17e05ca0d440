export { accessLog, isProbeRequest, routeTemplate } from './access.js';
export { loggerAdminRouter } from './admin.js';
export {
  addContextFields,
  getRequestContext,
  getRequestId,
  isAcceptableRequestId,
  requestContext,
  runWithRequestContext,
} from './context.js';
export { createLogger, LEVELS } from './logger.js';
export { REDACTED } from './serialize.js';
export type {
  AccessLogOptions,
  AccessRequest,
  FlushOptions,
  LevelState,
  LogFilesOptions,
  LogFormat,
  Logger,
  LoggerAdminOptions,
  LoggerLike,
  LoggerOptions,
  LogLevel,
  LogStream,
  RequestContext,
  RequestContextOptions,
  SecurityEventName,
  SetLevelOptions,
} from './types.js';
