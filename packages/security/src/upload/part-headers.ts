/**
 * Bytes a part's header section may take. The parser truncates longer headers silently (losing,
 * say, a Content-Type line after a long one); busboy 1.x refused them at 16 KiB, and so do we.
 */
export const MAX_PART_HEADER_BYTES = 16 * 1024;

/**
 * Counts header lines and bytes of every multipart part as the bytes stream by (the parser has no
 * refusing limit of its own for either). Only header sections are walked byte by byte; bodies are
 * skipped with indexOf.
 */
export class PartHeaderCounter {
  private readonly delimiter: Buffer;
  /** Tail of the previous chunk, so a delimiter split across chunks is still found. */
  private tail: Buffer;
  private inHeaders = false;
  /** Lines seen in the current header section; line 0 is the rest of the boundary line. */
  private lines = 0;
  private lineLength = 0;
  /** Bytes of the current header section, line ends included. */
  private headerBytes = 0;
  /** First two bytes of the boundary line: `--` marks the final boundary. */
  private lineStart = '';
  private done = false;

  constructor(
    boundary: string,
    private readonly maxPairs: number,
  ) {
    this.delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
    // The first boundary has no CRLF before it.
    this.tail = Buffer.from('\r\n');
  }

  /** Returns what is wrong when a part has too many header lines or bytes, else undefined. */
  push(chunk: Buffer): 'lines' | 'bytes' | undefined {
    if (this.done) return undefined;
    let pos = 0;
    if (!this.inHeaders) {
      const joined = Buffer.concat([this.tail, chunk.subarray(0, this.delimiter.length)]);
      const straddle = joined.indexOf(this.delimiter);
      const found = straddle !== -1 ? straddle - this.tail.length : chunk.indexOf(this.delimiter);
      if (found === -1 && straddle === -1) {
        this.keepTail(chunk);
        return undefined;
      }
      pos = found + this.delimiter.length;
      this.startHeaders();
    }
    while (pos < chunk.length) {
      if (!this.inHeaders) {
        const found = chunk.indexOf(this.delimiter, pos);
        if (found === -1) break;
        pos = found + this.delimiter.length;
        this.startHeaders();
        continue;
      }
      const byte = chunk[pos++] as number;
      if (++this.headerBytes > MAX_PART_HEADER_BYTES) return 'bytes';
      if (this.lines === 0 && this.lineLength < 2) {
        this.lineStart += String.fromCharCode(byte);
        if (this.lineStart === '--') {
          this.done = true;
          return undefined;
        }
      }
      if (byte === 10) {
        if (this.lineLength === 0 && this.lines > 0) {
          this.inHeaders = false;
          continue;
        }
        if (++this.lines - 1 > this.maxPairs) return 'lines';
        this.lineLength = 0;
      } else if (byte !== 13) this.lineLength++;
    }
    this.keepTail(chunk);
    return undefined;
  }

  private startHeaders(): void {
    this.inHeaders = true;
    this.lines = 0;
    this.lineLength = 0;
    this.headerBytes = 0;
    this.lineStart = '';
  }

  private keepTail(chunk: Buffer): void {
    const keep = this.delimiter.length - 1;
    this.tail =
      chunk.length >= keep
        ? Buffer.from(chunk.subarray(chunk.length - keep))
        : Buffer.concat([this.tail, chunk]).subarray(-keep);
  }
}
