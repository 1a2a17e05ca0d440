#!/usr/bin/env node
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { checkEnvExample, generateEnvExample, generateMarkdown } from './generate.js';
import { ConfigError, EX_CONFIG, loadConfig, redact, SCHEMA_CAPTURE } from './load.js';
import { toSpec } from './specs.js';
import type { ConfigSchema } from './types.js';

const EX_USAGE = 64;
const EX_NOINPUT = 66;

const USAGE = `Usage: shipshape-config <command> <schema-module> [options]

Commands:
  example   print the .env.example for the schema
            --out <file>    write it to <file> instead
            --check <file>  exit 1 when <file> differs from what would be generated
  docs      print a Markdown table of the variables
  check     validate the current environment (process.env and the .env files in --cwd);
            exit 0 when valid, 78 with a report on stderr when not

Options:
  --export <name>  the export holding the schema (default: "schema", then the default export)
  --cwd <dir>      directory of the .env files for "check" (default: the current directory)
  -h, --help       show this help

The schema module is a JavaScript module (.js/.mjs/.cjs) exporting the schema object, or one
that calls loadConfig()/loadConfigOrExit() as it is imported (the CLI takes that schema instead
of exiting 78). What the module prints while it loads goes to stderr.`;

class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** Thrown into a module that calls loadConfig/loadConfigOrExit while it is imported. */
class SchemaCaptured extends Error {}

/**
 * Imports the module with stdout pointed at stderr (what an app prints while it loads must not
 * end up in a generated file), and with loadConfig/loadConfigOrExit handing over their schema
 * instead of reading the environment: an app's config module that loads its configuration as it
 * is imported works too, not only a schema-only module.
 */
async function importModule(
  file: string,
): Promise<{ mod?: Record<string, unknown>; captured?: ConfigSchema }> {
  let captured: ConfigSchema | undefined;
  const globals = globalThis as Record<symbol, unknown>;
  globals[SCHEMA_CAPTURE] = (schema: ConfigSchema) => {
    captured = schema;
    throw new SchemaCaptured('shipshape-config: schema captured');
  };
  const write = process.stdout.write;
  process.stdout.write = process.stderr.write.bind(process.stderr) as typeof write;
  try {
    const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    return captured ? { captured } : { mod };
  } catch (error) {
    if (captured) return { captured };
    throw error;
  } finally {
    process.stdout.write = write;
    delete globals[SCHEMA_CAPTURE];
  }
}

async function loadSchema(
  modulePath: string,
  exportName: string | undefined,
): Promise<ConfigSchema> {
  const file = resolve(process.cwd(), modulePath);
  let mod: Record<string, unknown>;
  try {
    const imported = await importModule(file);
    if (imported.captured) return imported.captured;
    mod = imported.mod as Record<string, unknown>;
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new CliError(
      `shipshape-config: cannot load schema module ${file}: ${reason}`,
      EX_NOINPUT,
    );
  }
  const names = exportName ? [exportName] : ['schema', 'default'];
  const name = names.find((n) => mod[n] !== undefined);
  const schema = name === undefined ? undefined : mod[name];
  if (name === undefined || typeof schema !== 'object' || schema === null) {
    throw new CliError(
      `shipshape-config: ${file} has no ${names.map((n) => `"${n}"`).join(' or ')} export holding a schema object`,
      EX_NOINPUT,
    );
  }
  for (const [key, entry] of Object.entries(schema)) {
    if (!toSpec(entry)) {
      throw new CliError(
        `shipshape-config: export "${name}" of ${file} is not a schema: key "${key}" is not a spec such as str() or a joi schema`,
        EX_NOINPUT,
      );
    }
  }
  return schema as ConfigSchema;
}

async function main(argv: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  function parse() {
    return parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        export: { type: 'string' },
        cwd: { type: 'string' },
        out: { type: 'string' },
        check: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  }
  try {
    parsed = parse();
  } catch (error) {
    throw new CliError(`shipshape-config: ${(error as Error).message}\n\n${USAGE}`, EX_USAGE);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [command, modulePath, ...extra] = positionals;
  if (command === undefined) throw new CliError(USAGE, EX_USAGE);
  if (!['example', 'docs', 'check'].includes(command)) {
    throw new CliError(`shipshape-config: unknown command "${command}"\n\n${USAGE}`, EX_USAGE);
  }
  if (modulePath === undefined) {
    throw new CliError(
      `shipshape-config: ${command} needs the path of a schema module\n\n${USAGE}`,
      EX_USAGE,
    );
  }
  if (extra.length > 0) {
    throw new CliError(`shipshape-config: unexpected argument "${extra[0]}"\n\n${USAGE}`, EX_USAGE);
  }
  if (command !== 'example' && (values.out !== undefined || values.check !== undefined)) {
    throw new CliError(`shipshape-config: --out and --check only apply to "example"`, EX_USAGE);
  }
  if (command !== 'check' && values.cwd !== undefined) {
    throw new CliError(`shipshape-config: --cwd only applies to "check"`, EX_USAGE);
  }
  const schema = await loadSchema(modulePath, values.export);

  if (command === 'docs') {
    process.stdout.write(generateMarkdown(schema));
    return 0;
  }
  if (command === 'example') {
    if (values.check !== undefined) {
      const result = checkEnvExample(schema, resolve(values.check));
      if (result.ok) {
        process.stdout.write(`${values.check} is up to date\n`);
        return 0;
      }
      process.stderr.write(
        `shipshape-config: ${values.check} differs from the schema; regenerate it with \`shipshape-config example ${modulePath} --out ${values.check}\`\n${result.differences.map((d) => `  ${d}`).join('\n')}\n`,
      );
      return 1;
    }
    const text = generateEnvExample(schema);
    if (values.out !== undefined) {
      try {
        writeFileSync(resolve(values.out), text);
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        throw new CliError(
          `shipshape-config: cannot write ${values.out} (${String(code ?? 'error')})`,
          73,
        );
      }
      process.stdout.write(`wrote ${values.out}\n`);
    } else {
      process.stdout.write(text);
    }
    return 0;
  }
  // check
  const cwd = resolve(values.cwd ?? '.');
  if (!existsSync(cwd) || !statSync(cwd).isDirectory()) {
    throw new CliError(`shipshape-config: --cwd ${cwd} is not a directory`, EX_NOINPUT);
  }
  try {
    const config = loadConfig(schema, { cwd });
    const count = Object.keys(redact(config)).length;
    process.stdout.write(
      `configuration is valid: ${count} variables (NODE_ENV=${config.NODE_ENV})\n`,
    );
    return 0;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return EX_CONFIG;
    }
    throw error;
  }
}

/**
 * Exits once stdout and stderr have flushed: a schema module may import app code that keeps
 * handles open (a pool, a timer), which must not keep the CLI alive.
 */
function finish(code: number): void {
  process.stdout.write('', () => {
    process.stderr.write('', () => process.exit(code));
  });
}

main(process.argv.slice(2)).then(finish, (error: unknown) => {
  if (error instanceof CliError) {
    process.stderr.write(`${error.message}\n`);
    finish(error.exitCode);
    return;
  }
  process.stderr.write(
    `shipshape-config: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  finish(1);
});
