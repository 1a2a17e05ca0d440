import { createHash, type Hash } from 'node:crypto';
import { checkFilename } from '../filename.js';
import { checkXlsx, SNIFF_BYTES, TextValidator } from '../sniff.js';
import { sniffContent, type UploadFileType } from './file-types.js';
import type { UploadConfig } from './options.js';

/** Why an upload is refused: the error's status, code and detail, and the event's `reason`. */
export interface UploadRejection {
  readonly status: 400 | 413 | 415;
  readonly code: string;
  readonly detail: string;
  readonly reason: string;
}

/** 413: a limit was passed. */
export const tooLarge = (detail: string, code: string): UploadRejection => ({
  status: 413,
  code,
  detail,
  reason: code.toLowerCase(),
});

/** 415: extension, declared type and content do not agree with an accepted type. */
export const unsupported = (detail: string): UploadRejection => ({
  status: 415,
  code: 'UNSUPPORTED_FILE_TYPE',
  detail,
  reason: 'file_type',
});

/** 400: the request is malformed or breaks a rule. */
export const invalid = (detail: string, code = 'INVALID_UPLOAD'): UploadRejection => ({
  status: 400,
  code,
  detail,
  reason: code.toLowerCase(),
});

export const fileTooLarge = (maxFileSize: number): UploadRejection =>
  tooLarge(`The file exceeds the limit of ${maxFileSize} bytes.`, 'FILE_TOO_LARGE');

/** A file part whose headers passed: its type, the extension it was named with, the declared type. */
export interface AcceptedFilePart {
  readonly type: UploadFileType;
  readonly extension: string;
  readonly declared: string;
}

/**
 * Checks a file part's headers before a byte of it is stored: field name, filename, extension,
 * declared type (which must fit the extension's type) and transfer encoding.
 */
export function checkFilePart(
  config: UploadConfig,
  field: string,
  rawName: string,
  transferEncoding: string | undefined,
  mimeType: string | undefined,
): AcceptedFilePart | { readonly rejection: UploadRejection } {
  if (Buffer.byteLength(field) > config.maxFieldNameSize)
    return {
      rejection: tooLarge(
        `A field name is longer than ${config.maxFieldNameSize} bytes.`,
        'FIELD_NAME_TOO_LONG',
      ),
    };
  if (!field)
    return { rejection: invalid('A file part has an empty field name.', 'INVALID_FIELD_NAME') };
  if (config.fileFields && !config.fileFields.has(field))
    return {
      rejection: invalid(
        `Field ${JSON.stringify(field)} does not accept files.`,
        'UNEXPECTED_FILE_FIELD',
      ),
    };
  const nameCheck = checkFilename(rawName, config.extensions, config.maxFilenameLength);
  if (nameCheck.invalid)
    return { rejection: invalid(`The file name ${nameCheck.invalid}.`, 'INVALID_FILENAME') };
  if (nameCheck.badExtension)
    return {
      rejection: unsupported(
        `The file name ${nameCheck.badExtension}; accepted: ${[...config.extensions].join(', ')}.`,
      ),
    };
  const type = config.byExtension.get(nameCheck.extension) as UploadFileType;
  const declared = (mimeType ?? '').toLowerCase();
  if (!type.declaredTypes.includes(declared))
    return {
      rejection: unsupported(
        `The declared type ${JSON.stringify(declared)} does not match a ${nameCheck.extension} file (expected ${type.declaredTypes.join(' or ')}).`,
      ),
    };
  if (transferEncoding && !['7bit', '8bit', 'binary'].includes(transferEncoding.toLowerCase()))
    return {
      rejection: invalid(
        `Content-Transfer-Encoding ${JSON.stringify(transferEncoding)} is not supported.`,
        'MALFORMED_MULTIPART',
      ),
    };
  return { type, extension: nameCheck.extension, declared };
}

/**
 * The checks on a file's bytes as they stream by (size, text validity, the head for sniffing,
 * the SHA-256) and once they are all in (empty, sniffed content, text end, workbook).
 */
export class FileContentCheck {
  /** Bytes received so far. */
  size = 0;
  private readonly hash: Hash = createHash('sha256');
  private readonly text: TextValidator | undefined;
  private readonly head: Buffer[] = [];
  private headLength = 0;
  private sniff: Promise<string | undefined> | undefined;

  constructor(
    private readonly type: UploadFileType,
    private readonly maxFileSize: number,
    /** Display name of the file, for messages. */
    private readonly display: string,
  ) {
    this.text =
      type.content.kind === 'text' ? new TextValidator(type.content.charset ?? 'utf-8') : undefined;
  }

  /** Takes the next chunk; returns the rejection when it breaks a rule. */
  push(chunk: Buffer): UploadRejection | undefined {
    this.size += chunk.length;
    if (this.size > this.maxFileSize) return fileTooLarge(this.maxFileSize);
    this.hash.update(chunk);
    if (this.text) {
      const problem = this.text.push(chunk);
      if (problem) return unsupported(`The file ${this.display} ${problem}.`);
    }
    if (this.headLength < SNIFF_BYTES) {
      const piece = chunk.subarray(0, SNIFF_BYTES - this.headLength);
      this.head.push(piece);
      this.headLength += piece.length;
      if (this.headLength >= SNIFF_BYTES) this.sniff = this.sniffHead();
    }
    return undefined;
  }

  /** After the last byte: an empty file is refused. */
  checkNotEmpty(): UploadRejection | undefined {
    return this.size === 0
      ? invalid(`The file ${this.display} is empty.`, 'EMPTY_FILE')
      : undefined;
  }

  /** After the last byte, with the file stored at `path`: the content must fit the type. */
  async checkContent(path: string): Promise<UploadRejection | undefined> {
    const problem =
      (await (this.sniff ?? this.sniffHead())) ??
      this.text?.end() ??
      (this.type.content.kind === 'xlsx' ? await checkXlsx(path) : undefined);
    return problem ? unsupported(`The file ${this.display} ${problem}.`) : undefined;
  }

  /** Hex SHA-256 of every byte pushed (call once, at the end). */
  digest(): string {
    return this.hash.digest('hex');
  }

  private sniffHead(): Promise<string | undefined> {
    return sniffContent(this.type, Buffer.concat(this.head, this.headLength));
  }
}
