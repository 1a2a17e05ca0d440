import Joi from 'joi';
import { maskInvalidValue } from './mask.js';
import { optionError, unknownKeys, warnUnknownOptions } from './options.js';
import type {
  FlagOptions,
  JsonSpecOptions,
  ListSpecOptions,
  NumberSpecOptions,
  Spec,
  SpecOptions,
  SpecResult,
  UrlSpecOptions,
} from './types.js';

/** Marks `optional: true` without a `default`: the value may be `undefined`. */
type OptionalNoDefault = { readonly optional: true; readonly default?: undefined };

const PKG = '@shipshape/config';

const BASE_KEYS = [
  'default',
  'devDefault',
  'testDefault',
  'optional',
  'secret',
  'description',
  'example',
  'minLength',
] as const;

const OK = <T>(value: T): SpecResult<T> => ({ ok: true, value });
const FAIL = (expected: string): SpecResult<never> => ({ ok: false, expected });

interface SpecDefinition<T> {
  readonly kind: string;
  readonly expected: string;
  readonly extraKeys?: readonly string[];
  /** Parse a raw string from the environment. */
  readonly parse: (raw: string) => SpecResult<T>;
  /** Check a typed value (defaults, overrides passed in code). */
  readonly accept: (value: unknown) => SpecResult<T>;
  readonly format?: (value: T) => string;
  readonly flag?: boolean;
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(maskInvalidValue(value));
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) {
    return String(value);
  }
  if (value === undefined) return 'undefined';
  try {
    return JSON.stringify(value) ?? typeof value;
  } catch {
    return typeof value;
  }
}

function validateOptions(
  kind: string,
  options: object,
  extraKeys: readonly string[],
): Readonly<Record<string, unknown>> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw optionError(`${PKG}: ${kind}() options must be an object, got ${describeValue(options)}`);
  }
  const known = [...BASE_KEYS, ...extraKeys];
  const unknown = unknownKeys(options, known);
  warnUnknownOptions(`${kind}()`, unknown, known);
  const record: Record<string, unknown> = { ...options };
  for (const key of unknown) delete record[key];
  for (const key of ['optional', 'secret'] as const) {
    const v = record[key];
    if (v !== undefined && typeof v !== 'boolean') {
      throw optionError(`${PKG}: ${kind}() "${key}" must be a boolean, got ${describeValue(v)}`);
    }
  }
  for (const key of ['description', 'example'] as const) {
    const v = record[key];
    if (v !== undefined && typeof v !== 'string') {
      throw optionError(`${PKG}: ${kind}() "${key}" must be a string, got ${describeValue(v)}`);
    }
  }
  const minLength = record.minLength;
  if (minLength !== undefined && !(Number.isInteger(minLength) && (minLength as number) >= 0)) {
    throw optionError(
      `${PKG}: ${kind}() "minLength" must be a non-negative integer, got ${describeValue(minLength)}`,
    );
  }
  return Object.freeze({ ...record });
}

function makeSpec<T>(definition: SpecDefinition<T>, rawOptions: object | undefined): Spec<T> {
  const options = validateOptions(definition.kind, rawOptions ?? {}, definition.extraKeys ?? []);
  const minLength = options.minLength as number | undefined;
  const format = definition.format ?? ((value: T) => String(value));
  const expected =
    minLength === undefined
      ? definition.expected
      : `${definition.expected} of at least ${minLength} characters`;

  const check = (input: unknown): SpecResult<T> => {
    const result = typeof input === 'string' ? definition.parse(input) : definition.accept(input);
    if (!result.ok) {
      // Keep the whole expectation in one phrase when the builder's generic one was returned.
      return minLength !== undefined && result.expected === definition.expected
        ? FAIL(expected)
        : result;
    }
    if (minLength !== undefined) {
      const text = typeof input === 'string' ? input : format(result.value);
      if (text.length < minLength) return FAIL(expected);
    }
    return result;
  };

  const spec: Spec<T> = Object.freeze({
    shipshapeConfigSpec: 1 as const,
    kind: definition.kind,
    expected,
    options: options as SpecOptions<T>,
    flag: definition.flag ?? false,
    check,
    format: (value: unknown) => format(value as T),
  });

  for (const key of ['default', 'devDefault', 'testDefault'] as const) {
    const value = options[key];
    if (value === undefined) continue;
    const result = check(value);
    if (!result.ok) {
      throw optionError(
        `${PKG}: ${definition.kind}() "${key}" ${describeValue(value)} is not valid: expected ${result.expected}`,
      );
    }
  }
  return spec;
}

