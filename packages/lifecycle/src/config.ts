import type { RequestListener, Server } from 'node:http';
import { constants } from 'node:os';
import type {
  HealthStateTarget,
  LifecycleErrorCode,
  LifecycleLogger,
  LifecycleOptions,
  LifecycleWarningCode,
  UnhandledRejectionMode,
} from './types.js';

export const PKG = '@shipshape/lifecycle';

/** Typical load-balancer idle timeout (AWS ALB): keep-alive should outlast it. */
const LB_IDLE_TIMEOUT_MS = 60_000;

export interface LifecycleConfig {
  readonly server: Server | undefined;
  readonly app: RequestListener | undefined;
  readonly port: number | undefined;
  readonly host: string | undefined;
  readonly readinessDelayMs: number;
  readonly drainTimeoutMs: number;
  readonly hookTimeoutMs: number;
  readonly startupTimeoutMs: number;
  readonly signals: readonly NodeJS.Signals[];
  readonly health: HealthStateTarget | undefined;
  readonly logger: LifecycleLogger;
  /** Whether `logger` was given: without one, coded warnings go to `process.emitWarning`. */
  readonly loggerGiven: boolean;
  readonly timeouts:
    | { headersTimeout: number; requestTimeout: number; keepAliveTimeout: number }
    | false;
  readonly exit: boolean;
  readonly handleUncaughtException: boolean;
  readonly unhandledRejection: UnhandledRejectionMode;
  readonly warnings: boolean | readonly LifecycleWarningCode[];
}

const knownOptions: { [K in keyof Required<LifecycleOptions>]: true } = {
  server: true,
  app: true,
  port: true,
  host: true,
  readinessDelayMs: true,
  drainTimeoutMs: true,
  hookTimeoutMs: true,
  startupTimeoutMs: true,
  signals: true,
  health: true,
  logger: true,
  timeouts: true,
  exit: true,
  handleUncaughtException: true,
  unhandledRejection: true,
  warnings: true,
};

const knownTimeouts = { headersTimeout: true, requestTimeout: true, keepAliveTimeout: true };

export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (typeof value === 'bigint' || typeof value === 'symbol') return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function coded(code: LifecycleErrorCode, message: string): TypeError {
  return Object.assign(new TypeError(`${PKG}: ${message}`), { code });
}

/** A bad option value (factory options, or a step's `{ timeoutMs }`). */
export function invalidOption(message: string): TypeError {
  return coded('SHIPSHAPE_LIFECYCLE_INVALID_OPTION', message);
}

/** A bad argument of a method (a step's name or function, `listen()`'s port, `track()`'s promise). */
export function invalidArgument(message: string): TypeError {
  return coded('SHIPSHAPE_LIFECYCLE_INVALID_ARGUMENT', message);
}

export function fail(message: string): never {
  throw invalidOption(message);
}

/** A non-negative integer number of milliseconds (or `undefined` → fallback). */
export function durationMs(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    fail(`"${name}" must be a non-negative integer number of milliseconds, got ${show(value)}`);
  }
  // setTimeout clamps anything above 2^31-1 ms to 1 ms: refuse it instead of firing at once.
  if (value > 2_147_483_647) fail(`"${name}" must be at most 2147483647 ms, got ${show(value)}`);
  return value;
}

function hasMethods(value: unknown, methods: readonly string[]): boolean {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return false;
  const record = value as Record<string, unknown>;
  return methods.every((m) => typeof record[m] === 'function');
}

export interface Warning {
  readonly code: LifecycleWarningCode;
  readonly message: string;
  readonly meta?: Record<string, unknown>;
}

