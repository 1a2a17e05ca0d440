import { createReadStream } from 'node:fs';
import { Duplex, Readable } from 'node:stream';
import { parse } from 'csv-parse';
import ExcelJS from 'exceljs';

/** A file-level problem that stops reading; becomes a rule-0 quality ERROR. */
export class InputError extends Error {
  readonly code: string;
  readonly row: number | undefined;
  constructor(code: string, message: string, row?: number) {
    super(message);
    this.name = 'InputError';
    this.code = code;
    this.row = row;
  }
}

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
  return options.format === 'xlsx' ? openXlsx(source) : openCsv(source, options);
}

async function openCsv(source: Source, options: ReadOptions): Promise<RecordReader> {
  const notices: InputNotice[] = [];
  const stream = toStream(source);
  let bytes = 0;
  const { head, rest } = await peek(stream, SNIFF_BYTES);
  let start = 0;
  let encoding: 'utf-8' | 'windows-1252' = 'utf-8';
  if (head.length >= 3 && head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) {
    start = 3;
    notices.push({ code: 'BOM', severity: 'INFO', message: 'UTF-8 byte-order mark removed' });
  } else if (
    head.length >= 2 &&
    ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff))
  ) {
    throw new InputError(
      'UNSUPPORTED_ENCODING',
      'file is UTF-16 (byte-order mark FF FE / FE FF); save it as UTF-8 CSV',
    );
  }
  const body = head.subarray(start);
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
  const decoder = new TextDecoder(encoding, { fatal: encoding === 'utf-8' });
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

// ---------------------------------------------------------------------------------------------

function excelDateToIso(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/** Converts an exceljs cell value to text; formulas use their cached result. */
function cellText(value: unknown, stats: { formulas: number }): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value instanceof Date) return excelDateToIso(value);
  if (typeof value === 'object') {
    const v = value as Record<string, unknown>;
    if ('formula' in v || 'sharedFormula' in v) {
      stats.formulas++;
      return cellText(v.result, stats);
    }
    if (Array.isArray(v.richText)) {
      return (v.richText as { text?: string }[]).map((p) => p.text ?? '').join('');
    }
    if (typeof v.text === 'string') return v.text;
    if (typeof v.error === 'string') return v.error;
  }
  return String(value);
}

/**
 * exceljs's streaming reader pipes the file into unzipper's `Parse`, which emits `'end'` itself
 * the moment its input is written, even while parsed entries still wait, unread, in its
 * readable buffer. exceljs stops at that `'end'`, so every part behind the one it was busy
 * with is dropped: later sheets, or `workbook.xml` and the shared strings when the sheets come
 * first (as Excel and exceljs write them), which turns a good workbook into "could not be
 * read". It happens when exceljs is slower than the unzipper, e.g. on a loaded machine or while
 * the pipeline stores a batch (ZJONSSON/node-unzipper pull request 346, still open in 0.12.5).
 *
 * The zip parser is the one stream exceljs pipes this source into; there, the early `'end'` is
 * replaced by `push(null)`, which ends the readable side the Node way: after the last buffered
 * entry was read.
 */
function endZipAfterLastEntry(source: Readable): void {
  const pipe = source.pipe;
  source.pipe = (<T extends NodeJS.WritableStream>(dest: T, options?: { end?: boolean }) => {
    if (dest instanceof Duplex) {
      const zip: Duplex = dest;
      const emit = zip.emit;
      let ending = false;
      zip.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
        // Node's own 'end' (after push(null) and an empty buffer) has set readableEnded.
        if (event === 'end' && !zip.readableEnded) {
          if (!ending) {
            ending = true;
            zip.push(null);
          }
          return true;
        }
        return emit.call(zip, event, ...args);
      }) as typeof zip.emit;
    }
    return pipe.call(source, dest, options) as T;
  }) as typeof source.pipe;
}

async function openXlsx(source: Source): Promise<RecordReader> {
  const notices: InputNotice[] = [];
  const stream = toStream(source);
  const { head, rest } = await peek(stream, 4);
  if (head.length === 0) throw new InputError('EMPTY_FILE', 'file is empty');
  if (!head.subarray(0, 4).equals(Buffer.from([0x50, 0x4b, 0x03, 0x04]))) {
    throw new InputError(
      'NOT_XLSX',
      'file is not an XLSX workbook (no ZIP signature); a renamed CSV or binary file?',
    );
  }
  let bytes = 0;
  const counted = Readable.from(
    (async function* () {
      for await (const chunk of replay(head, rest)) {
        bytes += chunk.length;
        yield chunk;
      }
    })(),
  );
  endZipAfterLastEntry(counted);

  async function* records(): AsyncGenerator<SourceRecord> {
    const stats = { formulas: 0 };
    const reader = new ExcelJS.stream.xlsx.WorkbookReader(counted, {
      worksheets: 'emit',
      sharedStrings: 'cache',
      hyperlinks: 'ignore',
      styles: 'cache',
      entries: 'ignore',
    });
    const ignoredSheets: string[] = [];
    let sheetIndex = 0;
    try {
      for await (const worksheet of reader) {
        sheetIndex++;
        const name = (worksheet as unknown as { name?: string }).name ?? `sheet ${sheetIndex}`;
        if (sheetIndex > 1) {
          ignoredSheets.push(name);
          for await (const _row of worksheet) {
            // Drain: the streaming reader must consume every sheet to reach the end.
          }
          continue;
        }
        for await (const row of worksheet) {
          const values = row.values as unknown[];
          const cells: string[] = [];
          for (let c = 1; c < values.length; c++) cells.push(cellText(values[c], stats));
          if (cells.every((c) => c.trim() === '')) continue;
          yield { row: row.number, cells };
        }
      }
    } catch (err) {
      if (err instanceof InputError) throw err;
      throw new InputError(
        'XLSX_READ',
        `XLSX workbook could not be read: ${(err as Error).message ?? String(err)}`,
      );
    }
    if (sheetIndex === 0) throw new InputError('EMPTY_FILE', 'XLSX workbook has no worksheet');
    if (ignoredSheets.length > 0) {
      notices.push({
        code: 'XLSX_SHEETS',
        severity: 'INFO',
        message: `workbook has ${sheetIndex} sheets; only the first was read`,
        values: ignoredSheets,
      });
    }
    if (stats.formulas > 0) {
      notices.push({
        code: 'XLSX_FORMULAS',
        severity: 'INFO',
        message: `${stats.formulas} formula cells were read as their cached results`,
      });
    }
  }

  return { records: records(), notices, bytesRead: () => bytes };
}
