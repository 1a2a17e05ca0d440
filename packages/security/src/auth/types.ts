import type { IncomingMessage } from 'node:http';

/** Who made a request, as proven by one credential source. */
export interface Principal {
  /** Stable account id, e.g. `key:glass_3fa9c1d2` or `jwt:https://idp.example|user-42`. */
  readonly id: string;
  /** Display name (key name, token `name` claim); never a secret. */
  readonly name: string;
  /** Roles after inheritance (`admin` also holds every role `admin` includes). */
  readonly roles: readonly string[];
  /** The source that proved it: `apiKey`, `jwt`, `session`, or a custom source's name. */
  readonly source: string;
  /** For a session: the source the session was signed in with. */
  readonly via: string | undefined;
  /** Epoch ms after which the credential is no longer valid (token `exp`), if known. */
  readonly expiresAt: number | undefined;
}

/** What a credential source returns for a valid credential. */
export interface PrincipalInit {
  readonly id: string;
  readonly name?: string;
  readonly roles: readonly string[];
  /** For sessions: the source the session was signed in with. */
  readonly via?: string;
  readonly expiresAt?: number;
}

/** The outcome of checking one credential. */
export type CredentialCheck =
  | { readonly ok: true; readonly principal: PrincipalInit }
  | {
      readonly ok: false;
      /** Why, for the security log (never echoed to the client). */
      readonly reason: string;
      /** The account the credential claimed (key id, subject), for per-account throttling. */
      readonly account?: string;
      /**
       * Whether the failure counts towards brute-force throttling. An expired session of ours is
       * not an attack; a key that does not exist is. @default true
       */
      readonly count?: boolean;
      /** Problem code sent to the client. @default 'AUTH_INVALID' */
      readonly code?: string;
      /** A dependency (JWKS endpoint, session store) failed: 503, not 401. @default false */
      readonly unavailable?: boolean;
    };

/**
 * A pluggable way to prove who is calling: `apiKeys()`, `jwtBearer()`, `cookieSessions()`, or
 * your own. `read` finds the credential on the request; `verify` checks it.
 */
export interface CredentialSource {
  readonly name: string;
  /** The credential this source reads from the request, or `undefined` when it carries none. */
  read(req: IncomingMessage): string | undefined;
  /**
   * Checks a credential. `undefined` means "not of my kind" (a JWT offered to the API-key source),
   * so the next source gets it.
   */
  verify(
    credential: string,
    req: IncomingMessage,
  ): CredentialCheck | undefined | Promise<CredentialCheck | undefined>;
  /**
   * Whether an account this source proved is still valid (a key not revoked since). Sessions
   * signed in with this source are ended when it answers `false`. @default always valid
   */
  active?(id: string): boolean | Promise<boolean>;
  /** Whether `signIn(credential)` may use this source (not for the session cookie itself). @default true */
  readonly interactive?: boolean;
}

/** A stored API key: only a hash of the secret is kept. */
export interface StoredApiKey {
  /** The key id (its non-secret prefix, e.g. `glass_3fa9c1d2`); also the account name. */
  readonly id: string;
  /** `sha256:<hex>` of the whole key. */
  readonly hash: string;
  readonly roles: readonly string[];
  /** Display name. @default the id */
  readonly name?: string;
  /** Epoch ms when it was revoked; a revoked key is refused (and logged as misuse). */
  readonly revokedAt?: number;
  /** Epoch ms after which it is refused. */
  readonly expiresAt?: number;
}

/** Where `apiKeys()` looks keys up, by id. Methods may be sync or async. */
export interface ApiKeyStore {
  get(id: string): StoredApiKey | undefined | Promise<StoredApiKey | undefined>;
}

/** A session as kept on the server. */
export interface SessionRecord {
  readonly principal: {
    readonly id: string;
    readonly name: string;
    readonly roles: readonly string[];
    readonly via: string;
  };
  /** Epoch ms of the sign-in. */
  readonly createdAt: number;
  /** Epoch ms of the last request seen (written at most every `touchIntervalMs`). */
  readonly lastSeenAt: number;
  /** Epoch ms when the session ends regardless of activity. */
  readonly expiresAt: number;
}

/**
 * Server-side session storage, keyed by a hash of the session id (a leaked store dump does not
 * hold usable cookies). Methods may be sync or async.
 */
export interface SessionStore {
  get(key: string): SessionRecord | undefined | Promise<SessionRecord | undefined>;
  set(key: string, record: SessionRecord, ttlMs: number): void | Promise<void>;
  delete(key: string): void | Promise<void>;
  close?(): void | Promise<void>;
}
