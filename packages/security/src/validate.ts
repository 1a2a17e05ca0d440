import type { NextFunction, Request, RequestHandler, Response } from 'express';
import Joi from 'joi';
import { describeValue } from './edge.js';
import { joiFieldErrors } from './error-handler.js';
import { optionError } from './options.js';
import { type ProblemFieldError, SecurityError, sendProblem } from './problem.js';
import { emitSecurityEvent, type SecurityLogger } from './types.js';
import { createWarner, type WarningsOption, warnUnknownOptions } from './warnings.js';

/** The parts of a request `validate()` can check, each with its own joi schema. */
export interface ValidateSchemas {
  readonly body?: Joi.Schema;
  readonly query?: Joi.Schema;
  readonly params?: Joi.Schema;
  /** Header names are lower-case; unknown headers are always allowed and never stripped. */
  readonly headers?: Joi.Schema;
}

export interface ValidateOptions {
  /**
   * Apply joi conversions (strings to numbers, dates, booleans, trimming...).
   * @default true
   */
  readonly convert?: boolean;
  /**
   * Remove keys the schema does not declare (body, query, params) instead of rejecting them.
   * @default true
   */
  readonly stripUnknown?: boolean;
  /**
   * Report every failing field (false) or stop at the first one (true).
   * @default false
   */
  readonly abortEarly?: boolean;
  /**
   * Receives the `validation_failed` security event (field names only, never values).
   * @default undefined
   */
  readonly logger?: SecurityLogger;
  /**
   * Answer the 400 here (`'respond'`) or pass the `SecurityError` to `next(err)` (`'next'`).
   * @default 'next'
   */
  readonly onError?: 'next' | 'respond';
  /** @default true */
  readonly warnings?: WarningsOption;
}

const knownValidateOptions: { readonly [K in keyof Required<ValidateOptions>]: true } = {
  convert: true,
  stripUnknown: true,
  abortEarly: true,
  logger: true,
  onError: true,
  warnings: true,
};

/** What `validate()` stores on the request: the converted values of each validated part. */
export interface ValidatedValues {
  body?: unknown;
  query?: unknown;
  params?: unknown;
  headers?: unknown;
}

const validatedKey = Symbol.for('shipshape.security.validated');

/**
 * The converted values `validate()` produced for this request (also merged across several
 * `validate()` calls on one route). `req.body`, `req.params` and `req.query` hold them too.
 */
export function validated<T extends ValidatedValues = ValidatedValues>(req: Request): T {
  return ((req as unknown as Record<symbol, unknown>)[validatedKey] ?? {}) as T;
}

const parts = ['params', 'query', 'headers', 'body'] as const;
type Part = (typeof parts)[number];

/**
 * Validates and converts the request with joi schemas. On failure: 400 problem+json (code
 * `VALIDATION_FAILED`) whose `errors[]` lists each field (`body.email`), the joi rule and its
 * message, and a `validation_failed` security event naming the fields only.
 *
 * Express 5 defines `req.query` as a getter on the request prototype, so plain assignment throws
 * there; the converted query is installed as an own property of the request (works in 4 and 5).
 */
export function validate(schemas: ValidateSchemas, options: ValidateOptions = {}): RequestHandler {
  if (typeof schemas !== 'object' || schemas === null)
    throw optionError(
      `@shipshape/security: validate() needs an object of joi schemas ({ body, query, params, headers }), got ${String(schemas)}`,
    );
  const given = parts.filter((p) => schemas[p] !== undefined);
  const unknownParts = Object.keys(schemas).filter(
    (k) => !(parts as readonly string[]).includes(k),
  );
  if (unknownParts.length > 0)
    throw optionError(
      `@shipshape/security: validate() accepts schemas for body, query, params and headers, got ${unknownParts.map((k) => JSON.stringify(k)).join(', ')}`,
    );
  if (given.length === 0)
    throw optionError(
      '@shipshape/security: validate() needs at least one schema (body, query, params or headers)',
    );
  for (const p of given)
    if (!Joi.isSchema(schemas[p]))
      throw optionError(
        `@shipshape/security: validate() "${p}" must be a joi schema (Joi.object({...})), got ${typeof schemas[p]}`,
      );
  const onError = options.onError ?? 'next';
  if (onError !== 'next' && onError !== 'respond')
    throw optionError(
      `@shipshape/security: validate() "onError" must be 'next' or 'respond', got ${describeValue(onError)}`,
    );
  const warner = createWarner(options.logger, options.warnings);
  warnUnknownOptions(warner, 'validate', options, knownValidateOptions);
  const base: Joi.ValidationOptions = {
    convert: options.convert ?? true,
    abortEarly: options.abortEarly ?? false,
  };
  const perPart: Record<Part, Joi.ValidationOptions> = {
    params: { ...base, stripUnknown: options.stripUnknown ?? true },
    query: { ...base, stripUnknown: options.stripUnknown ?? true },
    body: { ...base, stripUnknown: options.stripUnknown ?? true },
    headers: { ...base, allowUnknown: true, stripUnknown: false },
  };
  const logger = options.logger;

  return function validateMiddleware(req: Request, res: Response, next: NextFunction): void {
    const errors: ProblemFieldError[] = [];
    const values: ValidatedValues = { ...validated(req) };
    for (const part of given) {
      const schema = schemas[part] as Joi.Schema;
      const input = part === 'body' ? req.body : req[part];
      const result = schema.validate(input, perPart[part]);
      if (result.error) {
        errors.push(...joiFieldErrors(result.error, part));
        if (perPart[part].abortEarly) break;
      } else values[part] = result.value;
    }
    if (errors.length > 0) {
      emitSecurityEvent(logger, 'validation_failed', {
        fields: [...new Set(errors.map((e) => e.field))],
        method: req.method,
        path: req.originalUrl.split('?')[0],
      });
      const err = new SecurityError({
        status: 400,
        code: 'VALIDATION_FAILED',
        detail: `The request failed validation on ${errors.length} field(s).`,
        errors,
      });
      if (onError === 'respond') sendProblem(req, res, err);
      else next(err);
      return;
    }
    if ('body' in values) req.body = values.body;
    if ('params' in values) req.params = values.params as Request['params'];
    if ('query' in values)
      Object.defineProperty(req, 'query', {
        value: values.query,
        writable: true,
        configurable: true,
        enumerable: true,
      });
    Object.defineProperty(req, validatedKey, {
      value: values,
      writable: true,
      configurable: true,
      enumerable: false,
    });
    next();
  };
}
