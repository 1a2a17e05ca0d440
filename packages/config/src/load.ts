import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { inspect } from 'node:util';
import { parseDotenv } from './dotenv.js';
import { maskDeep, maskInvalidValue, maskUrlCredentials, urlCredentials } from './mask.js';
import { optionError, unknownKeys, warnUnknownOptions } from './options.js';
import { toSpec } from './specs.js';
import type {
  Config,
  ConfigIssue,
  ConfigSchema,
  LoadConfigOptions,
  LoadConfigOrExitOptions,
  NodeEnv,
  Spec,
} from './types.js';

const PKG = '@shipshape/config';

/** Shown instead of a secret value. */
export const REDACTED = '[REDACTED]';

/** The environments `NODE_ENV` may name. */
export const NODE_ENVS: readonly NodeEnv[] = Object.freeze([
  'development',
  'test',
  'staging',
  'production',
]);

/** Values a secret may not have in production (compared case-insensitively, trimmed). */
export const WEAK_SECRETS: readonly string[] = Object.freeze([
  '',
  'changeme',
  'change-me',
  'change_me',
  'secret',
  'password',
  'default',
  'example',
  'todo',
  'xxx',
]);

/** Exit status of `loadConfigOrExit` and `shipshape-config check` (sysexits.h EX_CONFIG). */
export const EX_CONFIG = 78;

/** Every problem found by `loadConfig`, at once. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** Stable code for programmatic handling. */
  readonly code = 'SHIPSHAPE_CONFIG_INVALID';
  /** One entry per problem, in schema order after file problems. */
  readonly issues: readonly ConfigIssue[];
  /** The `NODE_ENV` the configuration was loaded for. */
  readonly nodeEnv: string;

  constructor(issues: readonly ConfigIssue[], nodeEnv: string) {
    const n = issues.length;
    super(
      `${PKG}: ${n} problem${n === 1 ? '' : 's'} in the configuration (NODE_ENV=${nodeEnv}):\n${issues
        .map((issue) => `  - ${issue.message}`)
        .join('\n')}`,
    );
    this.issues = Object.freeze(issues.map((issue) => Object.freeze({ ...issue })));
    this.nodeEnv = nodeEnv;
  }
}

const KNOWN_OPTIONS: { readonly [K in keyof Required<LoadConfigOptions>]: true } = {
  cwd: true,
  env: true,
  files: true,
  overrides: true,
  logger: true,
};
const KNOWN_EXIT_OPTIONS: {
  readonly [K in Exclude<keyof Required<LoadConfigOrExitOptions>, keyof LoadConfigOptions>]: true;
} = { stderr: true, exit: true };

/** Metadata kept on every loaded config (non-enumerable, so it never shows up in output). */
interface ConfigMeta {
  readonly secretKeys: readonly string[];
}
const META = Symbol.for('shipshape.config.meta');

interface Candidate {
  readonly value: unknown;
  readonly source: string;
  /** Set by the user (env, file, overrides) rather than taken from the schema. */
  readonly explicit: boolean;
}

/** `newCheckout` → `NEW_CHECKOUT`; `NEW_CHECKOUT` stays. */
function upperSnake(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .toUpperCase();
}

/** The environment variable a schema key is read from. */
export function variableName(key: string, spec: Pick<Spec<unknown>, 'flag'>): string {
  return spec.flag ? `FEATURE_${upperSnake(key)}` : key;
}

function show(value: unknown): string {
  // Masked before clipping: a cut could otherwise keep a password and drop the "@" after it.
  const text = maskInvalidValue(
    typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value)),
  );
  const clipped = text.length > 80 ? `${text.slice(0, 77)}...` : text;
  return JSON.stringify(clipped);
}

function errorReason(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ENOENT':
      return 'file not found (ENOENT)';
    case 'EACCES':
    case 'EPERM':
      return `permission denied (${code})`;
    case 'EISDIR':
      return 'it is a directory, not a file (EISDIR)';
    case 'ENOTDIR':
      return 'a parent of the path is not a directory (ENOTDIR)';
    default:
      return typeof code === 'string' ? `cannot read it (${code})` : 'cannot read it';
  }
}

function resolveSchema(schema: ConfigSchema): [string, Spec<unknown>][] {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    throw optionError(`${PKG}: the schema must be an object of specs, got ${show(schema)}`);
  }
  const out: [string, Spec<unknown>][] = [];
  for (const [key, entry] of Object.entries(schema)) {
    if (key === 'NODE_ENV') {
      throw optionError(
        `${PKG}: NODE_ENV is built in (one of ${NODE_ENVS.join(', ')}); remove it from the schema`,
      );
    }
    const spec = toSpec(entry);
    if (!spec) {
      throw optionError(
        `${PKG}: schema key "${key}" must be a spec such as str() or a joi schema, got ${show(entry)}`,
      );
    }
    out.push([key, spec]);
  }
  return out;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Reflect.ownKeys(value)) {
      deepFreeze((value as Record<PropertyKey, unknown>)[key]);
    }
  }
  return value;
}

