import { type LifecycleConfig, PKG, type Warning } from './config.js';
import type { LifecycleWarningCode } from './types.js';

export type Log = (level: 'info' | 'warn' | 'error', message: string, meta?: object) => void;
export type Warn = (
  code: LifecycleWarningCode,
  message: string,
  meta?: Record<string, unknown>,
) => void;

/**
 * The lifecycle's two output channels: `log` for its lines (state changes, fatal errors, the
 * report) and `warn` for coded warnings, each logged once and switchable off (`warnings`).
 */
export function createLog(
  config: LifecycleConfig,
  factoryWarnings: readonly Warning[],
): { log: Log; warn: Warn } {
  const logger = config.logger;
  const log: Log = (level, message, meta) => {
    try {
      logger[level](`${PKG}: ${message}`, meta as Record<string, unknown>);
    } catch {
      // A broken logger must never break the shutdown it is reporting on.
    }
  };

  const warned = new Set<LifecycleWarningCode>();
  const warn: Warn = (code, message, meta) => {
    const setting = config.warnings;
    if (setting === false || (Array.isArray(setting) && setting.includes(code))) return;
    if (warned.has(code)) return;
    warned.add(code);
    if (config.loggerGiven) {
      log('warn', message, { code, ...meta });
      return;
    }
    // No logger given: the channel every shipshape package uses for its warnings without one.
    process.emitWarning(`${PKG}: ${message}`, { code, type: 'ShipshapeLifecycleWarning' });
  };
  for (const w of factoryWarnings) warn(w.code, w.message, w.meta);
  return { log, warn };
}