/** joi's message without the top-level `"value"` label (nested paths keep theirs). */
function joiMessage(error: Joi.ValidationError): string {
  return error.message.replace(/^"value" /, '');
}

/** Adapts a joi schema to a spec check; joi's message (without label) becomes `expected`. */
function joiCheck<T>(schema: Joi.Schema, expected: string) {
  return (input: unknown): SpecResult<T> => {
    const { error, value } = schema.validate(input, {
      convert: true,
      abortEarly: true,
      errors: { label: false },
    });
    return error ? FAIL(expected) : OK(value as T);
  };
}

// ---------------------------------------------------------------------------------------------
// str

/** A string. An empty value (`KEY=`) is the empty string. */
export function str(options: SpecOptions<string> & OptionalNoDefault): Spec<string | undefined>;
export function str(options?: SpecOptions<string>): Spec<string>;
export function str(options?: SpecOptions<string>): Spec<string | undefined> {
  const accept = (value: unknown) => (typeof value === 'string' ? OK(value) : FAIL('a string'));
  return makeSpec<string>({ kind: 'str', expected: 'a string', parse: OK, accept }, options);
}

// ---------------------------------------------------------------------------------------------
// numbers

function numberSpec(
  kind: 'num' | 'int' | 'port',
  options: NumberSpecOptions<number> | undefined,
): Spec<number> {
  let schema = Joi.number();
  let expected =
    kind === 'num' ? 'a number' : kind === 'int' ? 'an integer' : 'a port number (integer 0-65535)';
  if (kind === 'int') schema = schema.integer();
  if (kind === 'port') schema = schema.port();
  const min = options?.min;
  const max = options?.max;
  for (const [key, v] of [
    ['min', min],
    ['max', max],
  ] as const) {
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v))) {
      throw optionError(
        `${PKG}: ${kind}() "${key}" must be a finite number, got ${describeValue(v)}`,
      );
    }
  }
  if (min !== undefined) schema = schema.min(min);
  if (max !== undefined) schema = schema.max(max);
  if (min !== undefined && max !== undefined) expected += ` between ${min} and ${max}`;
  else if (min !== undefined) expected += ` >= ${min}`;
  else if (max !== undefined) expected += ` <= ${max}`;
  const check = joiCheck<number>(schema, expected);
  return makeSpec<number>(
    {
      kind,
      expected,
      extraKeys: ['min', 'max'],
      // joi converts "12", " 12 " and "1e3"; it rejects "", "12abc", "0x10", Infinity and unsafe integers.
      parse: (raw) => (raw.trim() === '' ? FAIL(expected) : check(raw)),
      accept: (value) => (typeof value === 'number' ? check(value) : FAIL(expected)),
    },
    options,
  );
}

/** A finite number (`1.5`, `-3`, `1e3`). */
export function num(
  options: NumberSpecOptions<number> & OptionalNoDefault,
): Spec<number | undefined>;
export function num(options?: NumberSpecOptions<number>): Spec<number>;
export function num(options?: NumberSpecOptions<number>): Spec<number | undefined> {
  return numberSpec('num', options);
}

/** A safe integer. */
export function int(
  options: NumberSpecOptions<number> & OptionalNoDefault,
): Spec<number | undefined>;
export function int(options?: NumberSpecOptions<number>): Spec<number>;
export function int(options?: NumberSpecOptions<number>): Spec<number | undefined> {
  return numberSpec('int', options);
}

