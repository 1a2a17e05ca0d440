import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { InputError } from './input-error.js';
import { readXlsx } from './xlsx.js';
import { resolveXlsxLimits, type XlsxLimits } from './xlsx-limits.js';
import { signatureProblem } from './zip.js';

export { InputError } from './input-error.js';
export { DEFAULT_XLSX_LIMITS, type XlsxLimits } from './xlsx-limits.js';
export { inspectXlsx, type XlsxInspection } from './zip.js';

/** A file-level observation that does not stop reading. */
export interface InputNotice {
  readonly code: string;
  readonly severity: 'WARN' | 'INFO';
  readonly message: string;
  readonly values?: readonly string[];
}

export interface SourceRecord {
  /** Row number in the file; the header is row 1 for CSV, the sheet row for XLSX. */
  readonly row: number;
  readonly cells: string[];
}

export type Encoding = 'auto' | 'utf-8' | 'latin1';

export interface ReadOptions {
  readonly format: 'csv' | 'xlsx';
  /** `auto` sniffs: UTF-8 (with or without BOM), else Latin-1/Windows-1252 with a WARN. */
  readonly encoding?: Encoding;
  /** Upper bound on one CSV record, in characters; protects memory. @default 8 MiB */
  readonly maxRecordChars?: number;
  /** Limits on what an XLSX file may expand to; see XlsxLimits for the defaults. */
  readonly xlsxLimits?: XlsxLimits;
  /**
   * Where an XLSX *stream* is copied before it is read (a file path is read in place). The copy
   * is unlinked as soon as it is open. @default os.tmpdir()
   */
  readonly tmpDir?: string;
}

export interface RecordReader {
  /** Header first, then data rows. */
  readonly records: AsyncIterable<SourceRecord>;
  readonly notices: InputNotice[];
  /** Bytes consumed so far (for MB/s and progress). */
  bytesRead(): number;
}

type Source = Readable | string;

const SNIFF_BYTES = 64 * 1024;

function toStream(source: Source): Readable {
  return typeof source === 'string' ? createReadStream(source) : source;
}

/** Reads the first bytes of a stream without losing them. */
async function peek(
  stream: Readable,
  bytes: number,
): Promise<{ head: Buffer; rest: AsyncIterator<Buffer> }> {
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  let size = 0;
  while (size < bytes) {
    const next = await iterator.next();
    if (next.done) break;
    const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
    chunks.push(chunk);
    size += chunk.length;
  }
  return { head: Buffer.concat(chunks), rest: iterator };
}

async function* replay(head: Buffer, rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  if (head.length > 0) yield head;
  for (;;) {
    const next = await rest.next();
    if (next.done) return;
    yield typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
  }
}

function isValidUtf8Prefix(buf: Buffer): boolean {
  try {
    // stream: true tolerates a multi-byte sequence cut at the end of the sample.
    new TextDecoder('utf-8', { fatal: true }).decode(buf, { stream: true });
    return true;
  } catch {
    return false;
  }
}

/**
 * "LE" or "BE" when NUL bytes sit at one parity of the sample and hardly at the other: ASCII-range
 * text in UTF-16 without a byte-order mark, rather than a binary file.
 */
function utf16WithoutBom(sample: Buffer): 'LE' | 'BE' | undefined {
  const pairs = Math.floor(sample.length / 2);
  if (pairs < 2) return undefined;
  let even = 0;
  let odd = 0;
  for (let i = 0; i + 1 < sample.length; i += 2) {
    if (sample[i] === 0) even++;
    if (sample[i + 1] === 0) odd++;
  }
  if (odd >= pairs * 0.5 && even <= pairs * 0.05) return 'LE';
  if (even >= pairs * 0.5 && odd <= pairs * 0.05) return 'BE';
  return undefined;
}