/** Validates and resolves the options once; returns the config and the warnings it raises. */
export function resolveConfig(
  options: LifecycleOptions | undefined,
  env: NodeJS.ProcessEnv,
): { config: LifecycleConfig; warnings: Warning[] } {
  if (options === undefined) options = {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    fail(`options must be an object, got ${show(options)}`);
  }
  const warnings: Warning[] = [];
  const unknown = Object.keys(options).filter((key) => !(key in knownOptions));
  if (unknown.length > 0) {
    // One warning for every unknown key: each code is logged once per lifecycle.
    warnings.push({
      code: 'SHIPSHAPE_LIFECYCLE_UNKNOWN_OPTION',
      message: `unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')} ignored (known: ${Object.keys(knownOptions).join(', ')})`,
      meta: { options: unknown },
    });
  }

  const { server, app } = options;
  if (server !== undefined && app !== undefined) {
    fail('give either "server" or "app", not both');
  }
  if (server !== undefined && !hasMethods(server, ['listen', 'close', 'on', 'address'])) {
    fail(`"server" must be an http.Server, got ${show(server)}`);
  }
  if (app !== undefined && typeof app !== 'function') {
    fail(`"app" must be an Express app or a request listener function, got ${show(app)}`);
  }
  const { port, host } = options;
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    fail(`"port" must be an integer from 0 to 65535, got ${show(port)}`);
  }
  if (host !== undefined && (typeof host !== 'string' || host === '')) {
    fail(`"host" must be a non-empty string, got ${show(host)}`);
  }

  const nodeEnv = env.NODE_ENV;
  const quietEnv = nodeEnv === 'test' || nodeEnv === 'development';
  const readinessDelayMs = durationMs(
    'readinessDelayMs',
    options.readinessDelayMs,
    quietEnv ? 0 : 5000,
  );
  if (options.readinessDelayMs === 0 && nodeEnv === 'production') {
    warnings.push({
      code: 'SHIPSHAPE_LIFECYCLE_NO_READINESS_DELAY',
      message:
        '"readinessDelayMs" is 0 in production: the server stops accepting before load balancers notice the 503, so requests routed here meanwhile fail',
    });
  }
  const drainTimeoutMs = durationMs('drainTimeoutMs', options.drainTimeoutMs, 25_000);
  const hookTimeoutMs = durationMs('hookTimeoutMs', options.hookTimeoutMs, 5000);
  const startupTimeoutMs = durationMs('startupTimeoutMs', options.startupTimeoutMs, 10_000);

  let signals: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];
  if (options.signals !== undefined) {
    if (!Array.isArray(options.signals)) {
      fail(`"signals" must be an array of signal names, got ${show(options.signals)}`);
    }
    for (const signal of options.signals) {
      if (typeof signal !== 'string' || !(signal in constants.signals)) {
        fail(`"signals" has an unknown signal ${show(signal)} (e.g. "SIGTERM", "SIGINT")`);
      }
      if (signal === 'SIGKILL' || signal === 'SIGSTOP') {
        fail(`"signals" cannot include ${signal}: it cannot be caught`);
      }
    }
    signals = [...new Set(options.signals)];
  }

  if (options.health !== undefined && !hasMethods(options.health, ['setState'])) {
    fail(`"health" must have a setState(state) method, got ${show(options.health)}`);
  }
  if (options.logger !== undefined && !hasMethods(options.logger, ['info', 'warn', 'error'])) {
    fail(`"logger" must have info, warn and error methods, got ${show(options.logger)}`);
  }

  let timeouts: LifecycleConfig['timeouts'];
  if (options.timeouts === false) {
    timeouts = false;
  } else if (options.timeouts === undefined || typeof options.timeouts === 'object') {
    const t = options.timeouts ?? {};
    if (t === null) fail('"timeouts" must be an object or false, got null');
    for (const key of Object.keys(t)) {
      if (!(key in knownTimeouts)) {
        fail(
          `"timeouts.${key}" is not a known timeout (known: ${Object.keys(knownTimeouts).join(', ')})`,
        );
      }
    }
    timeouts = {
      headersTimeout: durationMs('timeouts.headersTimeout', t.headersTimeout, 66_000),
      requestTimeout: durationMs('timeouts.requestTimeout', t.requestTimeout, 300_000),
      keepAliveTimeout: durationMs('timeouts.keepAliveTimeout', t.keepAliveTimeout, 65_000),
    };
    if (timeouts.requestTimeout > 0 && timeouts.headersTimeout > timeouts.requestTimeout) {
      fail(
        `"timeouts.headersTimeout" (${timeouts.headersTimeout}) must not exceed "timeouts.requestTimeout" (${timeouts.requestTimeout})`,
      );
    }
    if (timeouts.keepAliveTimeout > 0 && timeouts.keepAliveTimeout <= LB_IDLE_TIMEOUT_MS) {
      warnings.push({
        code: 'SHIPSHAPE_LIFECYCLE_SHORT_KEEPALIVE',
        message: `"timeouts.keepAliveTimeout" is ${timeouts.keepAliveTimeout} ms, not longer than a typical load balancer idle timeout (${LB_IDLE_TIMEOUT_MS} ms): the balancer may reuse a socket the server has just closed and answer 502`,
        meta: { keepAliveTimeout: timeouts.keepAliveTimeout },
      });
    }
  } else {
    fail(`"timeouts" must be an object or false, got ${show(options.timeouts)}`);
  }

  const bool = (name: string, value: unknown, fallback: boolean): boolean => {
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') fail(`"${name}" must be a boolean, got ${show(value)}`);
    return value;
  };
  const exit = bool('exit', options.exit, true);
  const handleUncaughtException = bool(
    'handleUncaughtException',
    options.handleUncaughtException,
    true,
  );
  const unhandledRejection = options.unhandledRejection ?? 'fatal';
  if (!['fatal', 'log', 'off'].includes(unhandledRejection)) {
    fail(`"unhandledRejection" must be "fatal", "log" or "off", got ${show(unhandledRejection)}`);
  }
  const warningsOption = options.warnings ?? true;
  if (typeof warningsOption !== 'boolean' && !Array.isArray(warningsOption)) {
    fail(`"warnings" must be a boolean or an array of warning codes, got ${show(warningsOption)}`);
  }

  return {
    config: {
      server,
      app,
      port,
      host,
      readinessDelayMs,
      drainTimeoutMs,
      hookTimeoutMs,
      startupTimeoutMs,
      signals,
      health: options.health,
      logger: options.logger ?? console,
      loggerGiven: options.logger !== undefined,
      timeouts,
      exit,
      handleUncaughtException,
      unhandledRejection,
      warnings: warningsOption,
    },
    warnings,
  };
}
