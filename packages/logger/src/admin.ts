import type { IncomingMessage, ServerResponse } from 'node:http';
import { LEVELS } from './logger.js';
import { invalidOption, warnUnknownOptions } from './options.js';
import type { LevelState, Logger, LoggerAdminOptions, LogLevel } from './types.js';

const knownOptions: { [K in keyof Required<LoggerAdminOptions>]: true } = {
  logger: true,
  loggers: true,
  authorize: true,
  maxTtlMs: true,
};

const BODY_LIMIT = 4096;

function fail(message: string): never {
  return invalidOption(`loggerAdminRouter ${message}`);
}

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    detail: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, type = 'application/json') {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', `${type}; charset=utf-8`);
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.setHeader('Cache-Control', 'no-store');
  res.end(text);
}

function sendProblem(res: ServerResponse, problem: HttpProblem) {
  for (const [name, value] of Object.entries(problem.headers)) res.setHeader(name, value);
  const requestId = res.getHeader('x-request-id');
  sendJson(
    res,
    problem.status,
    {
      type: 'about:blank',
      title: problem.title,
      status: problem.status,
      detail: problem.message,
      ...(requestId === undefined ? {} : { requestId: String(requestId) }),
    },
    'application/problem+json',
  );
}

async function readJson(req: IncomingMessage & { body?: unknown }): Promise<unknown> {
  // A body parser mounted earlier already consumed the stream.
  if (req.body !== undefined && (req as { _body?: boolean })._body) return req.body;
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type))
    throw new HttpProblem(
      415,
      'Unsupported Media Type',
      `expected an application/json body, got ${JSON.stringify(type)}`,
    );
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > BODY_LIMIT)
      throw new HttpProblem(
        413,
        'Content Too Large',
        `the body must be at most ${BODY_LIMIT} bytes`,
      );
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (error) {
    throw new HttpProblem(
      400,
      'Bad Request',
      `the body is not valid JSON: ${(error as Error).message}`,
    );
  }
}

function describe(logger: Logger) {
  const state: LevelState = logger.levelState();
  return {
    configuredLevel: state.level,
    effectiveLevel: state.level,
    baseLevel: state.baseLevel,
    expiresAt: state.expiresAt,
  };
}

/**
 * `GET /loggers`, `GET /loggers/:name` and `PUT /loggers[/:name]` (`{ "level": "debug",
 * "ttlMs": 60000 }`), in the spirit of Spring Boot's `/actuator/loggers`. Every change and every
 * refused request is written to the security stream. Mount it where only operators can reach it.
 */
export function loggerAdminRouter(options: LoggerAdminOptions) {
  if (typeof options !== 'object' || options === null) fail('needs options { logger, authorize }');
  const root = options.logger;
  if (!root || typeof root.setLevel !== 'function')
    fail('"logger" must be a logger from createLogger()');
  warnUnknownOptions('loggerAdminRouter', options, knownOptions, root);
  if (typeof options.authorize !== 'function')
    fail(
      '"authorize" must be a function (req) => boolean; an unprotected admin endpoint is not allowed',
    );
  const maxTtlMs = options.maxTtlMs ?? 3_600_000;
  if (!Number.isInteger(maxTtlMs) || maxTtlMs < 0)
    fail(`"maxTtlMs" must be a non-negative integer, got ${String(maxTtlMs)}`);
  const loggers = new Map<string, Logger>([['root', root]]);
  for (const [name, logger] of Object.entries(options.loggers ?? {})) {
    if (!logger || typeof logger.setLevel !== 'function')
      fail(`"loggers.${name}" must be a logger from createLogger()`);
    loggers.set(name, logger);
  }
  const authorize = options.authorize;
  const levels = Object.keys(LEVELS);

  async function handle(req: IncomingMessage, res: ServerResponse, path: string) {
    const method = req.method ?? 'GET';
    const ip = (req as { ip?: string }).ip ?? req.socket.remoteAddress;
    if (method !== 'GET' && method !== 'HEAD' && method !== 'PUT')
      throw new HttpProblem(
        405,
        'Method Not Allowed',
        `${method} is not supported here; use GET or PUT`,
        {
          Allow: 'GET, HEAD, PUT',
        },
      );
    if (!(await authorize(req))) {
      root.security('auth_failed', { area: 'logger admin', method, path, ip });
      throw new HttpProblem(403, 'Forbidden', 'not allowed to read or change log levels');
    }
    const name =
      path === '/loggers' ? undefined : decodeURIComponent(path.slice('/loggers/'.length));
    if (method !== 'PUT') {
      if (name === undefined) {
        const all: Record<string, unknown> = {};
        for (const [n, logger] of loggers) all[n] = describe(logger);
        return sendJson(res, 200, { levels, loggers: all });
      }
      const logger = loggers.get(name);
      if (!logger)
        throw new HttpProblem(404, 'Not Found', `no logger named ${JSON.stringify(name)}`);
      return sendJson(res, 200, describe(logger));
    }
    const body = await readJson(req);
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new HttpProblem(
        400,
        'Bad Request',
        'the body must be a JSON object like {"level":"debug","ttlMs":60000}',
      );
    const fields = body as Record<string, unknown>;
    const targetName = name ?? (typeof fields.logger === 'string' ? fields.logger : 'root');
    const logger = loggers.get(targetName);
    if (!logger)
      throw new HttpProblem(404, 'Not Found', `no logger named ${JSON.stringify(targetName)}`);
    const level = fields.level ?? fields.configuredLevel;
    if (typeof level !== 'string' || !levels.includes(level))
      throw new HttpProblem(
        400,
        'Bad Request',
        `"level" must be one of ${levels.join(', ')}, got ${JSON.stringify(level)}`,
      );
    const ttlMs = fields.ttlMs;
    if (
      ttlMs !== undefined &&
      ttlMs !== null &&
      (!Number.isInteger(ttlMs) || (ttlMs as number) <= 0)
    )
      throw new HttpProblem(
        400,
        'Bad Request',
        `"ttlMs" must be a positive integer, got ${JSON.stringify(ttlMs)}`,
      );
    if (maxTtlMs > 0 && (ttlMs === undefined || ttlMs === null || (ttlMs as number) > maxTtlMs))
      throw new HttpProblem(
        400,
        'Bad Request',
        `"ttlMs" is required and must be at most ${maxTtlMs} (maxTtlMs), got ${JSON.stringify(ttlMs)}`,
      );
    const from = logger.levelState().level;
    const state =
      typeof ttlMs === 'number'
        ? logger.setLevel(level as LogLevel, { ttlMs })
        : logger.setLevel(level as LogLevel);
    root.security('config_changed', {
      setting: 'log level',
      logger: targetName,
      from,
      to: level,
      ttlMs: typeof ttlMs === 'number' ? ttlMs : null,
      expiresAt: state.expiresAt,
      ip,
    });
    return sendJson(res, 200, describe(logger));
  }

  return function loggerAdminMiddleware(
    req: IncomingMessage,
    res: ServerResponse,
    next: (err?: unknown) => void,
  ): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (path !== '/loggers' && !(path.startsWith('/loggers/') && path.length > 9)) {
      next();
      return;
    }
    handle(req, res, path).catch((error: unknown) => {
      if (error instanceof HttpProblem) sendProblem(res, error);
      else if (error instanceof URIError)
        sendProblem(res, new HttpProblem(400, 'Bad Request', 'malformed logger name'));
      else next(error);
    });
  };
}
