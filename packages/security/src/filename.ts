/** Extensions that must never appear inside a name, even before an allowed final extension. */
const DANGEROUS_EXTENSIONS = new Set([
  'exe',
  'dll',
  'com',
  'bat',
  'cmd',
  'scr',
  'msi',
  'msp',
  'pif',
  'cpl',
  'hta',
  'jar',
  'vbs',
  'vbe',
  'js',
  'mjs',
  'cjs',
  'jse',
  'wsf',
  'wsh',
  'ps1',
  'psm1',
  'sh',
  'bash',
  'php',
  'php3',
  'php4',
  'php5',
  'phtml',
  'phar',
  'pl',
  'py',
  'rb',
  'cgi',
  'asp',
  'aspx',
  'jsp',
  'jspx',
  'html',
  'htm',
  'xhtml',
  'shtml',
  'svg',
  'lnk',
  'reg',
  'app',
  'apk',
  'dmg',
  'iso',
  'so',
  'dylib',
]);

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we remove
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
/** Bidirectional overrides and zero-width characters that disguise a name (`exe.csv` shown reversed). */
const INVISIBLE = /[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;

/** Decodes `%XX` escapes once (a name like `a.csv%00.exe`); leaves malformed escapes as they are. */
export function decodePercent(name: string): string {
  return name.replace(/(?:%[0-9a-f]{2})+/gi, (seq) => {
    try {
      return decodeURIComponent(seq);
    } catch {
      return seq;
    }
  });
}

export interface FilenameCheck {
  /** Lower-case final extension with the dot (`.csv`), or '' when there is none. */
  readonly extension: string;
  /** Why the name is refused (400), if it is. */
  readonly invalid?: string;
  /** Why the extension is refused (415), if it is. */
  readonly badExtension?: string;
}

/**
 * Checks an uploaded file's name as the client sent it: decoded `%00`/NUL, `..` path segments,
 * length, the final extension against the allowlist and dangerous inner extensions
 * (`x.exe.csv`). Path prefixes (`C:\Users\x\data.csv` from old browsers) are tolerated: only the
 * last segment is used.
 */
export function checkFilename(
  raw: string,
  allowed: ReadonlySet<string>,
  maxLength: number,
): FilenameCheck {
  const decoded = decodePercent(raw);
  const base = lastSegment(decoded);
  const extension = extensionOf(base);
  if (decoded.includes('\u0000'))
    return { extension, invalid: 'contains a NUL byte (literal or %00)' };
  if (decoded.split(/[\\/]/).some((segment) => segment === '..'))
    return { extension, invalid: 'contains a ".." path segment' };
  if (Buffer.byteLength(raw) > maxLength)
    return { extension, invalid: `is longer than ${maxLength} bytes` };
  if (base.replace(CONTROL, '').trim() === '') return { extension, invalid: 'is empty' };
  const segments = base.toLowerCase().split('.').slice(1);
  const inner = segments.slice(0, -1).filter((s) => DANGEROUS_EXTENSIONS.has(s.trim()));
  if (inner.length > 0)
    return {
      extension,
      badExtension: `has a double extension (".${inner[0]}" before "${extension}")`,
    };
  if (!allowed.has(extension)) {
    const innerAllowed = segments.slice(0, -1).some((s) => allowed.has(`.${s}`));
    return {
      extension,
      badExtension: innerAllowed
        ? `has a double extension ("${extension}" after an allowed one)`
        : extension === ''
          ? 'has no extension'
          : `has extension "${extension}", which is not accepted`,
    };
  }
  return { extension };
}

function lastSegment(name: string): string {
  const i = Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\'));
  return i === -1 ? name : name.slice(i + 1);
}

function extensionOf(base: string): string {
  const dot = base.lastIndexOf('.');
  return dot <= 0 ? '' : base.slice(dot).toLowerCase().trim();
}

/**
 * A name safe to show (never to use as a path): last segment only, no control or bidi characters,
 * no `..`, no leading dots, dashes or spaces, at most `maxLength` characters keeping the extension.
 */
export function displayName(raw: string, maxLength = 100): string {
  let name = lastSegment(decodePercent(raw).normalize('NFC'))
    .replace(CONTROL, '')
    .replace(INVISIBLE, '')
    .replace(/[<>:"|?*]/g, '_')
    .replace(/\.{2,}/g, '.')
    .replace(/\s+/g, ' ')
    .replace(/^[.\-\s]+/, '')
    .trim();
  if (name === '') name = 'file';
  const chars = [...name];
  if (chars.length > maxLength) {
    const ext = extensionOf(name);
    const keep = ext.length < maxLength / 2 ? ext : '';
    name = chars.slice(0, maxLength - [...keep].length).join('') + keep;
  }
  return name;
}
