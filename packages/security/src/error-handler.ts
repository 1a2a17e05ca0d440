import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';
import { describeValue } from './edge.js';
import { optionError } from './options.js';
import {
  type ProblemFieldError,
  reasonPhrase,
  SecurityError,
  sendProblem,
  toProblem,
} from './problem.js';
import type { SecurityLogger } from './types.js';
import { createWarner, type WarningsOption, warnUnknownOptions } from './warnings.js';

export interface ErrorHandlerOptions {
  /**
   * Production mode: 5xx bodies carry only the generic title, never the error's message or stack.
   * Read once, when the factory is called.
   * @default process.env.NODE_ENV === 'production'
   */
  readonly production?: boolean;
  /**
   * Receives every 5xx with its stack (`logger.error`) and, when it has `debug`, every 4xx.
   * @default undefined (nothing is logged)
   */
  readonly logger?: SecurityLogger;
  /**
   * Outside production, add the stack of 5xx errors to the body as `stack` (never in production).
   * @default false
   */
  readonly exposeStack?: boolean;
  /**
   * Builds the problem `type` URI from the error code; `about:blank` when it returns undefined.
   * @default () => undefined
   */
  readonly typeUri?: (code: string, status: number) => string | undefined;
  /** @default true */
  readonly warnings?: WarningsOption;
}

const knownErrorHandlerOptions: { readonly [K in keyof Required<ErrorHandlerOptions>]: true } = {
  production: true,
  logger: true,
  exposeStack: true,
  typeUri: true,
  warnings: true,
};

/** body-parser / raw-body error `type`s and the status + code we answer with. */
const bodyParserTypes: Readonly<Record<string, { status: number; code: string }>> = {
  'entity.too.large': { status: 413, code: 'BODY_TOO_LARGE' },
  'entity.parse.failed': { status: 400, code: 'INVALID_BODY' },
  'entity.verify.failed': { status: 403, code: 'BODY_VERIFY_FAILED' },
  'encoding.unsupported': { status: 415, code: 'UNSUPPORTED_ENCODING' },
  'charset.unsupported': { status: 415, code: 'UNSUPPORTED_CHARSET' },
  'parameters.too.many': { status: 413, code: 'TOO_MANY_PARAMETERS' },
  'request.aborted': { status: 400, code: 'REQUEST_ABORTED' },
  'request.size.invalid': { status: 400, code: 'REQUEST_SIZE_INVALID' },
};

/** multer 2.x `MulterError` codes, so apps that use multer get the same answers as uploadGuard. */
const multerCodes: Readonly<Record<string, number>> = {
  LIMIT_PART_COUNT: 413,
  LIMIT_FILE_SIZE: 413,
  LIMIT_FILE_COUNT: 413,
  LIMIT_FIELD_KEY: 413,
  LIMIT_FIELD_VALUE: 413,
  LIMIT_FIELD_COUNT: 413,
  LIMIT_UNEXPECTED_FILE: 400,
  MISSING_FIELD_NAME: 400,
};

/**
 * Multipart parser messages (busboy 1.x, as multer uses it, and @fastify/busboy, as uploadGuard
 * does; both throw plain `Error`s) that mean a malformed request.
 */
const busboyMessages = [
  'Unexpected end of form',
  'Unexpected end of multipart data',
  'Unexpected end of file',
  'Malformed part header',
  'Multipart: Boundary not found',
  'Malformed urlencoded form',
];

interface JoiLikeError {
  isJoi: boolean;
  details: readonly { message: string; path: readonly (string | number)[]; type: string }[];
}

function isJoiError(err: unknown): err is JoiLikeError {
  return (
    typeof err === 'object' &&
    err !== null &&
    (err as { isJoi?: unknown }).isJoi === true &&
    Array.isArray((err as { details?: unknown }).details)
  );
}

