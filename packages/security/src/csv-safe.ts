/** Characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection). */
const FORMULA_START = /^[=+\-@\t\r]/;

export interface CsvSafeOptions {
  /**
   * Leave plain numbers such as `-12.5` or `+3` alone (they start with `-`/`+` but are not
   * formulas). Set to `false` to prefix them too.
   * @default true
   */
  readonly allowNumbers?: boolean;
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Neutralises CSV formula injection: a value starting with `=`, `+`, `-`, `@`, tab or carriage
 * return gets a leading `'`, so spreadsheet software shows it as text. Non-strings are returned
 * as strings unchanged (`String(value)`); `null`/`undefined` become `''`. Quote the result with
 * your CSV writer as usual: this only handles the formula prefix.
 */
export function csvSafe(value: unknown, options: CsvSafeOptions = {}): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'string' ? value : String(value);
  if (!FORMULA_START.test(text)) return text;
  if ((options.allowNumbers ?? true) && NUMBER.test(text)) return text;
  return `'${text}`;
}
