import type Joi from 'joi';

/** The environments `loadConfig` accepts in `NODE_ENV`. */
export type NodeEnv = 'development' | 'test' | 'staging' | 'production';

/** Options every spec builder accepts. `T` is the parsed value type. */
export interface SpecOptions<T> {
  /** Value used in every environment when the variable is not set. @default undefined */
  readonly default?: T | undefined;
  /** Value used when `NODE_ENV` is `development` or `test` (never staging or production). @default undefined */
  readonly devDefault?: T | undefined;
  /** Value used when `NODE_ENV` is `test`; wins over `devDefault`. @default undefined */
  readonly testDefault?: T | undefined;
  /** When `true` a missing variable is `undefined` instead of an error. @default false */
  readonly optional?: boolean | undefined;
  /** Masked in errors, `redact()`, `JSON.stringify()`; guarded in production. @default false */
  readonly secret?: boolean | undefined;
  /** One line shown in `.env.example` and the docs table. @default undefined */
  readonly description?: string | undefined;
  /** Example value (as it would be written in a .env file) for `.env.example` and docs. @default undefined */
  readonly example?: string | undefined;
  /** Minimum length of the raw string value, in every environment. @default undefined */
  readonly minLength?: number | undefined;
}

/** Options of `num()` and `int()`. */
export interface NumberSpecOptions<T> extends SpecOptions<T> {
  /** Smallest accepted value (inclusive). @default undefined */
  readonly min?: number | undefined;
  /** Largest accepted value (inclusive). @default undefined */
  readonly max?: number | undefined;
}

/** Options of `url()`. */
export interface UrlSpecOptions<T> extends SpecOptions<T> {
  /** Accepted URL schemes, without `:`. @default any scheme */
  readonly protocols?: readonly string[] | undefined;
}

/** Options of `list()`. */
export interface ListSpecOptions<T> extends SpecOptions<T> {
  /** Item separator. @default ',' */
  readonly separator?: string | undefined;
}

/** Options of `json()`. */
export interface JsonSpecOptions<T> extends SpecOptions<T> {
  /** A joi schema the parsed JSON must satisfy. @default undefined (any JSON) */
  readonly schema?: Joi.Schema | undefined;
}

/** Options of `flag()`. */
export interface FlagOptions {
  /** Value when `FEATURE_<NAME>` is not set. @default false */
  readonly default?: boolean | undefined;
  /** One line shown in `.env.example` and the docs table. @default undefined */
  readonly description?: string | undefined;
}

/** Result of checking one raw or typed value against a spec. */
export type SpecResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly expected: string };

/**
 * One variable of a schema, made by a builder (`str()`, `port()`, ...). Plain data plus a
 * `check` function, so schemas built by another copy of the package are understood too.
 */
export interface Spec<T> {
  /** Brand recognised across copies of the package. */
  readonly shipshapeConfigSpec: 1;
  /** Builder name: `str`, `port`, `flag`... */
  readonly kind: string;
  /** Human description of the accepted values, used in errors and generated docs. */
  readonly expected: string;
  /** Options exactly as given to the builder (frozen). */
  readonly options: SpecOptions<T>;
  /** For `flag()`: the environment variable is `FEATURE_<NAME>` instead of the key itself. */
  readonly flag: boolean;
  /** Parses a raw string (from the environment) or checks a typed value (defaults, overrides). */
  readonly check: (input: unknown) => SpecResult<T>;
  /** Renders a typed value (of this spec) the way it would be written in a .env file. */
  readonly format: (value: unknown) => string;
  /** Phantom member carrying the value type; never set at runtime. */
  readonly __type?: T;
}

/** A schema: environment variable name (or flag name) → spec or a custom joi schema. */
export type ConfigSchema = Readonly<Record<string, Spec<unknown> | Joi.Schema>>;

/** The value type a spec or joi schema produces. */
export type InferSpec<S> = S extends Spec<infer T> ? T : S extends Joi.Schema<infer T> ? T : never;

/** Deeply readonly view, as `loadConfig` deep-freezes the result. */
export type DeepReadonly<T> = T extends (...args: never[]) => unknown
  ? T
  : T extends readonly (infer I)[]
    ? readonly DeepReadonly<I>[]
    : T extends object
      ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
      : T;

/** The typed result of `loadConfig(schema)`. */
export type Config<S extends ConfigSchema> = DeepReadonly<
  { -readonly [K in keyof S]: InferSpec<S[K]> } & { NODE_ENV: NodeEnv }
>;

/** Values passed in code; the highest precedence. Raw strings are parsed like env values. */
export type ConfigOverrides<S extends ConfigSchema> = {
  readonly [K in keyof S]?: InferSpec<S[K]> | string | undefined;
} & { readonly NODE_ENV?: NodeEnv | string | undefined };

/** Minimal logger shape (a winston logger satisfies it). */
export interface Logger {
  info(message: string, meta?: Record<string, unknown>): unknown;
  warn(message: string, meta?: Record<string, unknown>): unknown;
  error(message: string, meta?: Record<string, unknown>): unknown;
  debug?(message: string, meta?: Record<string, unknown>): unknown;
}

/** Options of `loadConfig`. */
export interface LoadConfigOptions<S extends ConfigSchema = ConfigSchema> {
  /** Directory the .env files are read from. @default process.cwd() */
  readonly cwd?: string | undefined;
  /** The environment to read instead of `process.env` (tests pass a plain object). @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined;
  /**
   * `true`: `.env`, `.env.<NODE_ENV>`, `.env.local` (not in test), missing files skipped.
   * `false`: no files. An array: exactly these files (relative to `cwd`), lowest precedence
   * first; a missing listed file is an issue.
   * @default true
   */
  readonly files?: boolean | readonly string[] | undefined;
  /** Values set in code; they win over everything. @default {} */
  readonly overrides?: ConfigOverrides<S> | undefined;
  /** Receives coded warnings (e.g. `SHIPSHAPE_CONFIG_UNKNOWN_OPTION`). @default process.emitWarning */
  readonly logger?: Logger | undefined;
}

/** Options of `loadConfigOrExit` (in addition to `LoadConfigOptions`). */
export interface LoadConfigOrExitOptions<S extends ConfigSchema = ConfigSchema>
  extends LoadConfigOptions<S> {
  /** Where the report is written. @default process.stderr */
  readonly stderr?: { write(chunk: string): unknown } | undefined;
  /** Called with 78 on failure. @default process.exit */
  readonly exit?: ((code: number) => never) | undefined;
}

/** Stable codes of `ConfigIssue`. */
export type ConfigIssueCode =
  | 'missing'
  | 'invalid'
  | 'node_env'
  | 'duplicate_key'
  | 'syntax'
  | 'unreadable_file'
  | 'secret_not_explicit'
  | 'weak_secret';

/** One problem found while loading the configuration. */
export interface ConfigIssue {
  /** Stable machine-readable code. */
  readonly code: ConfigIssueCode;
  /** Environment variable (or file, for file-level problems) the issue is about. */
  readonly variable: string;
  /** The raw value received; `[REDACTED]` for secrets; `undefined` when nothing was set. */
  readonly received: string | undefined;
  /** What would have been accepted. */
  readonly expected: string;
  /** Where the value came from: `process.env`, `.env:3`, `overrides`, `default`... */
  readonly source: string | undefined;
  /** The whole problem as one line. */
  readonly message: string;
}
