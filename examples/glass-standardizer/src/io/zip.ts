import { open, stat } from 'node:fs/promises';
import { pipeline, type Readable, Transform } from 'node:stream';
import { createInflateRaw } from 'node:zlib';
import yauzl from 'yauzl';
import { InputError } from './input-error.js';
import {
  RATIO_MIN_BYTES,
  resolveXlsxLimits,
  type XlsxLimits,
  type XlsxLimitsConfig,
} from './xlsx-limits.js';

/** The part every XLSX workbook has (exceljs looked only there too). */
export const WORKBOOK_PART = 'xl/workbook.xml';

/** An InputError that also says which HTTP status refuses the upload. */
export class XlsxInputError extends InputError {
  readonly status: 413 | 422;
  constructor(code: string, message: string, status: 413 | 422) {
    super(code, message);
    this.status = status;
  }
}

export type XlsxInspection =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly code: string;
      readonly message: string;
      readonly status: 413 | 422;
    };

const ZIP_SIGNATURE = Buffer.from([0x50, 0x4b, 0x03, 0x04]);
const OLE2_SIGNATURE = Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);

/** The file-type problem of the first bytes of an XLSX upload, if any. */
export function signatureProblem(head: Buffer): XlsxInputError | undefined {
  if (head.length === 0) return new XlsxInputError('EMPTY_FILE', 'file is empty', 422);
  if (head.subarray(0, 4).equals(ZIP_SIGNATURE)) return undefined;
  if (head.subarray(0, 8).equals(OLE2_SIGNATURE)) {
    return new XlsxInputError(
      'NOT_XLSX',
      'file is not an XLSX workbook (no ZIP signature): it is an OLE2 file, i.e. a password-protected workbook or an old .xls; save it as .xlsx without a password',
      422,
    );
  }
  return new XlsxInputError(
    'NOT_XLSX',
    'file is not an XLSX workbook (no ZIP signature); a renamed CSV or binary file?',
    422,
  );
}

const tooLarge = (message: string) => new XlsxInputError('XLSX_TOO_LARGE', message, 413);
const unreadable = (message: string) =>
  new XlsxInputError('XLSX_READ', `XLSX workbook could not be read: ${message}`, 422);

function ratioProblem(
  name: string,
  uncompressed: number,
  compressed: number,
  limits: XlsxLimitsConfig,
): XlsxInputError | undefined {
  if (uncompressed < RATIO_MIN_BYTES) return undefined;
  const ratio = uncompressed / Math.max(compressed, 1);
  if (ratio <= limits.maxCompressionRatio) return undefined;
  return new XlsxInputError(
    'XLSX_COMPRESSION_RATIO',
    `entry "${name}" declares ${uncompressed} bytes from ${compressed}: a compression ratio of ${Math.round(ratio)}:1; at most ${limits.maxCompressionRatio}:1 (maxCompressionRatio)`,
    413,
  );
}

function openZip(path: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.open(
      path,
      {
        lazyEntries: true,
        autoClose: false,
        // Sizes are checked here, against the limits and while inflating, with clearer messages.
        validateEntrySizes: false,
        decodeStrings: true,
        strictFileNames: false,
      },
      (err, zip) => (err ? reject(err) : resolve(zip)),
    );
  });
}

/** Reads the central directory, checking every declared size before anything is inflated. */
function readEntries(
  zip: yauzl.ZipFile,
  limits: XlsxLimitsConfig,
): Promise<Map<string, yauzl.Entry>> {
  return new Promise((resolve, reject) => {
    const entries = new Map<string, yauzl.Entry>();
    let total = 0;
    const fail = (err: Error) => {
      zip.removeAllListeners('entry');
      zip.removeAllListeners('end');
      reject(err);
    };
    zip.on('error', (err: Error) =>
      fail(err instanceof InputError ? err : unreadable(err.message)),
    );
    zip.on('end', () => resolve(entries));
    zip.on('entry', (entry: yauzl.Entry) => {
      const name = entry.fileName;
      if (name.endsWith('/')) {
        zip.readEntry();
        return;
      }
      const u = entry.uncompressedSize;
      const c = entry.compressedSize;
      total += u;
      let problem: XlsxInputError | undefined;
      if (entries.has(name)) problem = unreadable(`entry "${name}" appears twice`);
      else if (entry.isEncrypted()) problem = unreadable(`entry "${name}" is encrypted`);
      else if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
        problem = unreadable(
          `entry "${name}" uses compression method ${entry.compressionMethod}; only stored (0) and deflate (8) are read`,
        );
      } else if (entry.compressionMethod === 0 && c !== u) {
        problem = new XlsxInputError(
          'XLSX_SIZE_MISMATCH',
          `stored entry "${name}" declares ${u} bytes uncompressed but ${c} bytes compressed`,
          422,
        );
      } else if (u > limits.maxEntryBytes) {
        problem = tooLarge(
          `entry "${name}" declares ${u} bytes uncompressed; at most ${limits.maxEntryBytes} (maxEntryBytes)`,
        );
      } else if (total > limits.maxTotalBytes) {
        problem = tooLarge(
          `entries declare ${total} bytes uncompressed in all (by "${name}"); at most ${limits.maxTotalBytes} (maxTotalBytes)`,
        );
      } else {
        problem = ratioProblem(name, u, c, limits);
      }
      if (problem) {
        fail(problem);
        return;
      }
      entries.set(name, entry);
      zip.readEntry();
    });
    zip.readEntry();
  });
}