/**
 * Loads and validates the configuration described by `schema`.
 *
 * Precedence, lowest first: schema defaults < `.env` < `.env.<NODE_ENV>` < `.env.local` (not
 * when NODE_ENV is test) < the environment (`process.env` or `options.env`) < `options.overrides`.
 * Throws one `ConfigError` listing every problem. The result is deeply frozen; secrets are
 * masked by `JSON.stringify`, `util.inspect` and `redact()`.
 */
/**
 * Set on `globalThis` by the `shipshape-config` CLI while it imports an app's module: a module
 * that loads its configuration as it is imported (`export const config = loadConfigOrExit(schema)`)
 * hands the CLI its schema instead of reading the environment and exiting 78. A symbol from the
 * global registry, so it also reaches a second copy of this package installed elsewhere.
 */
export const SCHEMA_CAPTURE = Symbol.for('@shipshape/config.schemaCapture');

function captureForCli(schema: ConfigSchema): void {
  const capture = (globalThis as Record<symbol, unknown>)[SCHEMA_CAPTURE];
  if (typeof capture === 'function') (capture as (schema: ConfigSchema) => void)(schema);
}

export function loadConfig<const S extends ConfigSchema>(
  schema: S,
  options?: LoadConfigOptions<S>,
): Config<S> {
  captureForCli(schema);
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw optionError(`${PKG}: loadConfig() options must be an object, got ${show(options)}`);
  }
  if (options !== undefined) {
    const logger = options.logger as unknown;
    if (
      logger !== undefined &&
      (typeof logger !== 'object' ||
        logger === null ||
        typeof (logger as { warn?: unknown }).warn !== 'function')
    )
      throw optionError(
        `${PKG}: loadConfig() "logger" must be an object with info, warn and error methods, got ${show(logger)}`,
      );
    for (const key of ['env', 'overrides'] as const) {
      const value = options[key] as unknown;
      if (
        value !== undefined &&
        (typeof value !== 'object' || value === null || Array.isArray(value))
      )
        throw optionError(`${PKG}: loadConfig() "${key}" must be an object, got ${show(value)}`);
    }
    if (options.cwd !== undefined && (typeof options.cwd !== 'string' || options.cwd === ''))
      throw optionError(
        `${PKG}: loadConfig() "cwd" must be a directory path, got ${show(options.cwd)}`,
      );
    const unknown = unknownKeys(options, [
      ...Object.keys(KNOWN_OPTIONS),
      ...Object.keys(KNOWN_EXIT_OPTIONS),
    ]);
    warnUnknownOptions('loadConfig()', unknown, Object.keys(KNOWN_OPTIONS), options.logger);
  }
  const specs = resolveSchema(schema);
  const env = options?.env ?? process.env;
  const cwd = options?.cwd ?? process.cwd();
  const overrides = (options?.overrides ?? {}) as Readonly<Record<string, unknown>>;
  const files = options?.files ?? true;
  if (
    typeof files !== 'boolean' &&
    !(Array.isArray(files) && files.every((f) => typeof f === 'string'))
  ) {
    throw optionError(
      `${PKG}: loadConfig() "files" must be a boolean or an array of paths, got ${show(files)}`,
    );
  }
  const issues: ConfigIssue[] = [];

  // Read one .env file into (variable → candidate); problems become issues.
  const readEnvFile = (name: string, required: boolean): Map<string, Candidate> => {
    const values = new Map<string, Candidate>();
    let text: string;
    try {
      text = readFileSync(resolve(cwd, name), 'utf8');
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code;
      if (code === 'ENOENT' && !required) return values;
      issues.push({
        code: 'unreadable_file',
        variable: name,
        received: undefined,
        expected: 'a readable .env file',
        source: name,
        message: `${name}: ${errorReason(error)}`,
      });
      return values;
    }
    const parsed = parseDotenv(text);
    for (const problem of parsed.problems) {
      issues.push({
        code: problem.kind,
        variable: problem.key ?? name,
        received: undefined,
        expected: problem.kind === 'duplicate_key' ? 'each key set once per file' : 'KEY=value',
        source: `${name}:${problem.line}`,
        message: `${name}:${problem.line}: ${problem.message}`,
      });
    }
    for (const entry of parsed.entries) {
      values.set(entry.key, {
        value: entry.value,
        source: `${name}:${entry.line}`,
        explicit: true,
      });
    }
    return values;
  };

  // A bad cwd is one issue, not one per file.
  let readFiles = files;
  if (files !== false) {
    let problem: string | undefined;
    try {
      if (!statSync(cwd).isDirectory()) problem = 'is not a directory';
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code;
      // A default cwd that vanished is unusual but harmless; an explicit one is a mistake.
      if (options?.cwd !== undefined || code !== 'ENOENT') problem = errorReason(error);
    }
    if (problem !== undefined) {
      issues.push({
        code: 'unreadable_file',
        variable: 'cwd',
        received: cwd,
        expected: 'a directory holding the .env files',
        source: 'options.cwd',
        message: `cwd: ${cwd} ${problem === 'is not a directory' ? problem : `cannot be used: ${problem}`}; no .env file was read`,
      });
      readFiles = false;
    }
  }

  // NODE_ENV decides which files are read, so it is resolved first from the same chain.
  const baseFile = readFiles === true ? readEnvFile('.env', false) : new Map<string, Candidate>();
  const rawNodeEnv: Candidate | undefined =
    overrides.NODE_ENV !== undefined
      ? { value: overrides.NODE_ENV, source: 'overrides', explicit: true }
      : env.NODE_ENV !== undefined
        ? { value: env.NODE_ENV, source: 'environment', explicit: true }
        : baseFile.get('NODE_ENV');
  let nodeEnv: NodeEnv = 'development';
  if (rawNodeEnv !== undefined) {
    if ((NODE_ENVS as readonly unknown[]).includes(rawNodeEnv.value)) {
      nodeEnv = rawNodeEnv.value as NodeEnv;
    } else {
      issues.push({
        code: 'node_env',
        variable: 'NODE_ENV',
        received: String(rawNodeEnv.value),
        expected: `one of: ${NODE_ENVS.join(', ')}`,
        source: rawNodeEnv.source,
        message: `NODE_ENV: expected one of: ${NODE_ENVS.join(', ')}, got ${show(rawNodeEnv.value)} (from ${rawNodeEnv.source}); the other variables were checked as in development`,
      });
    }
  }

  const layers: Map<string, Candidate>[] = [];
  if (readFiles === true) {
    layers.push(baseFile, readEnvFile(`.env.${nodeEnv}`, false));
    if (nodeEnv !== 'test') layers.push(readEnvFile('.env.local', false));
  } else if (Array.isArray(readFiles)) {
    for (const file of readFiles) layers.push(readEnvFile(file, true));
  }

  const result: Record<string, unknown> = {};
  const secretKeys: string[] = [];
  for (const [key, spec] of specs) {
    const variable = variableName(key, spec);
    const opts = spec.options;
    if (opts.secret) secretKeys.push(key);

    let candidate: Candidate | undefined;
    if (overrides[key] !== undefined) {
      candidate = { value: overrides[key], source: 'overrides', explicit: true };
    } else if (env[variable] !== undefined) {
      candidate = { value: env[variable], source: 'environment', explicit: true };
    } else {
      for (let i = layers.length - 1; i >= 0 && !candidate; i--)
        candidate = layers[i]?.get(variable);
    }
    if (!candidate) {
      const pick: [string, unknown][] = [];
      if (nodeEnv === 'test') pick.push(['testDefault', opts.testDefault]);
      if (nodeEnv === 'test' || nodeEnv === 'development')
        pick.push(['devDefault', opts.devDefault]);
      pick.push(['default', opts.default]);
      const found = pick.find(([, value]) => value !== undefined);
      if (found) candidate = { value: found[1], source: found[0], explicit: false };
    }

    const received = (value: unknown): string =>
      opts.secret
        ? REDACTED
        : maskInvalidValue(
            typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value)),
          );

    if (!candidate) {
      if (opts.optional) {
        result[key] = undefined;
        continue;
      }
      const hint =
        opts.secret && nodeEnv === 'production' && (opts.default ?? opts.devDefault) !== undefined
          ? ' (secrets must be set explicitly in production)'
          : '';
      issues.push({
        code: 'missing',
        variable,
        received: undefined,
        expected: spec.expected,
        source: undefined,
        message: `${variable}: required but not set${hint}; expected ${spec.expected}`,
      });
      continue;
    }

    const checked = spec.check(candidate.value);
    if (!checked.ok) {
      issues.push({
        code: 'invalid',
        variable,
        received: received(candidate.value),
        expected: checked.expected,
        source: candidate.source,
        message: `${variable}: expected ${checked.expected}, got ${opts.secret ? REDACTED : show(candidate.value)} (from ${candidate.source})`,
      });
      continue;
    }

    if (opts.secret && nodeEnv === 'production') {
      if (!candidate.explicit) {
        issues.push({
          code: 'secret_not_explicit',
          variable,
          received: REDACTED,
          expected: 'a value set explicitly in the environment or a .env file',
          source: candidate.source,
          message: `${variable}: a secret must be set explicitly in production; the schema ${candidate.source} is not used`,
        });
        continue;
      }
      const text =
        typeof candidate.value === 'string' ? candidate.value : spec.format(checked.value);
      if (WEAK_SECRETS.includes(text.trim().toLowerCase())) {
        issues.push({
          code: 'weak_secret',
          variable,
          received: REDACTED,
          expected: `a strong secret (not empty, not a placeholder such as ${WEAK_SECRETS.filter(
            (w) => w,
          )
            .slice(0, 3)
            .join(', ')})`,
          source: candidate.source,
          message: `${variable}: weak secret in production (${text.trim() === '' ? 'empty' : 'a known placeholder'}, from ${candidate.source})`,
        });
        continue;
      }
    }
    result[key] = copyValue(checked.value);
  }

  if (issues.length > 0) throw new ConfigError(issues, String(rawNodeEnv?.value ?? nodeEnv));

  result.NODE_ENV = nodeEnv;
  const meta: ConfigMeta = Object.freeze({ secretKeys: Object.freeze(secretKeys) });
  Object.defineProperty(result, META, { value: meta });
  Object.defineProperty(result, 'toJSON', {
    value: function toJSON(this: Record<string, unknown>) {
      return redactRecord(this, meta);
    },
  });
  Object.defineProperty(result, inspect.custom, {
    value: function inspectConfig(this: Record<string, unknown>) {
      return redactRecord(this, meta);
    },
  });
  return deepFreeze(result) as Config<S>;
}

