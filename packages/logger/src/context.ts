import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { IncomingMessage, type ServerResponse } from 'node:http';
import { invalidOption, warnUnknownOptions } from './options.js';
import type { RequestContext, RequestContextOptions } from './types.js';

/** @internal the mutable store behind `RequestContext`. */
export interface ContextStore {
  readonly requestId: string;
  fields: Record<string, unknown> | undefined;
}

// Constructing AsyncLocalStorage starts nothing; hooks are enabled on the first run().
// It is shared on purpose: getRequestId() must see the context set by any requestContext().
export const storage = new AsyncLocalStorage<ContextStore>();

/** The current request's id, or undefined outside a request. */
export function getRequestId(): string | undefined {
  return storage.getStore()?.requestId;
}

/** A snapshot of the current request's context, or undefined outside a request. */
export function getRequestContext(): RequestContext | undefined {
  const store = storage.getStore();
  if (!store) return undefined;
  return { requestId: store.requestId, fields: { ...store.fields } };
}

/**
 * Adds fields to the current request's context; every line logged later in the request carries
 * them (after redaction). Returns false (and does nothing) outside a request.
 */
export function addContextFields(fields: Readonly<Record<string, unknown>>): boolean {
  const store = storage.getStore();
  if (!store) return false;
  store.fields = store.fields ? { ...store.fields, ...fields } : { ...fields };
  return true;
}

/** Runs `fn` inside a request context (for jobs, queue consumers and tests). */
export function runWithRequestContext<T>(
  context: { readonly requestId?: string; readonly fields?: Readonly<Record<string, unknown>> },
  fn: () => T,
): T {
  const store: ContextStore = {
    requestId: context.requestId ?? randomUUID(),
    fields: context.fields ? { ...context.fields } : undefined,
  };
  return storage.run(store, fn);
}

/** True for 1–128 chars of `[A-Za-z0-9._:-]`; a loop, not a regex, because it runs per request. */
export function isAcceptableRequestId(value: string): boolean {
  const n = value.length;
  if (n === 0 || n > 128) return false;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (
      (c >= 48 && c <= 58) || // 0-9 and ':'
      (c >= 65 && c <= 90) || // A-Z
      (c >= 97 && c <= 122) || // a-z
      c === 45 || // -
      c === 46 || // .
      c === 95 // _
    )
      continue;
    return false;
  }
  return true;
}

const knownOptions: { [K in keyof Required<RequestContextOptions>]: true } = {
  header: true,
  trustIncoming: true,
  responseHeader: true,
  generateId: true,
};

type ContextRequest = IncomingMessage & { id?: string };

// `req.id` without adding a property to each request. Express sets every request's prototype to
// its app's `request` object; a property added to a request after that costs V8 a new hidden class
// per request (~3 µs, and later reads of any request property get slower). So the id lives in a
// WeakMap and `id` is an accessor on Express's shared request prototype (the one below
// `http.IncomingMessage.prototype`, common to every app and mounted sub-app of that Express copy).
// Assigning `req.id` still works: the setter makes it an own property of that request.
const requestIds = new WeakMap<object, string>();
const idAccessor: PropertyDescriptor = {
  configurable: true,
  enumerable: false,
  get(this: object): string | undefined {
    return requestIds.get(this);
  },
  set(this: object, value: unknown) {
    Object.defineProperty(this, 'id', {
      value,
      writable: true,
      enumerable: true,
      configurable: true,
    });
  },
};
/** Prototype of a request → whether its chain carries the accessor (else: own property). */
const accessorOn = new WeakMap<object, boolean>();

