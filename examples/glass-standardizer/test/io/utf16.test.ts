import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRecords } from '../../src/index.js';
import { entry, type Harness, harness, SAMPLES } from '../helpers.js';

// Excel's "Unicode text": UTF-16 LE with a byte-order mark, tab-separated, CRLF.
const LE_BOM = Buffer.from([0xff, 0xfe]);
const BE_BOM = Buffer.from([0xfe, 0xff]);
const utf16le = (text: string) => Buffer.from(text, 'utf16le');
const utf16be = (text: string) => Buffer.from(text, 'utf16le').swap16();

let h: Harness;
let tsv: string;
beforeAll(async () => {
  h = await harness();
  const [header, ...lines] = readFileSync(join(SAMPLES, 'lab_a_2024.csv'), 'utf8')
    .split(/\r?\n/)
    .filter((line) => line !== '');
  // Non-ASCII and an astral character (a surrogate pair in UTF-16) in every row; > 64 KiB.
  const rows = [...lines, ...lines].map((line, i) => `${line},Hôpital Général 🦠 ${i + 1}`);
  tsv = `${[`${header},ward`, ...rows].join('\r\n').replaceAll(',', '\t')}\r\n`;
});
afterAll(() => h.close());

async function records(source: string | Readable) {
  const reader = await openRecords(source, { format: 'csv' });
  const rows = [];
  for await (const r of reader.records) rows.push(r);
  return { rows, notices: reader.notices };
}

function file(name: string, bytes: Buffer): string {
  const path = join(h.dir, name);
  writeFileSync(path, bytes);
  return path;
}

/** A stream in odd-sized chunks: code units and surrogate pairs are cut in half. */
const chunked = (bytes: Buffer, size: number) =>
  Readable.from(
    Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) =>
      bytes.subarray(i * size, (i + 1) * size),
    ),
  );

describe('UTF-16 CSV with a byte-order mark', () => {
  it('LE and BE read exactly as the UTF-8 file does, with an INFO notice', async () => {
    const utf8 = await records(file('lab.tsv', Buffer.from(tsv)));
    expect(utf8.rows.length).toBeGreaterThan(200);
    expect(Buffer.byteLength(tsv) * 2).toBeGreaterThan(64 * 1024);
    expect(utf8.rows[1]?.cells.at(-1)).toBe('Hôpital Général 🦠 1');
    for (const [name, bytes, order] of [
      ['le', Buffer.concat([LE_BOM, utf16le(tsv)]), 'LE, byte-order mark FF FE'],
      ['be', Buffer.concat([BE_BOM, utf16be(tsv)]), 'BE, byte-order mark FE FF'],
    ] as const) {
      for (const source of [file(`lab-${name}.tsv`, bytes), chunked(bytes, 4093)]) {
        const utf16 = await records(source);
        expect(utf16.rows).toEqual(utf8.rows);
        expect(utf16.notices).toEqual([
          {
            code: 'ENCODING_UTF16',
            severity: 'INFO',
            message: `file is UTF-16 (${order}); decoded from UTF-16`,
            values: [name === 'le' ? 'utf-16le' : 'utf-16be'],
          },
          ...utf8.notices,
        ]);
        expect(utf8.notices.map((n) => n.code)).toEqual(['DELIMITER']);
      }
    }
  });

  it('through the pipeline: the same isolates as the UTF-8 CSV', async () => {
    const csv = readFileSync(join(SAMPLES, 'lab_a_2024.csv'), 'utf8');
    const d = await h.run(file('lab-a-utf16.csv', Buffer.concat([LE_BOM, utf16le(csv)])));
    expect(entry(d, 'ENCODING_UTF16')).toMatchObject({ rule: 0, severity: 'INFO', count: 1 });
    expect(d.counts?.isolates).toBe(205);
    expect(d.quality?.blocking).toBe(false);
  });

  it('an empty UTF-16 file is empty, a binary one binary', async () => {
    await expect(
      records(file('empty16.csv', Buffer.concat([LE_BOM, utf16le(' \r\n')]))),
    ).rejects.toMatchObject({
      code: 'EMPTY_FILE',
    });
    await expect(
      records(file('nul16.csv', Buffer.concat([LE_BOM, utf16le('a\tb\u0000c\r\n')]))),
    ).rejects.toMatchObject({ code: 'BINARY_FILE' });
  });
});

describe('UTF-16 without a byte-order mark', () => {
  for (const [order, encode] of [
    ['LE', utf16le],
    ['BE', utf16be],
  ] as const) {
    it(`${order}: says so and how to save it, rather than "binary"`, async () => {
      await expect(records(file(`nobom-${order}.csv`, encode(tsv)))).rejects.toMatchObject({
        code: 'UNSUPPORTED_ENCODING',
        message: `file looks like UTF-16 ${order} text without a byte-order mark (every other byte is NUL); save it as "CSV UTF-8 (Comma delimited)", or as "Unicode Text", which starts with a byte-order mark`,
      });
    });
  }

  it('a binary file with NUL bytes is still BINARY_FILE', async () => {
    const png = Buffer.from([
      0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48,
    ]);
    await expect(records(file('image.csv', png))).rejects.toMatchObject({ code: 'BINARY_FILE' });
  });
});
