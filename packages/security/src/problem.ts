import type { Request, Response } from 'express';

/** One entry of a problem's `errors[]` (validation failures). */
export interface ProblemFieldError {
  readonly field: string;
  readonly rule: string;
  readonly message: string;
}

export interface SecurityErrorInit {
  readonly status: number;
  /** Stable machine-readable code, e.g. `RATE_LIMITED`, `CROSS_ORIGIN_REQUEST`. */
  readonly code: string;
  /** Short human title; defaults to the HTTP reason phrase. */
  readonly title?: string;
  /** Explanation for this occurrence; safe to show to the client. */
  readonly detail?: string;
  readonly errors?: readonly ProblemFieldError[];
  /** Extra response headers (e.g. `Retry-After`). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly cause?: unknown;
}

/**
 * A request-time error with an HTTP status and a stable code. Every middleware of this package
 * passes these to `next(err)` or renders them itself with `sendProblem`.
 */
export class SecurityError extends Error {
  readonly status: number;
  readonly statusCode: number;
  readonly code: string;
  readonly title: string;
  readonly detail: string | undefined;
  readonly errors: readonly ProblemFieldError[] | undefined;
  readonly headers: Readonly<Record<string, string>> | undefined;
  /** Client errors are safe to expose; `errorHandler` hides messages of 5xx in production. */
  readonly expose: boolean;

  constructor(init: SecurityErrorInit) {
    super(init.detail ?? init.title ?? reasonPhrase(init.status), { cause: init.cause });
    this.name = 'SecurityError';
    this.status = init.status;
    this.statusCode = init.status;
    this.code = init.code;
    this.title = init.title ?? reasonPhrase(init.status);
    this.detail = init.detail;
    this.errors = init.errors;
    this.headers = init.headers;
    this.expose = init.status < 500;
  }
}

/** RFC 9457 problem details as this package renders them. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  code?: string;
  requestId?: string;
  errors?: readonly ProblemFieldError[];
}

const reasons: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  421: 'Misdirected Request',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function reasonPhrase(status: number): string {
  return reasons[status] ?? (status >= 500 ? 'Server Error' : 'Client Error');
}

/** The request id set by `@shipshape/logger`'s `requestContext` (or any `X-Request-Id` echo). */
function requestIdOf(req: Request, res: Response): string | undefined {
  const fromRes = res.getHeader('x-request-id');
  if (typeof fromRes === 'string') return fromRes;
  const fromReq = (req as Request & { id?: unknown }).id;
  return typeof fromReq === 'string' ? fromReq : undefined;
}

/** Builds the problem body for an error (status, code, title, detail, errors) on a request. */
export function toProblem(req: Request, res: Response, err: SecurityError): ProblemDetails {
  const problem: ProblemDetails = {
    type: 'about:blank',
    title: err.title,
    status: err.status,
    code: err.code,
    instance: req.originalUrl.split('?')[0] ?? req.originalUrl,
  };
  if (err.detail !== undefined) problem.detail = err.detail;
  if (err.errors !== undefined) problem.errors = err.errors;
  const requestId = requestIdOf(req, res);
  if (requestId !== undefined) problem.requestId = requestId;
  return problem;
}

/** Writes `err` as `application/problem+json`; a no-op when headers were already sent. */
export function sendProblem(req: Request, res: Response, err: SecurityError): void {
  if (res.headersSent) return;
  if (err.headers)
    for (const [name, value] of Object.entries(err.headers)) res.setHeader(name, value);
  res.status(err.status);
  res.setHeader('Content-Type', 'application/problem+json; charset=utf-8');
  res.end(JSON.stringify(toProblem(req, res, err)));
}
