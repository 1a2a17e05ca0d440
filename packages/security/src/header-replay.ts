// Runs a header middleware (helmet's) once against a recording response, and replays what it did.
import type { IncomingMessage, ServerResponse } from 'node:http';

type Next = (err?: unknown) => void;
export type HeaderMiddleware = (req: IncomingMessage, res: ServerResponse, next: Next) => void;

/** One recorded effect: set a header, remove one, or run a middleware per request. */
export type ReplayStep =
  | { readonly kind: 'set'; readonly name: string; readonly value: string }
  | { readonly kind: 'remove'; readonly name: string }
  | { readonly kind: 'run'; readonly middleware: HeaderMiddleware };

/**
 * What `middleware` does to a response, when that is the same for every request: it only calls
 * `res.setHeader(name, string)` / `res.removeHeader(name)`, reads nothing from the request or the
 * response, and calls `next()` synchronously without an error. Anything else (a CSP nonce read
 * from `res.locals`, a function directive, a future helmet that looks at the request) returns
 * one `run` step: that middleware then runs per request, as before.
 */
export function recordHeaders(middleware: HeaderMiddleware): ReplayStep[] {
  const steps: ReplayStep[] = [];
  let fixed = true;
  let finished = false;
  const req = new Proxy(
    {},
    {
      get() {
        fixed = false;
        return undefined;
      },
      has() {
        fixed = false;
        return false;
      },
    },
  );
  const res = new Proxy(
    {},
    {
      get(_target, property) {
        if (property === 'setHeader')
          return (name: unknown, value: unknown) => {
            if (typeof name !== 'string' || typeof value !== 'string') fixed = false;
            else steps.push({ kind: 'set', name, value });
          };
        if (property === 'removeHeader')
          return (name: unknown) => {
            if (typeof name !== 'string') fixed = false;
            else steps.push({ kind: 'remove', name });
          };
        fixed = false;
        return undefined;
      },
      has() {
        fixed = false;
        return false;
      },
    },
  );
  try {
    middleware(req as IncomingMessage, res as ServerResponse, (err?: unknown) => {
      if (err !== undefined && err !== null) fixed = false;
      finished = true;
    });
  } catch {
    fixed = false;
  }
  return fixed && finished ? steps : [{ kind: 'run', middleware }];
}

/**
 * Applies recorded steps to a response, then calls `next` (with the error of a `run` step, if one
 * fails). Sets and removals are plain calls in a loop; a removal is skipped when the header is
 * absent (the same outcome, without `delete` on the response's header object).
 */
export function replayHeaders(
  steps: readonly ReplayStep[],
  req: IncomingMessage,
  res: ServerResponse,
  next: Next,
  from = 0,
): void {
  for (let i = from; i < steps.length; i++) {
    const step = steps[i] as ReplayStep;
    if (step.kind === 'set') res.setHeader(step.name, step.value);
    else if (step.kind === 'remove') {
      if (res.hasHeader(step.name)) res.removeHeader(step.name);
    } else {
      step.middleware(req, res, (err?: unknown) => {
        if (err) next(err);
        else replayHeaders(steps, req, res, next, i + 1);
      });
      return;
    }
  }
  next();
}