/** A TCP port, 0-65535 (0 asks the OS for a free port). */
export function port(
  options: NumberSpecOptions<number> & OptionalNoDefault,
): Spec<number | undefined>;
export function port(options?: NumberSpecOptions<number>): Spec<number>;
export function port(options?: NumberSpecOptions<number>): Spec<number | undefined> {
  return numberSpec('port', options);
}

// ---------------------------------------------------------------------------------------------
// bool

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);
const BOOL_EXPECTED = 'a boolean (true/false, 1/0, yes/no, on/off)';

function boolDefinition(kind: string, flag: boolean): SpecDefinition<boolean> {
  return {
    kind,
    expected: BOOL_EXPECTED,
    flag,
    parse: (raw) => {
      const word = raw.trim().toLowerCase();
      if (TRUE_WORDS.has(word)) return OK(true);
      if (FALSE_WORDS.has(word)) return OK(false);
      return FAIL(BOOL_EXPECTED);
    },
    accept: (value) => (typeof value === 'boolean' ? OK(value) : FAIL(BOOL_EXPECTED)),
  };
}

/** A boolean: true/false, 1/0, yes/no, on/off, any case. */
export function bool(options: SpecOptions<boolean> & OptionalNoDefault): Spec<boolean | undefined>;
export function bool(options?: SpecOptions<boolean>): Spec<boolean>;
export function bool(options?: SpecOptions<boolean>): Spec<boolean | undefined> {
  return makeSpec(boolDefinition('bool', false), options);
}

/**
 * A feature flag: a boolean read from `FEATURE_<NAME>`, where `<NAME>` is the schema key in
 * UPPER_SNAKE_CASE (`newCheckout` → `FEATURE_NEW_CHECKOUT`). Defaults to `false`.
 */
export function flag(options?: FlagOptions): Spec<boolean> {
  const given = options ?? {};
  if (typeof given !== 'object' || given === null) {
    throw optionError(`${PKG}: flag() options must be an object, got ${describeValue(given)}`);
  }
  const known = ['default', 'description'];
  warnUnknownOptions('flag()', unknownKeys(given, known), known);
  const resolved: SpecOptions<boolean> = {
    default: given.default ?? false,
    ...(given.description === undefined ? {} : { description: given.description }),
  };
  return makeSpec(boolDefinition('flag', true), resolved);
}

// ---------------------------------------------------------------------------------------------
// url, email, host

/** An absolute URL written `scheme://...`; `protocols` restricts the scheme. */
export function url(options: UrlSpecOptions<string> & OptionalNoDefault): Spec<string | undefined>;
export function url(options?: UrlSpecOptions<string>): Spec<string>;
export function url(options?: UrlSpecOptions<string>): Spec<string | undefined> {
  const protocols = options?.protocols;
  if (
    protocols !== undefined &&
    !(
      Array.isArray(protocols) &&
      protocols.length > 0 &&
      protocols.every((p) => typeof p === 'string' && /^[a-z][a-z0-9+.-]*$/i.test(p))
    )
  ) {
    throw optionError(
      `${PKG}: url() "protocols" must be a non-empty array of schemes such as ["https"], got ${describeValue(protocols)}`,
    );
  }
  const expected = protocols
    ? `an absolute URL with scheme ${protocols.map((p) => `${p}://`).join(' or ')}`
    : 'an absolute URL (scheme://host...)';
  const schema = Joi.string().uri(protocols ? { scheme: [...protocols] } : {});
  const check = (value: unknown): SpecResult<string> => {
    if (typeof value !== 'string') return FAIL(expected);
    // joi's RFC 3986 check alone accepts "localhost:3000" (scheme "localhost"): require "://".
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return FAIL(expected);
    if (schema.validate(value).error) return FAIL(expected);
    try {
      new URL(value);
    } catch {
      return FAIL(expected);
    }
    return OK(value);
  };
  return makeSpec<string>(
    { kind: 'url', expected, extraKeys: ['protocols'], parse: check, accept: check },
    options,
  );
}

