import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { describeValue } from './edge.js';
import { optionError } from './options.js';
import { SecurityError } from './problem.js';
import { emitSecurityEvent, type SecurityLogger } from './types.js';
import { createWarner, type WarningsOption, warnUnknownOptions } from './warnings.js';

/** Keys that reach `Object.prototype` or a constructor when merged naively into an object. */
const PROTO_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export interface JsonBodyOptions {
  /**
   * Media types this parser leaves for a later one (it calls `next()` without reading the body), so
   * `jsonBody`, `urlencodedBody` and `uploadGuard` can all be mounted on one app.
   * @default ['multipart/form-data', 'application/x-www-form-urlencoded']
   */
  readonly passThrough?: readonly string[];
  /**
   * Largest accepted body in bytes (a number) or with a unit (`'100kb'`, `'1mb'`). Larger bodies
   * get 413 as soon as the Content-Length (or the running count while streaming) exceeds it.
   * @default '100kb'
   */
  readonly limit?: number | string;
  /**
   * Only accept an object or an array at the top level.
   * @default true
   */
  readonly strict?: boolean;
  /**
   * Media types treated as JSON; anything else with a body gets 415.
   * @default ['application/json', 'application/*+json']
   */
  readonly type?: readonly string[];
  /**
   * What to do with `__proto__`, `constructor` and `prototype` keys at any depth: `'reject'`
   * answers 400, `'strip'` deletes them.
   * @default 'reject'
   */
  readonly protoKeys?: 'reject' | 'strip';
  /**
   * Deepest nesting of objects/arrays accepted (400 beyond).
   * @default 32
   */
  readonly maxDepth?: number;
  /**
   * Most object keys accepted in the whole document (400 beyond).
   * @default 1000
   */
  readonly maxKeys?: number;
  /** Receives `body_rejected` security events for poisoning attempts. @default undefined */
  readonly logger?: SecurityLogger;
  /** @default true */
  readonly warnings?: WarningsOption;
}

const knownJsonOptions: { readonly [K in keyof Required<JsonBodyOptions>]: true } = {
  passThrough: true,
  limit: true,
  strict: true,
  type: true,
  protoKeys: true,
  maxDepth: true,
  maxKeys: true,
  logger: true,
  warnings: true,
};

export interface UrlencodedBodyOptions {
  /**
   * Media types this parser leaves for a later one (it calls `next()` without reading the body), so
   * `jsonBody`, `urlencodedBody` and `uploadGuard` can all be mounted on one app.
   * @default ['multipart/form-data', 'application/json', 'application/*+json']
   */
  readonly passThrough?: readonly string[];
  /** Largest accepted body (bytes or `'100kb'`). @default '100kb' */
  readonly limit?: number | string;
  /**
   * Most `name=value` pairs accepted (413 beyond).
   * @default 1000
   */
  readonly parameterLimit?: number;
  /**
   * Deepest bracket nesting accepted in a name (`a[b][c]` is depth 3; 400 beyond).
   * @default 5
   */
  readonly maxDepth?: number;
  /** What to do with `__proto__`/`constructor`/`prototype` names. @default 'reject' */
  readonly protoKeys?: 'reject' | 'strip';
  /** Media types accepted; others with a body get 415. @default ['application/x-www-form-urlencoded'] */
  readonly type?: readonly string[];
  /** Receives `body_rejected` security events. @default undefined */
  readonly logger?: SecurityLogger;
  /** @default true */
  readonly warnings?: WarningsOption;
}

const knownUrlencodedOptions: { readonly [K in keyof Required<UrlencodedBodyOptions>]: true } = {
  passThrough: true,
  limit: true,
  parameterLimit: true,
  maxDepth: true,
  protoKeys: true,
  type: true,
  logger: true,
  warnings: true,
};

const units: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** Parses `100kb`-style sizes; throws a factory-time error naming the option otherwise. */
export function parseBytes(value: number | string, what: string): number {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value > 0) return value;
  } else if (typeof value === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(value);
    if (m) {
      const bytes = Math.floor(Number(m[1]) * (units[(m[2] ?? 'b').toLowerCase()] ?? 1));
      if (bytes > 0) return bytes;
    }
  }
  throw optionError(
    `@shipshape/security: ${what} must be a positive number of bytes or a size like '100kb', got ${describeValue(value)}`,
  );
}

