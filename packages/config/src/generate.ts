import { readFileSync } from 'node:fs';
import { variableName } from './load.js';
import { maskUrlCredentials } from './mask.js';
import { optionError } from './options.js';
import { toSpec } from './specs.js';
import type { ConfigSchema, Spec } from './types.js';

const PKG = '@shipshape/config';

interface Row {
  readonly variable: string;
  readonly spec: Spec<unknown>;
}

function rows(schema: ConfigSchema): Row[] {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    throw optionError(`${PKG}: the schema must be an object of specs`);
  }
  return Object.entries(schema).map(([key, entry]) => {
    const spec = toSpec(entry);
    if (!spec) {
      throw optionError(`${PKG}: schema key "${key}" must be a spec such as str() or a joi schema`);
    }
    return { variable: variableName(key, spec), spec };
  });
}

function oneLine(text: string): string {
  return text.replace(/\s*\r?\n\s*/g, ' ').trim();
}

/** A default as shown in generated files: credentials inside URLs masked. */
function shown(spec: Spec<unknown>, value: unknown): string {
  return maskUrlCredentials(spec.format(value));
}

/** Formats a default for display; secrets never show theirs. */
function defaults(spec: Spec<unknown>): string[] {
  const out: string[] = [];
  const { options } = spec;
  if (options.default !== undefined) out.push(`default: ${shown(spec, options.default)}`);
  if (options.devDefault !== undefined) out.push(`development: ${shown(spec, options.devDefault)}`);
  if (options.testDefault !== undefined) out.push(`test: ${shown(spec, options.testDefault)}`);
  return out;
}

/** Required in every environment (no default of any kind, not optional). */
function required(spec: Spec<unknown>): boolean {
  const { options } = spec;
  return (
    !options.optional &&
    options.default === undefined &&
    options.devDefault === undefined &&
    options.testDefault === undefined
  );
}

/** `required`, `optional`, or where it is required when only some environments have a default. */
function requirement(spec: Spec<unknown>): string {
  const { options } = spec;
  if (required(spec)) return 'required';
  if (options.optional) return 'optional';
  if (options.default === undefined) return 'required in staging and production';
  return options.secret ? 'required in production' : 'optional';
}

/** Quotes a value for a .env file when it needs it. */
function envValue(value: string): string {
  if (value === '' || /^[A-Za-z0-9_./:@,+-]*$/.test(value)) return value;
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

const HEADER = [
  '# Generated from the configuration schema by `shipshape-config example`. Do not edit by hand.',
  '# Variables required in every environment are uncommented; the others are commented out.',
  '',
  '# Environment: development | test | staging | production (default: development)',
  '# NODE_ENV=development',
];

/**
 * `.env.example` text for `schema`: each variable with its description, type, defaults and
 * example. Required variables are uncommented (`KEY=` + example), others commented out with
 * their default; secrets are always blank.
 */
export function generateEnvExample(schema: ConfigSchema): string {
  const lines = [...HEADER];
  for (const { variable, spec } of rows(schema)) {
    const { options } = spec;
    lines.push('');
    if (options.description) lines.push(`# ${oneLine(options.description)}`);
    const facts = [`type: ${spec.expected}`];
    if (options.secret) facts.push('secret');
    facts.push(requirement(spec));
    if (!options.secret) facts.push(...defaults(spec));
    if (options.example !== undefined && !options.secret)
      facts.push(`example: ${oneLine(options.example)}`);
    lines.push(`# ${facts.join(' · ')}`);
    let value = '';
    // Secrets stay blank; examples are written the way a .env file wants them; defaults may need quotes.
    if (!options.secret) {
      if (options.example !== undefined) value = oneLine(options.example);
      else if (options.default !== undefined) value = envValue(shown(spec, options.default));
    }
    lines.push(`${required(spec) ? '' : '# '}${variable}=${value}`);
  }
  return `${lines.join('\n')}\n`;
}

function cell(text: string): string {
  return oneLine(text).replace(/\|/g, '\\|');
}

/** A Markdown table of every variable: name, type, required, defaults, secret, description, example. */
export function generateMarkdown(schema: ConfigSchema): string {
  const lines = [
    '| Variable | Type | Required | Default | Secret | Description | Example |',
    '|---|---|---|---|---|---|---|',
    '| `NODE_ENV` | one of: development, test, staging, production | no | `development` | no | Which environment this is; selects `.env.<NODE_ENV>` and the per-environment defaults. | `production` |',
  ];
  for (const { variable, spec } of rows(schema)) {
    const { options } = spec;
    const def = options.secret
      ? ''
      : defaults(spec)
          .map((d) => `\`${cell(d)}\``)
          .join('<br>');
    const example =
      options.example !== undefined && !options.secret ? `\`${cell(options.example)}\`` : '';
    lines.push(
      `| \`${variable}\` | ${cell(spec.expected)} | ${requirement(spec)
        .replace(/^required$/, 'yes')
        .replace(
          /^optional$/,
          'no',
        )} | ${def} | ${options.secret ? 'yes' : 'no'} | ${cell(options.description ?? '')} | ${example} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** What `checkEnvExample` found. */
export interface EnvExampleCheck {
  /** `true` when the file matches `generateEnvExample(schema)` exactly. */
  readonly ok: boolean;
  readonly path: string;
  /** Human-readable differences, one per line (`line 12: expected "...", found "..."`). */
  readonly differences: readonly string[];
  /** The text the file should contain. */
  readonly expected: string;
}

/**
 * Compares a checked-in `.env.example` with `generateEnvExample(schema)`, so a test can fail when
 * the file drifts from the schema. A missing or unreadable file is a difference, not a throw.
 */
export function checkEnvExample(schema: ConfigSchema, path: string): EnvExampleCheck {
  const expected = generateEnvExample(schema);
  let actual: string;
  try {
    actual = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    return {
      ok: false,
      path,
      expected,
      differences: [
        `${path}: cannot read it (${typeof code === 'string' ? code : 'error'}); generate it with \`shipshape-config example\``,
      ],
    };
  }
  if (actual === expected) return { ok: true, path, expected, differences: [] };
  const want = expected.split('\n');
  const have = actual.replace(/\r\n/g, '\n').split('\n');
  const differences: string[] = [];
  for (let i = 0; i < Math.max(want.length, have.length); i++) {
    if (want[i] !== have[i]) {
      differences.push(
        `${path}:${i + 1}: expected ${JSON.stringify(want[i] ?? '<end of file>')}, found ${JSON.stringify(have[i] ?? '<end of file>')}`,
      );
      if (differences.length >= 20) {
        differences.push('... (more differences)');
        break;
      }
    }
  }
  if (differences.length === 0) differences.push(`${path}: line endings differ`);
  return { ok: false, path, expected, differences };
}
