// Per-request authentication state: one fixed-shape object per request, kept beside the request
// (never as properties on it, which would give every Express 5 request a new hidden class).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from './types.js';

/** What `requireRole()` needs from the `authenticate()` that ran before it. */
export interface AuthorityHooks {
  forbidden(
    req: IncomingMessage,
    res: ServerResponse,
    principal: Principal,
    roles: readonly string[],
  ): void;
}

export interface AuthState {
  principal: Principal | undefined;
  /** The session id when the principal came from a session cookie. */
  sessionId: string | undefined;
  authority: AuthorityHooks;
}

const states = new WeakMap<object, AuthState>();

export function setAuthState(req: object, state: AuthState): void {
  states.set(req, state);
}

export function authStateOf(req: object): AuthState | undefined {
  return states.get(req);
}

/** The principal `authenticate()` found for this request, or `undefined` (anonymous). */
export function principalOf(req: object): Principal | undefined {
  return states.get(req)?.principal;
}