/**
 * A workbook on disk, read with random access: the central directory first (declared sizes
 * checked against the limits), then any entry on demand, its inflated bytes counted as they come.
 */
export class XlsxZip {
  private compressedRead = 0;
  private closed = false;
  private readonly streams = new Set<Readable>();

  private constructor(
    private readonly zip: yauzl.ZipFile,
    private readonly entries: Map<string, yauzl.Entry>,
  ) {}

  /** Opens `path` and checks its central directory; throws an XlsxInputError for a refused file. */
  static async open(path: string, limits: XlsxLimitsConfig): Promise<XlsxZip> {
    const { size } = await stat(path);
    if (size > limits.maxFileBytes) {
      throw tooLarge(`file is ${size} bytes; at most ${limits.maxFileBytes} (maxFileBytes)`);
    }
    const head = Buffer.alloc(8);
    const fd = await open(path, 'r');
    let headBytes: number;
    try {
      ({ bytesRead: headBytes } = await fd.read(head, 0, 8, 0));
    } finally {
      await fd.close();
    }
    const signature = signatureProblem(head.subarray(0, headBytes));
    if (signature) throw signature;
    let zip: yauzl.ZipFile;
    try {
      zip = await openZip(path);
    } catch (err) {
      throw unreadable((err as Error).message);
    }
    try {
      if (zip.entryCount > limits.maxEntries) {
        throw new XlsxInputError(
          'XLSX_TOO_MANY_ENTRIES',
          `ZIP archive has ${zip.entryCount} entries; at most ${limits.maxEntries} (maxEntries)`,
          413,
        );
      }
      const entries = await readEntries(zip, limits);
      if (!entries.has(WORKBOOK_PART)) {
        throw new XlsxInputError(
          'NOT_XLSX',
          `file is a ZIP archive without ${WORKBOOK_PART}: not an XLSX workbook`,
          422,
        );
      }
      // Errors of streams that outlive a failed read must not become unhandled 'error' events.
      zip.on('error', () => {});
      return new XlsxZip(zip, entries);
    } catch (err) {
      zip.close();
      throw err;
    }
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Compressed bytes read from the file so far. */
  bytesRead(): number {
    return this.compressedRead;
  }

  /**
   * The inflated bytes of one entry, counted as they come and refused the moment they pass the
   * entry's declared size. The declared sizes obeyed the limits (size, total, ratio) when the
   * central directory was read, so the actual bytes obey them too, whatever a header claimed.
   */
  async *read(name: string): AsyncGenerator<Buffer> {
    const entry = this.entries.get(name);
    if (!entry) throw unreadable(`entry "${name}" is missing`);
    const declared = entry.uncompressedSize;
    const raw = await new Promise<Readable>((resolve, reject) => {
      this.zip.openReadStream(entry, { decodeFileData: false }, (err, stream) =>
        err ? reject(unreadable(err.message)) : resolve(stream),
      );
    });
    if (this.closed) {
      raw.destroy();
      throw unreadable('the workbook was closed');
    }
    this.streams.add(raw);
    const counter = new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        this.compressedRead += chunk.length;
        callback(null, chunk);
      },
    });
    const output =
      entry.compressionMethod === 8
        ? // 64 KiB pieces: saxes parses them ~25% faster than zlib's default 16 KiB.
          pipeline(raw, counter, createInflateRaw({ chunkSize: 64 * 1024 }), () => {})
        : pipeline(raw, counter, () => {});
    let produced = 0;
    try {
      for await (const chunk of output as AsyncIterable<Buffer>) {
        produced += chunk.length;
        if (produced > declared) {
          throw new XlsxInputError(
            'XLSX_SIZE_MISMATCH',
            `entry "${name}" inflates to more than the ${declared} bytes its header declares`,
            422,
          );
        }
        yield chunk;
      }
      if (produced !== declared) {
        throw new XlsxInputError(
          'XLSX_SIZE_MISMATCH',
          `entry "${name}" inflates to ${produced} bytes, not the ${declared} its header declares`,
          422,
        );
      }
    } catch (err) {
      if (err instanceof InputError) throw err;
      throw unreadable(`entry "${name}": ${(err as Error).message}`);
    } finally {
      output.destroy();
      raw.destroy();
      this.streams.delete(raw);
    }
  }

  /** Closes the file; streams still open are destroyed, so the descriptor is released now. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const stream of this.streams) stream.destroy();
    this.streams.clear();
    this.zip.close();
  }
}

/**
 * Checks an uploaded workbook without inflating anything: that it is a ZIP with
 * `xl/workbook.xml`, its entry count, and each entry's declared size and compression ratio.
 * Reads the central directory only (milliseconds). Throws only when `path` cannot be read.
 */
export async function inspectXlsx(path: string, limits?: XlsxLimits): Promise<XlsxInspection> {
  const config = resolveXlsxLimits(limits);
  try {
    const zip = await XlsxZip.open(path, config);
    zip.close();
    return { ok: true };
  } catch (err) {
    if (err instanceof XlsxInputError) {
      return { ok: false, code: err.code, message: err.message, status: err.status };
    }
    throw err;
  }
}