/** Defaults and overrides may be the caller's objects: freeze a copy, never theirs. */
function copyValue(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  try {
    return structuredClone(value);
  } catch {
    return value;
  }
}

function metaOf(config: object): ConfigMeta {
  const meta = (config as Record<symbol, unknown>)[META] as ConfigMeta | undefined;
  if (!meta) {
    throw optionError(`${PKG}: expected a config returned by loadConfig(), got ${show(config)}`);
  }
  return meta;
}

function redactRecord(config: Record<string, unknown>, meta: ConfigMeta): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) out[key] = maskDeep(value, maskUrlCredentials);
  for (const key of meta.secretKeys) {
    if (out[key] !== undefined) out[key] = REDACTED;
  }
  return out;
}

/**
 * A frozen plain copy of `config` with every secret replaced by `[REDACTED]` (unset secrets stay
 * undefined) and the credentials of every URL in the other values masked
 * (`redis://user:***@host`, `https://***@host` for a lone token).
 */
export function redact<C extends object>(config: C): { readonly [K in keyof C]: C[K] | string } {
  return deepFreeze(redactRecord(config as Record<string, unknown>, metaOf(config))) as {
    readonly [K in keyof C]: C[K] | string;
  };
}

/**
 * Every secret value of `config` as a string (non-empty, de-duplicated), for log scrubbing.
 * List secrets contribute each item as well as the whole list as it would be written in .env.
 * The password (or lone token) of every URL in any value is included too, as written and
 * percent-decoded, so a log line quoting it is scrubbed even when the variable is not secret.
 */
export function secretValues(config: object): readonly string[] {
  const meta = metaOf(config);
  const out = new Set<string>();
  const add = (value: unknown): void => {
    if (value === undefined || value === null) return;
    const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
    if (text !== '') out.add(text);
  };
  for (const key of meta.secretKeys) {
    const value = (config as Record<string, unknown>)[key];
    if (Array.isArray(value)) {
      for (const item of value) add(item);
      if (value.every((item) => typeof item === 'string')) add(value.join(','));
    } else {
      add(value);
    }
  }
  for (const value of Object.values(config)) urlCredentials(value, out);
  return Object.freeze([...out]);
}

/** `loadConfig`, but on a `ConfigError` write the report to stderr and exit with 78 (EX_CONFIG). */
export function loadConfigOrExit<const S extends ConfigSchema>(
  schema: S,
  options?: LoadConfigOrExitOptions<S>,
): Config<S> {
  try {
    return loadConfig(schema, options);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    (options?.stderr ?? process.stderr).write(`${error.message}\n`);
    const exit = options?.exit ?? ((code: number) => process.exit(code));
    return exit(EX_CONFIG);
  }
}