function statusOf(err: object): number | undefined {
  const raw = (err as { status?: unknown }).status ?? (err as { statusCode?: unknown }).statusCode;
  return typeof raw === 'number' && Number.isInteger(raw) && raw >= 400 && raw <= 599
    ? raw
    : undefined;
}

/** Field errors from a joi `ValidationError` (`location` prefixes the path, e.g. `body.name`). */
export function joiFieldErrors(err: JoiLikeError, location?: string): ProblemFieldError[] {
  return err.details.map((d) => ({
    field: [...(location ? [location] : []), ...d.path.map(String)].join('.') || '(root)',
    rule: d.type,
    message: d.message,
  }));
}

/**
 * Normalises anything passed to `next(err)` into a `SecurityError`. Client errors keep their
 * message; unknown errors become a 500 whose `detail` is the message (hidden later in production).
 */
export function toSecurityError(err: unknown): SecurityError {
  if (err instanceof SecurityError) return err;
  if (isJoiError(err)) {
    return new SecurityError({
      status: 400,
      code: 'VALIDATION_FAILED',
      detail: 'The request did not match the expected schema.',
      errors: joiFieldErrors(err),
      cause: err,
    });
  }
  if (typeof err !== 'object' || err === null) {
    return new SecurityError({ status: 500, code: 'INTERNAL', detail: String(err), cause: err });
  }
  const e = err as { message?: unknown; code?: unknown; type?: unknown; expose?: unknown };
  const message = typeof e.message === 'string' ? e.message : 'Unknown error';
  const code = typeof e.code === 'string' ? e.code : undefined;
  const type = typeof e.type === 'string' ? e.type : undefined;
  const mapped = type !== undefined ? bodyParserTypes[type] : undefined;
  if (mapped) {
    return new SecurityError({ ...mapped, detail: message, cause: err });
  }
  if (code === 'EBADCSRFTOKEN' || code === 'CROSS_ORIGIN_REQUEST') {
    return new SecurityError({ status: 403, code, detail: message, cause: err });
  }
  if (code !== undefined && (err as { name?: unknown }).name === 'MulterError') {
    const status = multerCodes[code] ?? 400;
    return new SecurityError({ status, code, detail: message, cause: err });
  }
  if (busboyMessages.some((m) => message.startsWith(m))) {
    return new SecurityError({
      status: 400,
      code: 'MALFORMED_MULTIPART',
      detail: `Malformed multipart body: ${message}`,
      cause: err,
    });
  }
  const status = statusOf(err) ?? 500;
  // http-errors sets `expose`; other errors with a 4xx status are client errors by definition.
  const exposed = status < 500 && e.expose !== false;
  return new SecurityError({
    status,
    // A server error's own `code` is a driver's or the OS's (`42P01`, `ECONNREFUSED`): it goes to
    // the log (errorHandler's `errorCode`), never into the answer. Only a SecurityError, which
    // the app raises on purpose, chooses the code of a 5xx.
    code:
      status >= 500
        ? status === 503
          ? 'SERVICE_UNAVAILABLE'
          : 'INTERNAL'
        : (code ?? 'CLIENT_ERROR'),
    detail: exposed || status >= 500 ? message : reasonPhrase(status),
    cause: err,
  });
}

