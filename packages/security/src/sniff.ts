import { isUtf8 } from 'node:buffer';
import { open } from 'node:fs/promises';

/** How many leading bytes are kept for magic-number sniffing (what file-type needs). */
export const SNIFF_BYTES = 4100;

export type TextCharset = 'utf-8' | 'latin1' | 'windows-1252';

/**
 * Incremental text check for an upload: no NUL byte anywhere and, for UTF-8, valid UTF-8 across
 * chunk boundaries (a multi-byte sequence split between chunks is carried to the next one).
 * Single-byte charsets (latin1, windows-1252) accept every byte except NUL.
 */
export class TextValidator {
  private carry: Buffer | undefined;
  private offset = 0;
  constructor(private readonly charset: TextCharset) {}

  /** Returns a reason when `chunk` makes the file invalid, else undefined. */
  push(chunk: Buffer): string | undefined {
    const nul = chunk.indexOf(0);
    if (nul !== -1) return `contains a NUL byte at offset ${this.offset + nul}`;
    this.offset += chunk.length;
    if (this.charset !== 'utf-8') return undefined;
    let data = chunk;
    if (this.carry) {
      // Complete the carried sequence from the head of this chunk and check it on its own, so the
      // (large) chunk is never copied just to prepend a few bytes.
      const missing = sequenceLength(this.carry[0] as number) - this.carry.length;
      if (chunk.length <= missing) data = Buffer.concat([this.carry, chunk]);
      else {
        if (!isUtf8(Buffer.concat([this.carry, chunk.subarray(0, missing)])))
          return 'is not valid UTF-8';
        data = chunk.subarray(missing);
      }
    }
    const cut = incompleteTail(data);
    this.carry = cut < data.length ? Buffer.from(data.subarray(cut)) : undefined;
    if (!isUtf8(data.subarray(0, cut))) return 'is not valid UTF-8';
    return undefined;
  }

  /** Call at end of file: a dangling partial sequence is invalid. */
  end(): string | undefined {
    if (this.carry && this.carry.length > 0)
      return 'is not valid UTF-8 (truncated sequence at end)';
    return undefined;
  }
}

/** Bytes in the UTF-8 sequence a lead byte (>= 0x80) starts; invalid leads are judged by isUtf8. */
function sequenceLength(lead: number): number {
  return lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
}

/** Index where a possibly incomplete trailing UTF-8 sequence starts (data.length if none). */
function incompleteTail(data: Buffer): number {
  const len = data.length;
  for (let i = len - 1; i >= 0 && i >= len - 4; i--) {
    const b = data[i] as number;
    if ((b & 0xc0) === 0x80) continue;
    if (b < 0x80) return len;
    return len - i < sequenceLength(b) ? i : len;
  }
  return len;
}

/** Entry names of a zip's central directory, or a reason it is not a readable zip. */
export async function zipEntryNames(
  path: string,
  maxEntries = 10_000,
): Promise<{ names: string[] } | { error: string }> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    if (size < 22) return { error: 'is too small to be a zip archive' };
    const tailLength = Math.min(size, 22 + 0xffff);
    const tail = Buffer.alloc(tailLength);
    await fh.read(tail, 0, tailLength, size - tailLength);
    let eocd = -1;
    for (let i = tailLength - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === 0x06054b50) {
        eocd = i;
        break;
      }
    }
    if (eocd === -1) return { error: 'has no zip end-of-central-directory record' };
    const entries = tail.readUInt16LE(eocd + 10);
    const cdSize = tail.readUInt32LE(eocd + 12);
    const cdOffset = tail.readUInt32LE(eocd + 16);
    if (entries > maxEntries) return { error: `has more than ${maxEntries} zip entries` };
    if (cdOffset + cdSize > size || cdSize > 64 * 1024 * 1024)
      return { error: 'has an invalid zip central directory' };
    const cd = Buffer.alloc(cdSize);
    await fh.read(cd, 0, cdSize, cdOffset);
    const names: string[] = [];
    let pos = 0;
    for (let n = 0; n < entries; n++) {
      if (pos + 46 > cd.length || cd.readUInt32LE(pos) !== 0x02014b50)
        return { error: 'has a corrupt zip central directory' };
      const nameLength = cd.readUInt16LE(pos + 28);
      const extraLength = cd.readUInt16LE(pos + 30);
      const commentLength = cd.readUInt16LE(pos + 32);
      names.push(cd.toString('utf8', pos + 46, pos + 46 + nameLength));
      pos += 46 + nameLength + extraLength + commentLength;
    }
    return { names };
  } finally {
    await fh.close();
  }
}

/** An XLSX is an OOXML zip: `[Content_Types].xml` plus a workbook under `xl/`. */
export async function checkXlsx(path: string): Promise<string | undefined> {
  const result = await zipEntryNames(path);
  if ('error' in result) return result.error;
  const names = new Set(result.names);
  if (!names.has('[Content_Types].xml'))
    return 'is a zip archive but not an Office Open XML document (no [Content_Types].xml)';
  if (!names.has('xl/workbook.xml') && !result.names.some((n) => n.startsWith('xl/')))
    return 'is an Office Open XML document but not a workbook (no xl/ entries)';
  return undefined;
}