/** An email address (any domain; no TLD list). */
export function email(options: SpecOptions<string> & OptionalNoDefault): Spec<string | undefined>;
export function email(options?: SpecOptions<string>): Spec<string>;
export function email(options?: SpecOptions<string>): Spec<string | undefined> {
  const expected = 'an email address';
  const check = joiCheck<string>(Joi.string().email({ tlds: { allow: false } }), expected);
  const guarded = (v: unknown) => (typeof v === 'string' ? check(v) : FAIL(expected));
  return makeSpec<string>({ kind: 'email', expected, parse: guarded, accept: guarded }, options);
}

/** A hostname (RFC 1123) or an IPv4/IPv6 address. */
export function host(options: SpecOptions<string> & OptionalNoDefault): Spec<string | undefined>;
export function host(options?: SpecOptions<string>): Spec<string>;
export function host(options?: SpecOptions<string>): Spec<string | undefined> {
  const expected = 'a hostname or IP address';
  const check = joiCheck<string>(
    Joi.alternatives(Joi.string().hostname(), Joi.string().ip({ cidr: 'forbidden' })),
    expected,
  );
  const guarded = (v: unknown) => (typeof v === 'string' && v !== '' ? check(v) : FAIL(expected));
  return makeSpec<string>({ kind: 'host', expected, parse: guarded, accept: guarded }, options);
}

// ---------------------------------------------------------------------------------------------
// enums

/** One of a fixed set of strings (case-sensitive); the result type is their union. */
export function enums<const V extends readonly [string, ...string[]]>(
  values: V,
  options: SpecOptions<V[number]> & OptionalNoDefault,
): Spec<V[number] | undefined>;
export function enums<const V extends readonly [string, ...string[]]>(
  values: V,
  options?: SpecOptions<V[number]>,
): Spec<V[number]>;
export function enums<const V extends readonly [string, ...string[]]>(
  values: V,
  options?: SpecOptions<V[number]>,
): Spec<V[number] | undefined> {
  if (
    !Array.isArray(values) ||
    values.length === 0 ||
    !values.every((v) => typeof v === 'string')
  ) {
    throw optionError(
      `${PKG}: enums() needs a non-empty array of strings, got ${describeValue(values)}`,
    );
  }
  const allowed = new Set<string>(values);
  const expected = `one of: ${values.join(', ')}`;
  const check = (v: unknown): SpecResult<V[number]> =>
    typeof v === 'string' && allowed.has(v) ? OK(v as V[number]) : FAIL(expected);
  return makeSpec<V[number]>({ kind: 'enums', expected, parse: check, accept: check }, options);
}

// ---------------------------------------------------------------------------------------------
// duration, bytes

const DURATION_UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};
const DURATION_EXPECTED =
  'a duration such as 250ms, 30s, 5m, 1h, 1d (a bare number is milliseconds)';

function formatUnits(value: number, units: readonly (readonly [string, number])[]): string {
  for (const [unit, size] of units) {
    if (value !== 0 && value % size === 0) return `${value / size}${unit}`;
  }
  return `${value}${units[units.length - 1]?.[0] ?? ''}`;
}

/** A duration (`250ms`, `30s`, `5m`, `1h`, `1d`; bare numbers are ms) → milliseconds. */
export function duration(
  options: SpecOptions<number> & OptionalNoDefault,
): Spec<number | undefined>;
export function duration(options?: SpecOptions<number>): Spec<number>;
export function duration(options?: SpecOptions<number>): Spec<number | undefined> {
  return makeSpec<number>(
    {
      kind: 'duration',
      expected: DURATION_EXPECTED,
      parse: (raw) => {
        const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(raw);
        if (!match) return FAIL(DURATION_EXPECTED);
        const unit = DURATION_UNITS[(match[2] ?? 'ms').toLowerCase()] ?? 1;
        const value = Number(match[1]) * unit;
        return Number.isFinite(value) ? OK(value) : FAIL(DURATION_EXPECTED);
      },
      accept: (value) =>
        typeof value === 'number' && Number.isFinite(value) && value >= 0
          ? OK(value)
          : FAIL(DURATION_EXPECTED),
      format: (value) =>
        formatUnits(value, [
          ['d', 86_400_000],
          ['h', 3_600_000],
          ['m', 60_000],
          ['s', 1000],
          ['ms', 1],
        ]),
    },
    options,
  );
}

