import { execFile } from 'node:child_process';
import {
  createReadStream,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openRecords, type ReadOptions } from '../../src/index.js';
import { entry, type Harness, harness } from '../helpers.js';
import * as W from './workbooks.js';

// What the exceljs-based reader (before this one) gave for the same workbooks, captured with it.
const EXPECTED = JSON.parse(
  readFileSync(new URL('./xlsx-expected.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;

let dir: string;
let h: Harness;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'glass-xlsx-read-'));
  h = await harness();
});
afterAll(async () => {
  await h.close();
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, bytes: Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

async function read(
  source: string | import('node:stream').Readable,
  options: Partial<ReadOptions> = {},
) {
  try {
    const reader = await openRecords(source, { format: 'xlsx', ...options });
    const rows = [];
    for await (const r of reader.records) rows.push(r);
    return { rows, notices: reader.notices };
  } catch (err) {
    return { error: { code: (err as { code?: string }).code, message: (err as Error).message } };
  }
}

const SAME_AS_BEFORE: [string, () => Buffer | Promise<Buffer>][] = [
  ['exceljs', () => W.exceljsBook()],
  ['exceljs-1904', () => W.exceljsBook({ date1904: true })],
  ['exceljs-excel-order', async () => W.excelOrder(await W.exceljsBook())],
  ['stream-writer', () => W.streamWriterBook()],
  ['handmade', () => W.handmadeBook('excel')],
  ['handmade-sheets-last', () => W.handmadeBook('sheets-last')],
  ['mac-1904', () => W.book1904()],
];

describe('valid workbooks read as the exceljs-based reader read them', () => {
  for (const [name, make] of SAME_AS_BEFORE) {
    it(name, async () => {
      expect(EXPECTED[name]).toBeDefined();
      expect(await read(file(`${name}.xlsx`, await make()))).toEqual(EXPECTED[name]);
    });
  }

  it('the fixtures cover what they claim', () => {
    const rows = (name: string) =>
      (EXPECTED[name] as { rows: { row: number; cells: string[] }[] }).rows;
    const cells = rows('handmade').flatMap((r) => r.cells);
    // shared, inline and rich strings; numbers, booleans, errors, formulas, dates by style
    expect(cells).toEqual(
      expect.arrayContaining(['P1', 'F', 'Escherichia coli', 'true', 'false', '#VALUE!', 'P3']),
    );
    expect(cells).toEqual(expect.arrayContaining(['2024-03-01', '2023-03-15', '12.5', '0.375']));
    // gaps become '', the trailing styled cell without a value is left out, rows 5 and 7 skipped
    expect(rows('handmade').find((r) => r.row === 6)?.cells).toEqual([
      '',
      'gap before',
      '',
      '',
      '0.0015',
    ]);
    expect(rows('handmade').map((r) => r.row)).toEqual([1, 2, 3, 4, 6, 9, 20]);
    expect(rows('exceljs-1904')[1]?.cells[3]).toBe('2024-03-01');
    expect(rows('mac-1904')[1]?.cells).toEqual(['2024-03-01', '43890']);
  });

  it('a workbook arriving as a stream is spooled to tmpDir, which is empty while and after reading', async () => {
    const path = file('stream.xlsx', await W.excelOrder(await W.exceljsBook()));
    const tmp = mkdtempSync(join(dir, 'spool-'));
    const reader = await openRecords(createReadStream(path), { format: 'xlsx', tmpDir: tmp });
    const rows = [];
    for await (const r of reader.records) {
      // The copy is unlinked as soon as it is open.
      expect(readdirSync(tmp)).toEqual([]);
      rows.push(r);
    }
    expect({ rows, notices: reader.notices }).toEqual(EXPECTED['exceljs-excel-order']);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('stopping early releases the file', async () => {
    const path = file('early.xlsx', await W.streamWriterBook());
    const open = () =>
      existsSync('/proc/self/fd')
        ? readdirSync('/proc/self/fd').filter((fd) => {
            try {
              return readlinkSync(`/proc/self/fd/${fd}`) === path;
            } catch {
              return false;
            }
          }).length
        : 0;
    const reader = await openRecords(path, { format: 'xlsx' });
    const iterator = reader.records[Symbol.asyncIterator]();
    expect((await iterator.next()).value?.row).toBe(1);
    if (existsSync('/proc/self/fd')) expect(open()).toBe(1);
    await iterator.return?.();
    // yauzl closes the descriptor with an asynchronous fs.close.
    await vi.waitFor(() => expect(open()).toBe(0), { timeout: 2000, interval: 10 });
  });

  it.runIf(existsSync('/proc/self/fd'))(
    'a reader dropped without return() releases the file once collected',
    async () => {
      const path = file('dropped.xlsx', await W.streamWriterBook());
      const child = fileURLToPath(new URL('./abandon-child.mjs', import.meta.url));
      const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', child, path]);
      expect(JSON.parse(stdout)).toEqual({ before: 1, after: 0 });
    },
  );

  it('multi-byte characters split across inflated chunks stay whole', async () => {
    const words = ['Hôpital', '大肠埃希菌', '🦠 bacterium', 'Ünïcödé'];
    const rows = Array.from(
      { length: 4000 },
      (_, i) =>
        `<row r="${i + 1}">${W.istr(`A${i + 1}`, `${words[i % 4]} ${i}`)}${W.istr(`B${i + 1}`, 'é'.repeat(i % 7))}</row>`,
    ).join('');
    const result = await read(file('utf8.xlsx', W.book({ sheets: [{ name: 'U', rows }] })));
    expect('rows' in result && result.rows.length).toBe(4000);
    if (!('rows' in result)) return;
    for (const [i, r] of result.rows.entries()) {
      expect(r.cells[0]).toBe(`${words[i % 4]} ${i}`);
      if (i % 7) expect(r.cells[1]).toBe('é'.repeat(i % 7));
    }
  });
});

describe('where this reader deliberately differs from exceljs', () => {
  it('formula results are typed like plain cells; inline rich text and entities are kept whole', async () => {
    const result = await read(file('deviations.xlsx', W.deviationsBook()));
    const now = 'rows' in result ? result.rows[1]?.cells : undefined;
    const before = (EXPECTED.deviations as { rows: { cells: string[] }[] }).rows[1]?.cells;
    // [case, exceljs, now]
    const cases = [
      'bool_formula',
      'error_formula',
      'date_formula',
      'inline_rich',
      'str_entity',
      'empty_v',
      'phonetic',
      'pretty_si',
      'iso_d',
    ].map((c, i) => [c, before?.[i], now?.[i]]);
    expect(cases).toEqual([
      ['bool_formula', '1', 'true'],
      ['error_formula', '', '#DIV/0!'],
      ['date_formula', '45352', '2024-03-01'],
      ['inline_rich', 'siella', 'Klebsiella'],
      ['str_entity', 'a < b', 'a &lt; b'],
      ['empty_v', 'NaN', ''],
      ['phonetic', 'トウキョウ', '東京'],
      ['pretty_si', 'pretty\n', 'pretty'],
      ['iso_d', '2024', '2024-03-01'],
    ]);
  });

  it('date1904="true", the first tab rather than sheet1.xml, namespace prefixes', async () => {
    expect(EXPECTED['date1904-true']).toMatchObject({ rows: [{ cells: ['2020-02-29'] }] });
    expect(await read(file('1904true.xlsx', W.book1904True()))).toMatchObject({
      rows: [{ cells: ['2024-03-01'] }],
    });
    expect(EXPECTED['reordered-tabs']).toMatchObject({ rows: [{ cells: ['second tab'] }] });
    expect(await read(file('tabs.xlsx', W.reorderedTabsBook()))).toEqual({
      rows: [{ row: 1, cells: ['first tab'] }],
      notices: [expect.objectContaining({ code: 'XLSX_SHEETS', values: ['Notes'] })],
    });
    expect(EXPECTED.prefixed).toMatchObject({ error: { code: 'XLSX_READ' } });
    expect(await read(file('prefixed.xlsx', W.prefixedBook()))).toEqual({
      rows: [{ row: 1, cells: ['prefixed', '2'] }],
      notices: [],
    });
  });
});

describe('broken workbooks', () => {
  it('give XLSX_READ, EMPTY_FILE or NOT_XLSX with a reason', async () => {
    const noSheets = W.book({ sheets: [] });
    expect(await read(file('nosheets.xlsx', noSheets))).toEqual({
      error: { code: 'EMPTY_FILE', message: 'XLSX workbook has no worksheet' },
    });
    const badXml = W.book({ sheets: [{ name: 'A', rows: '<row r="1"><c r="A1"><v>1</v></row>' }] });
    expect(await read(file('badxml.xlsx', badXml))).toMatchObject({
      error: {
        code: 'XLSX_READ',
        message: expect.stringMatching(/sheet1\.xml: .*unexpected close tag/),
      },
    });
    const wide = W.book({
      sheets: [{ name: 'A', rows: '<row r="1"><c r="XFE1"><v>1</v></c></row>' }],
    });
    expect(await read(file('wide.xlsx', wide))).toMatchObject({
      error: {
        code: 'XLSX_READ',
        message: expect.stringMatching(/cell XFE1 in row 1 is beyond column XFD/),
      },
    });
    const { zip } = await import('./zip-writer.js');
    const truncated = zip([
      { name: 'xl/workbook.xml', data: '<workbook/>', central: { uncompressed: 50 } },
    ]);
    expect(await read(file('short.xlsx', truncated))).toEqual({
      error: {
        code: 'XLSX_SIZE_MISMATCH',
        message: 'entry "xl/workbook.xml" inflates to 11 bytes, not the 50 its header declares',
      },
    });
  });

  it('a refused workbook is a rule-0 quality ERROR and stores nothing', async () => {
    const deep = W.book({
      sheets: [
        {
          name: 'A',
          rows: `<row r="1"><c r="A1">${'<x>'.repeat(100)}${'</x>'.repeat(100)}</c></row>`,
        },
      ],
    });
    const d = await h.run(file('deep.xlsx', deep), { format: 'xlsx' });
    expect(entry(d, 'XLSX_XML_LIMIT')).toMatchObject({ rule: 0, severity: 'ERROR', count: 1 });
    expect(d.quality?.blocking).toBe(true);
    expect(await h.storage.countIsolates(d.id)).toBe(0);
  });
});
