// Single-line human format. Control characters (CR, LF, ESC…) are escaped so a logged value can
// neither forge a second line nor drive the terminal.

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

function escapeChar(c: string): string {
  switch (c) {
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
    default:
      return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  }
}

export function escapeControl(value: string): string {
  return value.replace(CONTROL, escapeChar);
}

const HIDDEN = new Set([
  'timestamp',
  'level',
  'message',
  'service',
  'env',
  'version',
  'hostname',
  'pid',
]);

const COLORS: Record<string, string> = {
  error: '\u001b[31m',
  warn: '\u001b[33m',
  info: '\u001b[32m',
  http: '\u001b[36m',
  verbose: '\u001b[36m',
  debug: '\u001b[34m',
  silly: '\u001b[35m',
};

function renderValue(value: unknown): string {
  if (typeof value === 'string') {
    return /^[^\s"=]*$/.test(value) && value !== ''
      ? escapeControl(value)
      : escapeControl(JSON.stringify(value));
  }
  return escapeControl(JSON.stringify(value) ?? String(value));
}

/** `2026-01-31T10:00:00.000Z INFO  message key=value …` from an already sanitised record. */
export function renderPretty(record: Record<string, unknown>, colors: boolean): string {
  const level = String(record.level);
  const label = level.toUpperCase().padEnd(5);
  const coloredLabel = colors && COLORS[level] ? `${COLORS[level]}${label}\u001b[39m` : label;
  let line = `${String(record.timestamp)} ${coloredLabel} ${escapeControl(String(record.message))}`;
  for (const key in record) {
    if (HIDDEN.has(key)) continue;
    line += ` ${escapeControl(key)}=${renderValue(record[key])}`;
  }
  return line;
}