const BYTE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1024,
  kib: 1024,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};
const BYTES_EXPECTED =
  'a size such as 512b, 512kb, 10mb, 1gb (1kb = 1024 bytes; a bare number is bytes)';

/** A size (`512kb`, `10mb`, `1gb`; 1kb = 1024; bare numbers are bytes) → bytes, rounded down. */
export function bytes(options: SpecOptions<number> & OptionalNoDefault): Spec<number | undefined>;
export function bytes(options?: SpecOptions<number>): Spec<number>;
export function bytes(options?: SpecOptions<number>): Spec<number | undefined> {
  return makeSpec<number>(
    {
      kind: 'bytes',
      expected: BYTES_EXPECTED,
      parse: (raw) => {
        const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*$/i.exec(raw);
        if (!match) return FAIL(BYTES_EXPECTED);
        const unit = BYTE_UNITS[(match[2] ?? 'b').toLowerCase()] ?? 1;
        const value = Math.floor(Number(match[1]) * unit);
        return Number.isSafeInteger(value) ? OK(value) : FAIL(BYTES_EXPECTED);
      },
      accept: (value) =>
        typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
          ? OK(value)
          : FAIL(BYTES_EXPECTED),
      format: (value) =>
        formatUnits(value, [
          ['tb', 1024 ** 4],
          ['gb', 1024 ** 3],
          ['mb', 1024 ** 2],
          ['kb', 1024],
          ['b', 1],
        ]),
    },
    options,
  );
}

// ---------------------------------------------------------------------------------------------
// list, json, custom

/** A separated list (default `,`); items are trimmed, empty items dropped, each checked by `item`. */
export function list<I = string>(
  item: Spec<I> | undefined,
  options: ListSpecOptions<readonly I[]> & OptionalNoDefault,
): Spec<I[] | undefined>;
export function list<I = string>(
  item?: Spec<I>,
  options?: ListSpecOptions<readonly I[]>,
): Spec<I[]>;
export function list<I = string>(
  item?: Spec<I>,
  options?: ListSpecOptions<readonly I[]>,
): Spec<I[] | undefined> {
  const itemSpec = (item ?? str()) as Spec<I>;
  if (!isSpec(itemSpec)) {
    throw optionError(
      `${PKG}: list() item must be a spec such as int(), got ${describeValue(item)}`,
    );
  }
  const separator = options?.separator ?? ',';
  if (typeof separator !== 'string' || separator === '') {
    throw optionError(
      `${PKG}: list() "separator" must be a non-empty string, got ${describeValue(separator)}`,
    );
  }
  const expected = `a list separated by "${separator}" of: ${itemSpec.expected}`;
  const checkItems = (items: readonly unknown[]): SpecResult<I[]> => {
    const out: I[] = [];
    for (const [index, raw] of items.entries()) {
      const result = itemSpec.check(raw);
      if (!result.ok) return FAIL(`${expected} (item ${index + 1} is not ${result.expected})`);
      out.push(result.value);
    }
    return OK(out);
  };
  return makeSpec<I[]>(
    {
      kind: 'list',
      expected,
      extraKeys: ['separator'],
      parse: (raw) =>
        checkItems(
          raw
            .split(separator)
            .map((s) => s.trim())
            .filter((s) => s !== ''),
        ),
      accept: (value) => (Array.isArray(value) ? checkItems(value) : FAIL(expected)),
      format: (value) => value.map((v) => itemSpec.format(v)).join(separator),
    },
    options,
  );
}