/** The `code` property of an error that is not ours, for the log line of a 5xx. */
function foreignCode(err: unknown): string | undefined {
  if (err instanceof SecurityError || typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' || typeof code === 'number' ? String(code) : undefined;
}

function resolveProduction(option: boolean | undefined): boolean {
  if (option !== undefined) {
    if (typeof option !== 'boolean')
      throw optionError(
        `@shipshape/security: errorHandler "production" must be a boolean, got ${describeValue(option)}`,
      );
    return option;
  }
  return process.env.NODE_ENV === 'production';
}

/**
 * The last middleware of an app: renders every error as RFC 9457 `application/problem+json`.
 * In production the body of a 5xx never carries the internal message or stack; 5xx are logged
 * with their stack through `logger`. When headers were already sent it delegates to Express's
 * default handler, which closes the socket so the client sees a truncated response.
 */
export function errorHandler(options: ErrorHandlerOptions = {}): ErrorRequestHandler {
  const warner = createWarner(options.logger, options.warnings);
  warnUnknownOptions(warner, 'errorHandler', options, knownErrorHandlerOptions);
  const production = resolveProduction(options.production);
  const exposeStack = !production && (options.exposeStack ?? false);
  const logger = options.logger;
  const typeUri = options.typeUri;
  if (typeUri !== undefined && typeof typeUri !== 'function')
    throw optionError(
      `@shipshape/security: errorHandler "typeUri" must be a function, got ${typeof typeUri}`,
    );

  return function errorHandlerMiddleware(
    err: unknown,
    req: Request,
    res: Response,
    next: NextFunction,
  ): void {
    if (res.headersSent) {
      next(err);
      return;
    }
    const problemError = toSecurityError(err);
    const status = problemError.status;
    const original = err instanceof Error ? err : undefined;
    const route = req.route ? `${req.baseUrl}${(req.route as { path: string }).path}` : undefined;
    try {
      if (status >= 500) {
        const errorCode = foreignCode(err);
        logger?.error('request failed', {
          status,
          code: problemError.code,
          ...(errorCode !== undefined ? { errorCode } : {}),
          method: req.method,
          path: req.originalUrl.split('?')[0],
          ...(route ? { route } : {}),
          error: original?.message ?? String(err),
          stack: original?.stack,
        });
      } else
        logger?.debug?.('request rejected', {
          status,
          code: problemError.code,
          method: req.method,
          path: req.originalUrl.split('?')[0],
        });
    } catch {
      // A failing logger must not prevent the answer.
    }

    let toSend = problemError;
    if (status >= 500 && production) {
      toSend = new SecurityError({
        status,
        code: problemError.code === 'INTERNAL' ? 'INTERNAL' : problemError.code,
        ...(problemError.headers ? { headers: problemError.headers } : {}),
      });
    }
    const type = typeUri?.(toSend.code, status);
    if (type !== undefined || (exposeStack && status >= 500 && original?.stack)) {
      // Render with the extra members; sendProblem covers the plain case.
      const body: Record<string, unknown> = { ...toProblem(req, res, toSend) };
      if (type !== undefined) body.type = type;
      if (exposeStack && status >= 500 && original?.stack) body.stack = original.stack;
      if (toSend.headers)
        for (const [name, value] of Object.entries(toSend.headers)) res.setHeader(name, value);
      res.status(status);
      res.setHeader('Content-Type', 'application/problem+json; charset=utf-8');
      res.end(JSON.stringify(body));
      return;
    }
    sendProblem(req, res, toSend);
  };
}

export interface NotFoundOptions {
  /**
   * Include the method and path in `detail` (`No route for GET /x`).
   * @default true
   */
  readonly detail?: boolean;
}

/** Place after all routes: forwards a 404 `SecurityError` (code `NOT_FOUND`) to `errorHandler`. */
export function notFound(options: NotFoundOptions = {}): RequestHandler {
  warnUnknownOptions(createWarner(undefined, undefined), 'notFound', options, {
    detail: true,
  } satisfies { readonly [K in keyof Required<NotFoundOptions>]: true });
  const withDetail = options.detail ?? true;
  if (typeof withDetail !== 'boolean')
    throw optionError(
      `@shipshape/security: notFound "detail" must be a boolean, got ${describeValue(withDetail)}`,
    );
  return function notFoundMiddleware(req: Request, _res: Response, next: NextFunction): void {
    next(
      new SecurityError({
        status: 404,
        code: 'NOT_FOUND',
        ...(withDetail
          ? { detail: `No route for ${req.method} ${req.originalUrl.split('?')[0]}` }
          : {}),
      }),
    );
  };
}