/** Delimiter of the first line, counting only outside quotes. */
export function sniffDelimiter(text: string): string {
  const counts: Record<string, number> = { ',': 0, ';': 0, '\t': 0, '|': 0 };
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && (ch === '\n' || ch === '\r')) break;
    else if (!quoted && ch in counts) counts[ch] = (counts[ch] ?? 0) + 1;
  }
  let best = ',';
  for (const [d, n] of Object.entries(counts)) if (n > (counts[best] ?? 0)) best = d;
  return best;
}

const DELIMITER_NAMES: Record<string, string> = { ';': 'semicolon', '\t': 'tab', '|': 'pipe' };

/** Opens a CSV or XLSX source as a stream of string records. Throws InputError for unusable files. */
export async function openRecords(source: Source, options: ReadOptions): Promise<RecordReader> {
  return options.format === 'xlsx' ? openXlsx(source, options) : openCsv(source, options);
}

async function openXlsx(source: Source, options: ReadOptions): Promise<RecordReader> {
  const limits = resolveXlsxLimits(options.xlsxLimits);
  if (typeof source === 'string') {
    const head = Buffer.alloc(8);
    const file = await open(source, 'r');
    let bytes: number;
    try {
      ({ bytesRead: bytes } = await file.read(head, 0, 8, 0));
    } finally {
      await file.close();
    }
    const problem = signatureProblem(head.subarray(0, bytes));
    if (problem) throw problem;
    return readXlsx({ path: source }, limits, options.tmpDir);
  }
  const { head, rest } = await peek(source, 8);
  const problem = signatureProblem(head.subarray(0, 8));
  if (problem) {
    source.destroy();
    throw problem;
  }
  return readXlsx({ stream: { head, rest, source } }, limits, options.tmpDir);
}