function hasIdAccessor(proto: object | null): boolean {
  if (proto === null) return false;
  let known = accessorOn.get(proto);
  if (known === undefined) {
    known = false;
    // Walk up to the object whose prototype is IncomingMessage.prototype (Express's `request`).
    let shared: object | null = proto;
    while (shared !== null && Object.getPrototypeOf(shared) !== IncomingMessage.prototype)
      shared = Object.getPrototypeOf(shared) as object | null;
    if (shared !== null && shared !== IncomingMessage.prototype) {
      const existing = Object.getOwnPropertyDescriptor(shared, 'id');
      if (existing === undefined) Object.defineProperty(shared, 'id', idAccessor);
      known = existing === undefined || existing.get === idAccessor.get;
      // An own `id` on a prototype in between would hide the accessor.
      for (
        let p: object | null = proto;
        known && p !== shared && p !== null;
        p = Object.getPrototypeOf(p)
      )
        if (Object.hasOwn(p, 'id')) known = false;
    }
    accessorOn.set(proto, known);
  }
  return known;
}

/**
 * Middleware giving every request an id (the incoming `X-Request-Id` when acceptable, else a new
 * UUID), echoed in the response and held in AsyncLocalStorage for everything the request runs.
 * Mount it first.
 */
export function requestContext(options: RequestContextOptions = {}) {
  if (typeof options !== 'object' || options === null)
    invalidOption(`requestContext options must be an object, got ${String(options)}`);
  // No logger here: unknown keys go to process.emitWarning.
  warnUnknownOptions('requestContext', options, knownOptions);
  const header = (options.header ?? 'x-request-id').toLowerCase();
  if (!/^[a-z0-9-]+$/.test(header))
    invalidOption(
      `requestContext "header" must be an HTTP header name, got ${JSON.stringify(options.header)}`,
    );
  const trustIncoming = options.trustIncoming ?? true;
  if (typeof trustIncoming !== 'boolean')
    invalidOption(
      `requestContext "trustIncoming" must be a boolean, got ${JSON.stringify(trustIncoming)}`,
    );
  const responseHeader = options.responseHeader ?? 'X-Request-Id';
  if (
    responseHeader !== false &&
    (typeof responseHeader !== 'string' || !/^[A-Za-z0-9-]+$/.test(responseHeader))
  )
    invalidOption(
      `requestContext "responseHeader" must be an HTTP header name or false, got ${JSON.stringify(responseHeader)}`,
    );
  const generateId = options.generateId ?? randomUUID;
  if (typeof generateId !== 'function')
    invalidOption(`requestContext "generateId" must be a function, got ${typeof generateId}`);

  let lastProto: object | null = null;
  let viaAccessor = false;
  return function requestContextMiddleware(
    req: ContextRequest,
    res: ServerResponse,
    next: (err?: unknown) => void,
  ): void {
    let id: string | undefined;
    if (trustIncoming) {
      const incoming = req.headers[header];
      if (typeof incoming === 'string' && isAcceptableRequestId(incoming)) id = incoming;
    }
    if (id === undefined) id = generateId();
    // The prototype is the same object for every request of an app: checked once per app.
    const proto = Object.getPrototypeOf(req) as object | null;
    if (proto !== lastProto) {
      lastProto = proto;
      viaAccessor = hasIdAccessor(proto);
    }
    if (viaAccessor && !Object.hasOwn(req, 'id')) requestIds.set(req, id);
    else req.id = id;
    if (responseHeader !== false) res.setHeader(responseHeader, id);
    const store: ContextStore = { requestId: id, fields: undefined };
    // Body 'data'/'end' events are emitted from the socket's async context, not the one run()
    // creates, so a request with a body re-enters the context for its events (multipart parsers
    // and body readers then see the id). Bodiless requests skip this cost.
    if (
      req.headers['content-length'] !== undefined ||
      req.headers['transfer-encoding'] !== undefined
    )
      bindEmitter(req, store);
    storage.run(store, next);
  };
}

function bindEmitter(req: IncomingMessage, store: ContextStore): void {
  const emit = req.emit;
  req.emit = function emitInRequestContext(this: IncomingMessage, ...args: unknown[]) {
    return storage.run(store, () => (emit as (...a: unknown[]) => boolean).apply(this, args));
  } as typeof req.emit;
}
