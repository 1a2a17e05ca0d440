/** One `KEY=value` assignment of a .env file. */
export interface DotenvEntry {
  readonly key: string;
  readonly value: string;
  /** 1-based line where the assignment starts. */
  readonly line: number;
}

/** A line the parser could not read, or a key assigned twice. */
export interface DotenvProblem {
  readonly kind: 'syntax' | 'duplicate_key';
  readonly line: number;
  readonly key: string | undefined;
  readonly message: string;
}

/** What `parseDotenv` found: every entry in order (duplicates included) and every problem. */
export interface DotenvParseResult {
  readonly entries: readonly DotenvEntry[];
  readonly problems: readonly DotenvProblem[];
}

const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const DOUBLE_ESCAPES: Readonly<Record<string, string>> = {
  n: '\n',
  r: '\r',
  t: '\t',
  '"': '"',
  '\\': '\\',
  $: '$',
};

/**
 * Parses .env text: `#` comments, blank lines, an optional `export ` prefix, unquoted values
 * (an inline comment starts at a `#` preceded by whitespace), single quotes (literal, one line),
 * double quotes (escapes `\n \r \t \" \\ \$`, may span lines). No variable expansion.
 * Values are never included in problem messages (they may be secrets).
 */
export function parseDotenv(text: string): DotenvParseResult {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const entries: DotenvEntry[] = [];
  const problems: DotenvProblem[] = [];
  const firstLine = new Map<string, number>();

  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i] ?? '';
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;

    const body = trimmed.startsWith('export ')
      ? trimmed.slice('export '.length).trimStart()
      : trimmed;
    const eq = body.indexOf('=');
    const key = (eq === -1 ? body : body.slice(0, eq)).trim();
    if (eq === -1 || !KEY.test(key)) {
      problems.push({
        kind: 'syntax',
        line: lineNo,
        key: KEY.test(key) ? key : undefined,
        message:
          eq === -1
            ? 'expected KEY=value'
            : 'expected KEY=value where KEY is letters, digits and _ (not starting with a digit)',
      });
      continue;
    }
    const rest = body.slice(eq + 1).trimStart();
    let value: string;

    if (rest.startsWith('"')) {
      // Double-quoted: may continue over the following lines until an unescaped quote.
      let out = '';
      let text2 = rest.slice(1);
      let closed = false;
      let after = '';
      let endLine = i;
      for (;;) {
        let j = 0;
        while (j < text2.length) {
          const ch = text2[j] as string;
          if (ch === '\\' && j + 1 < text2.length) {
            const next = text2[j + 1] as string;
            out += DOUBLE_ESCAPES[next] ?? `\\${next}`;
            j += 2;
            continue;
          }
          if (ch === '"') {
            closed = true;
            after = text2.slice(j + 1);
            break;
          }
          out += ch;
          j++;
        }
        if (closed || endLine + 1 >= lines.length) break;
        endLine++;
        out += '\n';
        text2 = lines[endLine] ?? '';
      }
      if (!closed) {
        problems.push({
          kind: 'syntax',
          line: lineNo,
          key,
          message: `unterminated double-quoted value for ${key}`,
        });
        i = lines.length;
        continue;
      }
      i = endLine;
      if (!/^\s*(#.*)?$/.test(after)) {
        problems.push({
          kind: 'syntax',
          line: endLine + 1,
          key,
          message: `unexpected text after the closing quote of ${key}`,
        });
        continue;
      }
      value = out;
    } else if (rest.startsWith("'")) {
      const end = rest.indexOf("'", 1);
      if (end === -1) {
        problems.push({
          kind: 'syntax',
          line: lineNo,
          key,
          message: `unterminated single-quoted value for ${key} (single quotes cannot span lines)`,
        });
        continue;
      }
      if (!/^\s*(#.*)?$/.test(rest.slice(end + 1))) {
        problems.push({
          kind: 'syntax',
          line: lineNo,
          key,
          message: `unexpected text after the closing quote of ${key}`,
        });
        continue;
      }
      value = rest.slice(1, end);
    } else {
      const hash = rest.search(/\s#/);
      value = (hash === -1 ? rest : rest.slice(0, hash)).trim();
      if (value.startsWith('#') && /\s/.test(body.slice(eq + 1, eq + 2))) value = '';
    }

    const first = firstLine.get(key);
    if (first !== undefined) {
      problems.push({
        kind: 'duplicate_key',
        line: lineNo,
        key,
        message: `duplicate key ${key} (first set on line ${first})`,
      });
    } else {
      firstLine.set(key, lineNo);
    }
    entries.push({ key, value, line: lineNo });
  }
  return { entries, problems };
}