async function openCsv(source: Source, options: ReadOptions): Promise<RecordReader> {
  const notices: InputNotice[] = [];
  const stream = toStream(source);
  let bytes = 0;
  const { head, rest } = await peek(stream, SNIFF_BYTES);
  let start = 0;
  let encoding: 'utf-8' | 'windows-1252' | 'utf-16le' | 'utf-16be' = 'utf-8';
  if (head.length >= 3 && head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) {
    start = 3;
    notices.push({ code: 'BOM', severity: 'INFO', message: 'UTF-8 byte-order mark removed' });
  } else if (head.length >= 2 && head[0] === 0xff && head[1] === 0xfe) {
    start = 2;
    encoding = 'utf-16le';
  } else if (head.length >= 2 && head[0] === 0xfe && head[1] === 0xff) {
    start = 2;
    encoding = 'utf-16be';
  }
  const body = head.subarray(start);
  let decoder: InstanceType<typeof TextDecoder>;
  if (encoding === 'utf-16le' || encoding === 'utf-16be') {
    // Excel's "Unicode text": UTF-16 with a byte-order mark, which settles the encoding whatever
    // was declared. The mark is already cut off; a second one would be text.
    decoder = new TextDecoder(encoding, { ignoreBOM: true });
    const sample = new TextDecoder(encoding, { ignoreBOM: true }).decode(body, { stream: true });
    if (sample.trim() === '') {
      throw new InputError('EMPTY_FILE', 'file is empty: no header row and no data');
    }
    if (sample.includes('\u0000')) {
      throw new InputError(
        'BINARY_FILE',
        'file contains NUL characters: it is binary, not CSV text (a renamed file?)',
      );
    }
    const order =
      encoding === 'utf-16le' ? 'LE, byte-order mark FF FE' : 'BE, byte-order mark FE FF';
    notices.push({
      code: 'ENCODING_UTF16',
      severity: 'INFO',
      message: `file is UTF-16 (${order}); decoded from UTF-16`,
      values: [encoding],
    });
  } else {
    if (body.toString('latin1').trim() === '') {
      throw new InputError('EMPTY_FILE', 'file is empty: no header row and no data');
    }
    if (head.subarray(0, 4).equals(Buffer.from([0x50, 0x4b, 0x03, 0x04]))) {
      throw new InputError(
        'NOT_CSV',
        'file is a ZIP archive (an XLSX workbook?), not CSV text; upload it with format "xlsx"',
      );
    }
    if (body.includes(0)) {
      const order = utf16WithoutBom(body);
      if (order) {
        throw new InputError(
          'UNSUPPORTED_ENCODING',
          `file looks like UTF-16 ${order} text without a byte-order mark (every other byte is NUL); save it as "CSV UTF-8 (Comma delimited)", or as "Unicode Text", which starts with a byte-order mark`,
        );
      }
      throw new InputError(
        'BINARY_FILE',
        'file contains NUL bytes: it is binary, not CSV text (a renamed file?)',
      );
    }
    const declared = options.encoding ?? 'auto';
    if (declared === 'latin1') {
      encoding = 'windows-1252';
    } else if (!isValidUtf8Prefix(body)) {
      if (declared === 'utf-8') {
        throw new InputError(
          'INVALID_UTF8',
          'file is not valid UTF-8 in its first 64 KiB; declare Latin-1 or save it as UTF-8',
        );
      }
      encoding = 'windows-1252';
      notices.push({
        code: 'ENCODING_LATIN1',
        severity: 'WARN',
        message: 'file is not valid UTF-8; decoded as Latin-1 (Windows-1252)',
      });
    }
    decoder = new TextDecoder(encoding, { fatal: encoding === 'utf-8' });
  }
  const headText = decoder.decode(body, { stream: true });
  const delimiter = sniffDelimiter(headText);
  if (delimiter !== ',') {
    notices.push({
      code: 'DELIMITER',
      severity: 'WARN',
      message: `header uses the ${DELIMITER_NAMES[delimiter] ?? delimiter} delimiter, not a comma; parsed with "${delimiter === '\t' ? '\\t' : delimiter}"`,
      values: [delimiter],
    });
  }
  bytes = head.length;

  async function* text(): AsyncGenerator<string> {
    if (headText) yield headText;
    const tail = replay(Buffer.alloc(0), rest);
    for await (const chunk of tail) {
      const before = bytes;
      bytes += chunk.length;
      try {
        yield decoder.decode(chunk, { stream: true });
      } catch {
        throw new InputError(
          'INVALID_UTF8',
          `invalid UTF-8 after byte ${before} (the first 64 KiB were valid); declare Latin-1 or fix the file`,
        );
      }
    }
    const last = decoder.decode();
    if (last) yield last;
  }

  const parser = parse({
    delimiter,
    relax_column_count: true,
    relax_quotes: false,
    skip_empty_lines: true,
    max_record_size: options.maxRecordChars ?? 8 * 1024 * 1024,
  });

  async function* records(): AsyncGenerator<SourceRecord> {
    const input = Readable.from(text(), { objectMode: false });
    input.on('error', (err) => parser.destroy(err));
    input.pipe(parser);
    let row = 0;
    try {
      for await (const cells of parser as AsyncIterable<string[]>) {
        row++;
        yield { row, cells };
      }
    } catch (err) {
      if (err instanceof InputError) throw err;
      const e = err as { code?: string; message?: string; lines?: number };
      if (e.code === 'CSV_MAX_RECORD_SIZE') {
        throw new InputError(
          'RECORD_TOO_LARGE',
          `a record near line ${e.lines ?? '?'} is longer than ${options.maxRecordChars ?? 8 * 1024 * 1024} characters (unclosed quote or runaway cell?)`,
          row + 1,
        );
      }
      throw new InputError(
        'CSV_PARSE',
        `CSV could not be parsed near line ${e.lines ?? '?'}: ${e.message ?? String(err)}`,
        row + 1,
      );
    } finally {
      input.destroy();
    }
  }

  return { records: records(), notices, bytesRead: () => bytes };
}
