// The XLSX bomb corpus: each file is written in milliseconds, without holding what it inflates to.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { book, bookParts, istr } from './workbooks.js';
import { deflate, repeated, type ZipPart, zip } from './zip-writer.js';

const MiB = 1024 * 1024;
const ROW = '<row><c t="inlineStr"><is><t>x</t></is></c></row>';
/** About 1 MiB of sheet rows. */
const ROWS_MIB = ROW.repeat(Math.floor(MiB / ROW.length));
const sheetHead = (rows = '') =>
  `<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>${rows}`;
const SHEET_TAIL = '</sheetData></worksheet>';
const HEADER_ROW = `<row r="1">${istr('A1', 'patient_id')}</row>`;

export type BombName =
  | 'threeSheets'
  | 'oneCell'
  | 'sharedStrings'
  | 'sharedStringsDistinct'
  | 'sharedStringsDeclared'
  | 'lyingSizes'
  | 'lyingLocalHeader'
  | 'hugeAttribute'
  | 'manyAttributes'
  | 'deepNesting'
  | 'manyEntries'
  | 'declaredHuge';

/** Writes the corpus into `dir`; returns the file of each case. */
export function writeBombs(dir: string): Record<BombName, string> {
  const write = (name: string, bytes: Buffer) => {
    const file = join(dir, `${name}.xlsx`);
    writeFileSync(file, bytes);
    return file;
  };

  // 3 sheets of 400 MiB of rows each, before the shared strings (exceljs spooled them to /tmp).
  const sheet400 = repeated(sheetHead(HEADER_ROW), ROWS_MIB, 400, SHEET_TAIL);
  const threeSheets = write(
    'three-sheets',
    book({
      sheets: ['A', 'B', 'C'].map((name) => ({ name, raw: sheet400 })),
      sharedStrings: '<si><t>x</t></si>',
    }),
  );

  // One 700 MiB cell.
  const cell = repeated(
    sheetHead(`<row r="1"><c r="A1" t="inlineStr"><is><t>`),
    'A'.repeat(MiB),
    700,
    `</t></is></c></row>${SHEET_TAIL}`,
  );
  const oneCell = write('one-cell', book({ sheets: [{ name: 'Cell', raw: cell }] }));

  // 10 million shared strings of one character, 160 MiB of XML.
  const si = '<si><t>x</t></si>';
  const manyStrings = write(
    'shared-strings',
    book({
      sheets: [{ name: 'S', rows: '<row r="1"><c r="A1" t="s"><v>0</v></c></row>' }],
      sharedStrings: repeated(
        '<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">',
        si.repeat(Math.floor(MiB / si.length)),
        160,
        '</sst>',
      ),
    }),
  );

  // 400,000 distinct strings: compresses like real text (~5:1), so only counting stops it (with
  // a lower limit: the default, 3 million, takes seconds to reach); the sst's uniqueCount lies.
  const distinct: string[] = [];
  for (let i = 0; i < 400_000; i++) distinct.push(`<si><t>${(i * 7919).toString(36)}</t></si>`);
  const distinctStrings = write(
    'shared-strings-distinct',
    book({
      sheets: [{ name: 'S', rows: '<row r="1"><c r="A1" t="s"><v>0</v></c></row>' }],
      sharedStrings: deflate(
        `<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" uniqueCount="1">${distinct.join('')}</sst>`,
      ),
    }),
  );
  distinct.length = 0;

  // An honest uniqueCount above the limit is refused before any string is read.
  const declaredStrings = write(
    'shared-strings-declared',
    book({
      sheets: [{ name: 'S', rows: '<row r="1"><c r="A1" t="s"><v>0</v></c></row>' }],
      sharedStrings: '<si><t>x</t></si>',
      sstAttributes: 'count="5000000" uniqueCount="5000000"',
    }),
  );

  // Both headers of the sheet claim 1000 bytes; it inflates to 400 MiB.
  const lying = write(
    'lying-sizes',
    book({
      sheets: [
        {
          name: 'Liar',
          raw: sheet400,
          central: { uncompressed: 1000 },
          local: { uncompressed: 1000, compressed: 0 },
        },
      ],
    }),
  );

  // Only the local header lies (what a streaming unzipper trusts); the central directory is true.
  const lyingLocal = write(
    'lying-local-header',
    book({
      sheets: [{ name: 'Liar', raw: sheet400, local: { uncompressed: 1000, compressed: 100 } }],
    }),
  );

  // One attribute value of 700 MiB.
  const attribute = write(
    'huge-attribute',
    book({
      sheets: [
        {
          name: 'Attr',
          raw: repeated(sheetHead('<row r="1" x="'), 'a'.repeat(MiB), 700, `"/>${SHEET_TAIL}`),
        },
      ],
    }),
  );

  // 300,000 distinct attributes on one element (~4 MiB, compresses ~5:1: passes the ratio check).
  const attributes: string[] = [];
  for (let i = 0; i < 300_000; i++) attributes.push(` a${i}="${i % 10}"`);
  const manyAttributes = write(
    'many-attributes',
    book({
      sheets: [{ name: 'Attrs', rows: `<row r="1"${attributes.join('')}/>` }],
    }),
  );

  // 100,000 nested elements (700 KB: too small for the ratio check).
  const deep = write(
    'deep-nesting',
    book({
      sheets: [
        {
          name: 'Deep',
          rows: `<row r="1"><c r="A1">${'<x>'.repeat(100_000)}${'</x>'.repeat(100_000)}</c></row>`,
        },
      ],
    }),
  );

  // 20,000 entries.
  const entries: ZipPart[] = bookParts({ sheets: [{ name: 'A', rows: HEADER_ROW }] });
  for (let i = 0; i < 20_000; i++) entries.push({ name: `xl/media/pad${i}.bin`, data: 'x' });
  const manyEntries = write('many-entries', zip(entries));

  // An entry that declares 3 GiB.
  const parts = bookParts({ sheets: [{ name: 'A', rows: HEADER_ROW }] });
  parts.push({
    name: 'docProps/huge.xml',
    data: '<x/>',
    central: { uncompressed: 3 * 1024 * MiB },
  });
  const declaredHuge = write('declared-3gib', zip(parts));

  return {
    threeSheets,
    oneCell,
    sharedStrings: manyStrings,
    sharedStringsDistinct: distinctStrings,
    sharedStringsDeclared: declaredStrings,
    lyingSizes: lying,
    lyingLocalHeader: lyingLocal,
    hugeAttribute: attribute,
    manyAttributes,
    deepNesting: deep,
    manyEntries,
    declaredHuge,
  };
}