export function positiveInt(value: unknown, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  throw optionError(
    `@shipshape/security: ${what} must be a positive integer, got ${describeValue(value)}`,
  );
}

function oneOf<T extends string>(
  value: unknown,
  allowed: readonly T[],
  fallback: T,
  what: string,
): T {
  if (value === undefined) return fallback;
  if (allowed.includes(value as T)) return value as T;
  throw optionError(
    `@shipshape/security: ${what} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describeValue(value)}`,
  );
}

function typeList(
  value: readonly string[] | undefined,
  fallback: string[],
  what: string,
): string[] {
  if (value === undefined) return fallback;
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    !value.every((t) => typeof t === 'string' && /^[a-z0-9.+*-]+\/[a-z0-9.+*-]+$/i.test(t))
  )
    throw optionError(
      `@shipshape/security: ${what} must be a non-empty array of media types like 'application/json', got ${describeValue(value)}`,
    );
  return value.map((t) => t.toLowerCase());
}

function mediaTypeMatches(mediaType: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => {
    if (p === mediaType) return true;
    const [pType, pSub] = p.split('/') as [string, string];
    const [mType, mSub = ''] = mediaType.split('/');
    if (pType !== '*' && pType !== mType) return false;
    if (pSub === '*') return true;
    if (pSub.startsWith('*+')) return mSub.endsWith(pSub.slice(1));
    return pSub === mSub;
  });
}

/** Whether the request carries a body at all (same rule as type-is's `hasBody`). */
export function hasBody(req: Request): boolean {
  return (
    req.headers['transfer-encoding'] !== undefined || req.headers['content-length'] !== undefined
  );
}

interface ParsedContentType {
  mediaType: string;
  charset: string | undefined;
}

export function parseContentType(header: string | undefined): ParsedContentType | undefined {
  if (!header) return undefined;
  const [type = '', ...params] = header.split(';');
  const mediaType = type.trim().toLowerCase();
  let charset: string | undefined;
  for (const param of params) {
    const eq = param.indexOf('=');
    if (eq === -1) continue;
    if (param.slice(0, eq).trim().toLowerCase() === 'charset')
      charset = param
        .slice(eq + 1)
        .trim()
        .replace(/^"(.*)"$/, '$1')
        .toLowerCase();
  }
  return { mediaType, charset };
}

function alreadyParsed(req: Request): boolean {
  return (req as Request & { _body?: unknown })._body === true;
}

/**
 * Reads the whole body up to `limit` bytes. Rejects with 413 before reading when Content-Length
 * is too large and as soon as the running count passes the limit (the rest is not buffered).
 */
