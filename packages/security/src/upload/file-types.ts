import { fileTypeFromBuffer } from 'file-type';
import { describeValue } from '../edge.js';
import { optionError } from '../options.js';
import type { TextCharset } from '../sniff.js';

/** How the content of a file type is verified. */
export type UploadContentCheck =
  /** Text: valid in `charset` (UTF-8 by default), no NUL byte, not a known binary format. */
  | { readonly kind: 'text'; readonly charset?: TextCharset }
  /** Binary: file-type must detect one of these extensions from the magic bytes. */
  | { readonly kind: 'binary'; readonly fileTypes: readonly string[] }
  /** A real OOXML workbook: a zip with `[Content_Types].xml` and `xl/` entries. */
  | { readonly kind: 'xlsx' };

/** A file type an upload may have: extension, declared MIME type and content must all agree. */
export interface UploadFileType {
  /** Shown in errors and reported as `detectedType` (a MIME type). */
  readonly mimeType: string;
  /** Lower-case with the dot: `['.csv']`. */
  readonly extensions: readonly string[];
  /** Declared part Content-Types accepted for it (browsers differ; e.g. Excel's CSV type). */
  readonly declaredTypes: readonly string[];
  readonly content: UploadContentCheck;
}

/** Built-in file types, selectable by name in `types`. */
export const uploadFileTypes = {
  csv: {
    mimeType: 'text/csv',
    extensions: ['.csv'],
    // curl -F and browsers without a registered handler declare application/octet-stream; the
    // content check below still requires text.
    declaredTypes: [
      'text/csv',
      'application/csv',
      'text/plain',
      'application/vnd.ms-excel',
      'application/octet-stream',
    ],
    content: { kind: 'text' },
  },
  tsv: {
    mimeType: 'text/tab-separated-values',
    extensions: ['.tsv', '.tab'],
    declaredTypes: ['text/tab-separated-values', 'text/plain'],
    content: { kind: 'text' },
  },
  txt: {
    mimeType: 'text/plain',
    extensions: ['.txt'],
    declaredTypes: ['text/plain'],
    content: { kind: 'text' },
  },
  json: {
    mimeType: 'application/json',
    extensions: ['.json'],
    declaredTypes: ['application/json', 'text/plain'],
    content: { kind: 'text' },
  },
  xlsx: {
    mimeType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    extensions: ['.xlsx'],
    // Browsers without a registered handler for .xlsx send application/octet-stream.
    declaredTypes: [
      'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
      'application/octet-stream',
    ],
    content: { kind: 'xlsx' },
  },
  png: {
    mimeType: 'image/png',
    extensions: ['.png'],
    declaredTypes: ['image/png'],
    content: { kind: 'binary', fileTypes: ['png'] },
  },
  jpeg: {
    mimeType: 'image/jpeg',
    extensions: ['.jpg', '.jpeg'],
    declaredTypes: ['image/jpeg'],
    content: { kind: 'binary', fileTypes: ['jpg'] },
  },
  pdf: {
    mimeType: 'application/pdf',
    extensions: ['.pdf'],
    declaredTypes: ['application/pdf'],
    content: { kind: 'binary', fileTypes: ['pdf'] },
  },
} as const satisfies Record<string, UploadFileType>;

export type UploadFileTypeName = keyof typeof uploadFileTypes;

export function resolveType(t: UploadFileTypeName | UploadFileType): UploadFileType {
  if (typeof t === 'string') {
    const builtin = (uploadFileTypes as Record<string, UploadFileType>)[t];
    if (!builtin)
      throw optionError(
        `@shipshape/security: uploadGuard "types" has unknown type ${JSON.stringify(t)}; built-in types are ${Object.keys(uploadFileTypes).join(', ')}, or pass an UploadFileType object`,
      );
    return builtin;
  }
  const ok =
    typeof t === 'object' &&
    t !== null &&
    typeof t.mimeType === 'string' &&
    Array.isArray(t.extensions) &&
    t.extensions.length > 0 &&
    t.extensions.every((e) => typeof e === 'string' && /^\.[a-z0-9]+$/.test(e)) &&
    Array.isArray(t.declaredTypes) &&
    t.declaredTypes.length > 0 &&
    typeof t.content === 'object' &&
    t.content !== null &&
    ['text', 'binary', 'xlsx'].includes(t.content.kind);
  if (!ok)
    throw optionError(
      `@shipshape/security: uploadGuard "types" entries must be a built-in name or { mimeType, extensions: ['.ext'], declaredTypes, content: { kind: 'text' | 'binary' | 'xlsx' } }, got ${describeValue(t)}`,
    );
  return t;
}

/**
 * What is wrong with a file's first bytes (`SNIFF_BYTES` of them, or the whole file if shorter)
 * for its type, as file-type detects them; undefined when they fit.
 */
export function sniffContent(type: UploadFileType, head: Buffer): Promise<string | undefined> {
  return fileTypeFromBuffer(head).then((found) => {
    if (type.content.kind === 'text')
      return found ? `looks like ${found.ext} content, not text` : undefined;
    if (type.content.kind === 'xlsx')
      return found && (found.ext === 'xlsx' || found.ext === 'zip')
        ? undefined
        : `is not a zip-based workbook (content looks like ${found?.ext ?? 'unknown data'})`;
    return found && type.content.fileTypes.includes(found.ext)
      ? undefined
      : `content looks like ${found?.ext ?? 'unknown data'}, not ${type.content.fileTypes.join('/')}`;
  });
}
