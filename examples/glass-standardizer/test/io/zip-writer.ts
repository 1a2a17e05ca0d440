// A ZIP writer for test files: any entry order, and headers that may lie about sizes.
import { constants, crc32, deflateRawSync } from 'node:zlib';

export interface Deflated {
  readonly deflated: Buffer;
  readonly size: number;
  readonly crc: number;
}

export interface Sizes {
  readonly compressed?: number;
  readonly uncompressed?: number;
}

export interface ZipPart {
  readonly name: string;
  /** Content, deflated (or stored) here… */
  readonly data?: Buffer | string;
  /** …or a deflate stream made elsewhere, with its real size and CRC. */
  readonly raw?: Deflated;
  readonly stored?: boolean;
  /** Sizes written into the central directory instead of the real ones. */
  readonly central?: Sizes;
  /** Sizes written into the local header instead of the real ones. */
  readonly local?: Sizes;
}

export function deflate(data: Buffer | string): Deflated {
  const bytes = Buffer.from(data);
  return { deflated: deflateRawSync(bytes), size: bytes.length, crc: crc32(bytes) };
}

/**
 * A deflate stream of `head`, then `unit` repeated `times` times, then `tail`, without ever
 * holding the inflated text: each piece is deflated on its own and sync-flushed (byte-aligned,
 * not final), so the pieces concatenate into one valid stream. How bombs are made cheaply.
 */
export function repeated(head: string, unit: string, times: number, tail: string): Deflated {
  const flush = { finishFlush: constants.Z_SYNC_FLUSH, level: 9 };
  const headBytes = Buffer.from(head);
  const unitBytes = Buffer.from(unit);
  const tailBytes = Buffer.from(tail);
  const unitDeflated = deflateRawSync(unitBytes, flush);
  const pieces = [deflateRawSync(headBytes, flush)];
  let crc = crc32(headBytes);
  for (let i = 0; i < times; i++) {
    pieces.push(unitDeflated);
    crc = crc32(unitBytes, crc);
  }
  pieces.push(deflateRawSync(tailBytes));
  return {
    deflated: Buffer.concat(pieces),
    size: headBytes.length + unitBytes.length * times + tailBytes.length,
    crc: crc32(tailBytes, crc),
  };
}

export function zip(parts: readonly ZipPart[]): Buffer {
  const chunks: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const part of parts) {
    const name = Buffer.from(part.name);
    let body: Deflated;
    if (part.raw) body = part.raw;
    else if (part.stored) {
      const bytes = Buffer.from(part.data ?? '');
      body = { deflated: bytes, size: bytes.length, crc: crc32(bytes) };
    } else body = deflate(part.data ?? '');
    const method = part.stored ? 0 : 8;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(0, 10);
    local.writeUInt16LE(0x21, 12);
    local.writeUInt32LE(body.crc, 14);
    local.writeUInt32LE(part.local?.compressed ?? body.deflated.length, 18);
    local.writeUInt32LE(part.local?.uncompressed ?? body.size, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const header = Buffer.alloc(46);
    header.writeUInt32LE(0x02014b50, 0);
    header.writeUInt16LE(20, 4);
    header.writeUInt16LE(20, 6);
    header.writeUInt16LE(0x0800, 8);
    header.writeUInt16LE(method, 10);
    header.writeUInt16LE(0, 12);
    header.writeUInt16LE(0x21, 14);
    header.writeUInt32LE(body.crc, 16);
    header.writeUInt32LE(part.central?.compressed ?? body.deflated.length, 20);
    header.writeUInt32LE(part.central?.uncompressed ?? body.size, 24);
    header.writeUInt16LE(name.length, 28);
    header.writeUInt32LE(offset, 42);
    central.push(header, name);
    chunks.push(local, name, body.deflated);
    offset += local.length + name.length + body.deflated.length;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(parts.length, 8);
  end.writeUInt16LE(parts.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...chunks, directory, end]);
}