/** A JSON value, optionally checked by a joi schema (`schema` option). */
export function json<T = unknown>(
  options: JsonSpecOptions<T> & OptionalNoDefault,
): Spec<T | undefined>;
export function json<T = unknown>(options?: JsonSpecOptions<T>): Spec<T>;
export function json<T = unknown>(options?: JsonSpecOptions<T>): Spec<T | undefined> {
  const schema = options?.schema;
  if (schema !== undefined && !isJoiSchema(schema)) {
    throw optionError(`${PKG}: json() "schema" must be a joi schema, got ${describeValue(schema)}`);
  }
  const expected = 'valid JSON';
  const accept = (value: unknown): SpecResult<T> => {
    if (!schema) return OK(value as T);
    try {
      const { error, value: out } = schema.validate(value);
      return error ? FAIL(`JSON that ${joiMessage(error)}`) : OK(out as T);
    } catch (thrown) {
      return FAIL(
        `JSON accepted by the schema (the schema threw: ${thrown instanceof Error ? thrown.message : String(thrown)})`,
      );
    }
  };
  return makeSpec<T>(
    {
      kind: 'json',
      expected,
      extraKeys: ['schema'],
      parse: (raw) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(raw);
        } catch {
          return FAIL(expected);
        }
        return accept(parsed);
      },
      accept,
      format: (value) => JSON.stringify(value),
    },
    options,
  );
}

/** Any joi schema, for what the builders do not cover. Raw strings are given to joi as-is. */
export function custom<T>(
  schema: Joi.Schema<T>,
  options: SpecOptions<T> & OptionalNoDefault,
): Spec<T | undefined>;
export function custom<T>(schema: Joi.Schema<T>, options?: SpecOptions<T>): Spec<T>;
export function custom<T>(schema: Joi.Schema<T>, options?: SpecOptions<T>): Spec<T | undefined> {
  if (!isJoiSchema(schema)) {
    throw optionError(`${PKG}: custom() needs a joi schema, got ${describeValue(schema)}`);
  }
  const type = (schema as { type?: unknown }).type;
  const expected = `a value accepted by the custom ${typeof type === 'string' ? type : 'joi'} schema`;
  const check = (value: unknown): SpecResult<T> => {
    try {
      const { error, value: out } = schema.validate(value, { convert: true });
      return error ? FAIL(`a value that ${joiMessage(error)}`) : OK(out as T);
    } catch (thrown) {
      // e.g. a schema with external rules ("must use validateAsync()"): report, never rethrow.
      return FAIL(
        `${expected} (the schema threw: ${thrown instanceof Error ? thrown.message : String(thrown)})`,
      );
    }
  };
  return makeSpec<T>(
    {
      kind: 'custom',
      expected,
      parse: check,
      accept: check,
      format: (value) => (typeof value === 'string' ? value : (JSON.stringify(value) ?? '')),
    },
    options,
  );
}

/**
 * True for a joi schema of any joi version: the app may have its own joi. Plain `Joi.isSchema`
 * throws "Cannot mix different versions of joi schemas" for those; each schema validates with
 * its own methods, so mixing is safe here.
 */
function isJoiSchema(value: unknown): value is Joi.Schema {
  return Joi.isSchema(value, { legacy: true });
}

/** True for specs made by any copy of this package. */
export function isSpec(value: unknown): value is Spec<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { shipshapeConfigSpec?: unknown }).shipshapeConfigSpec === 1 &&
    typeof (value as { check?: unknown }).check === 'function'
  );
}

/** Turns a schema entry (spec or raw joi schema) into a spec; `undefined` when it is neither. */
export function toSpec(entry: unknown): Spec<unknown> | undefined {
  if (isSpec(entry)) return entry;
  if (isJoiSchema(entry)) return custom(entry as Joi.Schema<unknown>);
  return undefined;
}