export function readBody(req: Request, res: Response, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding !== 'identity') {
      reject(
        new SecurityError({
          status: 415,
          code: 'UNSUPPORTED_ENCODING',
          detail: `Content-Encoding "${encoding}" is not accepted; send the body uncompressed.`,
        }),
      );
      return;
    }
    const tooLarge = (received: string) => {
      // The client may still be sending: close the connection after the answer instead of
      // reading (and discarding) an unbounded remainder.
      res.setHeader('Connection', 'close');
      return new SecurityError({
        status: 413,
        code: 'BODY_TOO_LARGE',
        detail: `The request body ${received} exceeds the limit of ${limit} bytes.`,
      });
    };
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > limit) {
      reject(tooLarge(`of ${Number(declared)} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      cleanup();
      req.pause();
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) fail(tooLarge(`of at least ${received} bytes`));
      else chunks.push(chunk);
    };
    const onEnd = () => {
      if (settled) return;
      settled = true;
      cleanup();
      resolve(Buffer.concat(chunks, received));
    };
    const onError = (err: Error) =>
      fail(
        new SecurityError({
          status: 400,
          code: 'REQUEST_ABORTED',
          detail: 'The request body could not be read.',
          cause: err,
        }),
      );
    const onClose = () => {
      if (!req.complete)
        fail(
          new SecurityError({
            status: 400,
            code: 'REQUEST_ABORTED',
            detail: 'The client aborted the request body.',
          }),
        );
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

const utf8Decoder = () => new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

function decodeUtf8(buf: Buffer): string {
  try {
    return utf8Decoder().decode(buf);
  } catch {
    throw new SecurityError({
      status: 400,
      code: 'INVALID_BODY',
      detail: 'The request body is not valid UTF-8.',
    });
  }
}

function checkCharset(charset: string | undefined): void {
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8')
    throw new SecurityError({
      status: 415,
      code: 'UNSUPPORTED_CHARSET',
      detail: `Charset "${charset}" is not accepted; send UTF-8.`,
    });
}

/**
 * One pass over JSON text, outside strings: nesting depth and member count (colons). Runs before
 * `JSON.parse`, so a 100,000-deep document is refused without building it.
 */
function scanJson(text: string, maxDepth: number, maxKeys: number): void {
  let depth = 0;
  let keys = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) inString = false;
      continue;
    }
    if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > maxDepth)
        throw new SecurityError({
          status: 400,
          code: 'BODY_TOO_DEEP',
          detail: `The JSON body nests deeper than ${maxDepth} levels.`,
        });
    } else if (c === 125 || c === 93) depth--;
    else if (c === 58 && ++keys > maxKeys)
      throw new SecurityError({
        status: 400,
        code: 'TOO_MANY_KEYS',
        detail: `The JSON body has more than ${maxKeys} keys.`,
      });
  }
}

/**
 * Finds (and with `strip` deletes) prototype keys at any depth. Iterative, so depth is bounded
 * only by the earlier depth check. Returns the dotted paths found.
 */
export function removeProtoKeys(root: unknown, strip: boolean): string[] {
  const found: string[] = [];
  const stack: { value: unknown; path: string }[] = [{ value: root, path: '' }];
  while (stack.length > 0) {
    const { value, path } = stack.pop() as { value: unknown; path: string };
    if (typeof value !== 'object' || value === null) continue;
    for (const key of Object.keys(value)) {
      const childPath = path ? `${path}.${key}` : key;
      if (PROTO_KEYS.has(key)) {
        found.push(childPath);
        if (strip) delete (value as Record<string, unknown>)[key];
        continue;
      }
      stack.push({ value: (value as Record<string, unknown>)[key], path: childPath });
    }
  }
  return found;
}

function protoRejected(paths: string[]): SecurityError {
  return new SecurityError({
    status: 400,
    code: 'FORBIDDEN_KEY',
    detail: `The body contains forbidden key(s) ${paths
      .slice(0, 5)
      .map((p) => JSON.stringify(p))
      .join(', ')} (__proto__, constructor and prototype are not accepted).`,
  });
}

/**
 * The gate both body parsers share. Calls `next()` and returns false when this parser is not the
 * one to read the body (already parsed, no body, a pass-through type), calls `next(error)` and
 * returns false for a Content-Type or charset it refuses, and returns true when it should read.
 */
function shouldRead(
  req: Request,
  next: NextFunction,
  types: readonly string[],
  passThrough: readonly string[],
  what: string,
): boolean {
  if (alreadyParsed(req) || !hasBody(req)) {
    next();
    return false;
  }
  const ct = parseContentType(req.headers['content-type']);
  if (ct && mediaTypeMatches(ct.mediaType, passThrough)) {
    next();
    return false;
  }
  if (!ct || !mediaTypeMatches(ct.mediaType, types)) {
    next(
      new SecurityError({
        status: 415,
        code: 'UNSUPPORTED_MEDIA_TYPE',
        detail: `Expected ${what} (Content-Type ${types.join(' or ')}), got ${ct ? JSON.stringify(ct.mediaType) : 'no Content-Type'}.`,
      }),
    );
    return false;
  }
  try {
    checkCharset(ct.charset);
  } catch (err) {
    next(err);
    return false;
  }
  return true;
}

/**
 * A JSON body parser that is safe by default: 100 kb limit (413), UTF-8 only, JSON media types
 * only (415), strict top level, depth and key-count limits, and prototype-poisoning keys rejected
 * (or stripped) at any depth. Errors go to `next(err)` as `SecurityError`s.
 */
export function jsonBody(options: JsonBodyOptions = {}): RequestHandler {
  const warner = createWarner(options.logger, options.warnings);
  warnUnknownOptions(warner, 'jsonBody', options, knownJsonOptions);
  const limit = parseBytes(options.limit ?? '100kb', 'jsonBody "limit"');
  const strict = options.strict ?? true;
  const types = typeList(
    options.type,
    ['application/json', 'application/*+json'],
    'jsonBody "type"',
  );
  const passThrough =
    options.passThrough?.length === 0
      ? []
      : typeList(
          options.passThrough,
          ['multipart/form-data', 'application/x-www-form-urlencoded'],
          'jsonBody "passThrough"',
        );
  const strip =
    oneOf(options.protoKeys, ['reject', 'strip'], 'reject', 'jsonBody "protoKeys"') === 'strip';
  const maxDepth = positiveInt(options.maxDepth, 32, 'jsonBody "maxDepth"');
  const maxKeys = positiveInt(options.maxKeys, 1000, 'jsonBody "maxKeys"');
  const logger = options.logger;

  return function jsonBodyMiddleware(req: Request, res: Response, next: NextFunction): void {
    if (!shouldRead(req, next, types, passThrough, 'a JSON body')) return;
    readBody(req, res, limit).then(
      (buf) => {
        try {
          (req as Request & { _body?: boolean })._body = true;
          const text = decodeUtf8(buf);
          if (text.trim() === '') {
            req.body = {};
            next();
            return;
          }
          if (strict) {
            const first = /\S/.exec(text)?.[0];
            if (first !== '{' && first !== '[')
              throw new SecurityError({
                status: 400,
                code: 'INVALID_BODY',
                detail: 'The JSON body must be an object or an array at the top level.',
              });
          }
          scanJson(text, maxDepth, maxKeys);
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch (err) {
            throw new SecurityError({
              status: 400,
              code: 'INVALID_BODY',
              detail: `The body is not valid JSON: ${(err as Error).message}`,
            });
          }
          const found = removeProtoKeys(parsed, strip);
          if (found.length > 0) {
            emitSecurityEvent(logger, 'body_rejected', {
              reason: 'prototype_keys',
              action: strip ? 'stripped' : 'rejected',
              keys: found.slice(0, 10),
              method: req.method,
              path: req.originalUrl.split('?')[0],
            });
            if (!strip) throw protoRejected(found);
          }
          req.body = parsed;
          next();
        } catch (err) {
          next(err);
        }
      },
      (err: unknown) => next(err),
    );
  };
}

/**
 * Parses `a[b][c]=1&a[]=2` style names into nested objects/arrays with a depth limit. Returns
 * an error message for a name that cannot be placed (type conflict).
 */
function assignPath(
  target: Record<string, unknown>,
  segments: string[],
  value: string,
): string | undefined {
  let node: Record<string, unknown> | unknown[] = target;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i] as string;
    const last = i === segments.length - 1;
    const nextIsPush = segments[i + 1] === '';
    if (Array.isArray(node)) {
      if (seg !== '') return 'mixes array and object syntax';
      if (last) node.push(value);
      else {
        const child: Record<string, unknown> | unknown[] = nextIsPush ? [] : {};
        node.push(child);
        node = child;
      }
      continue;
    }
    if (seg === '') return 'mixes array and object syntax';
    const existing: unknown = Object.hasOwn(node, seg) ? node[seg] : undefined;
    if (last) {
      if (existing === undefined) node[seg] = value;
      else if (typeof existing === 'string') node[seg] = [existing, value];
      else if (Array.isArray(existing) && existing.every((v) => typeof v === 'string'))
        existing.push(value);
      else return 'is given both as a value and as an object';
      continue;
    }
    if (existing === undefined) {
      const child: Record<string, unknown> | unknown[] = nextIsPush ? [] : {};
      node[seg] = child;
      node = child;
    } else if (typeof existing === 'object' && existing !== null) {
      if (Array.isArray(existing) !== nextIsPush) return 'mixes array and object syntax';
      node = existing as Record<string, unknown> | unknown[];
    } else return 'is given both as a value and as an object';
  }
  return undefined;
}

function splitName(name: string): string[] {
  const open = name.indexOf('[');
  if (open <= 0) return [name];
  const rest = name.slice(open);
  if (!/^(\[[^[\]]*\])+$/.test(rest)) return [name];
  const segments = [name.slice(0, open)];
  for (const m of rest.matchAll(/\[([^[\]]*)\]/g)) segments.push(m[1] as string);
  return segments;
}

/**
 * An `application/x-www-form-urlencoded` parser with a size limit (413), a parameter-count limit
 * (413), bracket nesting with a depth limit (400) and prototype keys rejected or stripped.
 */
export function urlencodedBody(options: UrlencodedBodyOptions = {}): RequestHandler {
  const warner = createWarner(options.logger, options.warnings);
  warnUnknownOptions(warner, 'urlencodedBody', options, knownUrlencodedOptions);
  const limit = parseBytes(options.limit ?? '100kb', 'urlencodedBody "limit"');
  const parameterLimit = positiveInt(
    options.parameterLimit,
    1000,
    'urlencodedBody "parameterLimit"',
  );
  const maxDepth = positiveInt(options.maxDepth, 5, 'urlencodedBody "maxDepth"');
  const strip =
    oneOf(options.protoKeys, ['reject', 'strip'], 'reject', 'urlencodedBody "protoKeys"') ===
    'strip';
  const types = typeList(
    options.type,
    ['application/x-www-form-urlencoded'],
    'urlencodedBody "type"',
  );
  const passThrough =
    options.passThrough?.length === 0
      ? []
      : typeList(
          options.passThrough,
          ['multipart/form-data', 'application/json', 'application/*+json'],
          'urlencodedBody "passThrough"',
        );
  const logger = options.logger;

  return function urlencodedBodyMiddleware(req: Request, res: Response, next: NextFunction): void {
    if (!shouldRead(req, next, types, passThrough, 'a form body')) return;
    readBody(req, res, limit).then(
      (buf) => {
        try {
          (req as Request & { _body?: boolean })._body = true;
          const text = decodeUtf8(buf);
          let pairs = 0;
          for (let i = text.indexOf('&'); i !== -1; i = text.indexOf('&', i + 1))
            if (++pairs >= parameterLimit) break;
          if (pairs >= parameterLimit)
            throw new SecurityError({
              status: 413,
              code: 'TOO_MANY_PARAMETERS',
              detail: `The form has more than ${parameterLimit} parameters.`,
            });
          const body: Record<string, unknown> = {};
          const forbidden: string[] = [];
          for (const [name, value] of new URLSearchParams(text)) {
            const segments = splitName(name);
            if (segments.length > maxDepth)
              throw new SecurityError({
                status: 400,
                code: 'BODY_TOO_DEEP',
                detail: `The form field ${JSON.stringify(name.slice(0, 100))} nests deeper than ${maxDepth} levels.`,
              });
            if (segments.some((s) => PROTO_KEYS.has(s))) {
              forbidden.push(name.slice(0, 100));
              continue;
            }
            const problem = assignPath(body, segments, value);
            if (problem)
              throw new SecurityError({
                status: 400,
                code: 'INVALID_BODY',
                detail: `The form field ${JSON.stringify(name.slice(0, 100))} ${problem}.`,
              });
          }
          if (forbidden.length > 0) {
            emitSecurityEvent(logger, 'body_rejected', {
              reason: 'prototype_keys',
              action: strip ? 'stripped' : 'rejected',
              keys: forbidden.slice(0, 10),
              method: req.method,
              path: req.originalUrl.split('?')[0],
            });
            if (!strip) throw protoRejected(forbidden);
          }
          req.body = body;
          next();
        } catch (err) {
          next(err);
        }
      },
      (err: unknown) => next(err),
    );
  };
}
