import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectXlsx, openRecords } from '../../src/index.js';
import { type BombName, writeBombs } from './bombs.js';
import { book, istr } from './workbooks.js';

// Each bomb is read by the built reader (npm run build first) in its own process, so that its
// peak RSS is its own. The exceljs-based reader took up to GBs of RSS, temp files and minutes on
// the same files (numbers in the commit that added this file).
const CHILD = fileURLToPath(new URL('./read-child.mjs', import.meta.url));
/** Peak RSS of a child that refuses a bomb. Measured: 54–99 MB (a bare child: ~50 MB). */
const MAX_RSS_MB = 160;
/** Time from openRecords to the refusal. Measured: 0.01–1.1 s (500,000 shared strings). */
const MAX_MS = 6000;

interface ChildResult {
  ok: boolean;
  code?: string;
  message?: string;
  rows?: number;
  ms: number;
  maxRssMB: number;
}

let dir: string;
let bombs: Record<BombName, string>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'glass-bombs-'));
  bombs = writeBombs(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the child with its own empty TMPDIR and tmpDir, and checks both are empty after. */
function readInChild(file: string, options: Record<string, unknown> = {}): Promise<ChildResult> {
  const scratch = mkdtempSync(join(dir, 'run-'));
  const osTmp = join(scratch, 'os-tmp');
  const tmpDir = join(scratch, 'tmp-dir');
  mkdirSync(osTmp);
  mkdirSync(tmpDir);
  const json = JSON.stringify({ format: 'xlsx', tmpDir, ...options });
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CHILD, file, json],
      { env: { ...process.env, TMPDIR: osTmp }, timeout: 60_000, maxBuffer: 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`child failed: ${err.message}\n${stderr}`));
        if (process.env.GLASS_BOMB_LOG) console.log(file, json, stdout);
        try {
          expect(readdirSync(osTmp), 'files left in the OS temp dir').toEqual([]);
          expect(readdirSync(tmpDir), 'files left in tmpDir').toEqual([]);
          resolve(JSON.parse(stdout) as ChildResult);
        } catch (e) {
          reject(e);
        } finally {
          rmSync(scratch, { recursive: true, force: true });
        }
      },
    );
  });
}

const INF = 'Infinity';
const NO_RATIO = { maxCompressionRatio: INF };

/**
 * [bomb, xlsxLimits, code, message]: with the defaults, then with a first line of defence lifted
 * to show the next one holds.
 */
const CASES: [BombName, Record<string, unknown>, string, (string | RegExp)?][] = [
  ['threeSheets', {}, 'XLSX_COMPRESSION_RATIO'],
  [
    'oneCell',
    {},
    'XLSX_COMPRESSION_RATIO',
    /^entry "xl\/worksheets\/sheet1\.xml" declares 734003\d{3} bytes from \d+: a compression ratio of 10\d\d:1; at most 200:1 \(maxCompressionRatio\)$/,
  ],
  [
    'oneCell',
    NO_RATIO,
    'XLSX_CELL_TOO_LARGE',
    'xl/worksheets/sheet1.xml, row 1: a cell is longer than 1048576 characters (maxCellChars)',
  ],
  ['sharedStrings', {}, 'XLSX_COMPRESSION_RATIO'],
  [
    'sharedStrings',
    { ...NO_RATIO, maxSharedStrings: 500_000 },
    'XLSX_SHARED_STRINGS',
    'xl/sharedStrings.xml: more than 500000 strings (maxSharedStrings)',
  ],
  [
    'sharedStringsDeclared',
    {},
    'XLSX_SHARED_STRINGS',
    'xl/sharedStrings.xml: declares 5000000 strings; at most 3000000 (maxSharedStrings)',
  ],
  ['sharedStringsDistinct', { maxSharedStrings: 300_000 }, 'XLSX_SHARED_STRINGS'],
  [
    'sharedStringsDistinct',
    { maxSharedStringChars: 1_000_000 },
    'XLSX_SHARED_STRINGS',
    'xl/sharedStrings.xml: more than 1000000 characters in all (maxSharedStringChars)',
  ],
  [
    'lyingSizes',
    {},
    'XLSX_SIZE_MISMATCH',
    'entry "xl/worksheets/sheet1.xml" inflates to more than the 1000 bytes its header declares',
  ],
  ['lyingSizes', { maxEntryBytes: INF, maxTotalBytes: INF, ...NO_RATIO }, 'XLSX_SIZE_MISMATCH'],
  ['lyingLocalHeader', {}, 'XLSX_COMPRESSION_RATIO'],
  ['hugeAttribute', {}, 'XLSX_COMPRESSION_RATIO'],
  [
    'hugeAttribute',
    NO_RATIO,
    'XLSX_XML_LIMIT',
    'xl/worksheets/sheet1.xml, outside the rows: an XML token (tag, attribute, comment) is longer than 1048576 characters (maxXmlTokenChars)',
  ],
  ['manyAttributes', {}, 'XLSX_XML_LIMIT'],
  [
    'deepNesting',
    {},
    'XLSX_XML_LIMIT',
    'xl/worksheets/sheet1.xml nests XML elements deeper than 64 levels (maxXmlDepth)',
  ],
  [
    'manyEntries',
    {},
    'XLSX_TOO_MANY_ENTRIES',
    'ZIP archive has 20006 entries; at most 10000 (maxEntries)',
  ],
  [
    'declaredHuge',
    {},
    'XLSX_TOO_LARGE',
    'entry "docProps/huge.xml" declares 3221225472 bytes uncompressed; at most 2147483648 (maxEntryBytes)',
  ],
];

describe('XLSX bombs are refused with their code, in bounded memory and time', () => {
  it('the corpus is small on disk', () => {
    expect(statSync(bombs.threeSheets).size).toBeLessThan(4 * 1024 * 1024);
    expect(statSync(bombs.oneCell).size).toBeLessThan(1024 * 1024);
    expect(statSync(bombs.sharedStrings).size).toBeLessThan(1024 * 1024);
  });

  for (const [name, xlsxLimits, code, message] of CASES) {
    it(`${name} ${JSON.stringify(xlsxLimits)} → ${code}`, async () => {
      const result = await readInChild(bombs[name], { xlsxLimits });
      expect(result, result.message).toMatchObject({ ok: false, code });
      if (message !== undefined) expect(result.message).toMatch(message);
      expect(result.maxRssMB).toBeLessThan(MAX_RSS_MB);
      expect(result.ms).toBeLessThan(MAX_MS);
    });
  }

  it('a bomb arriving as a stream is spooled to tmpDir, refused and removed', async () => {
    const result = await readInChild(bombs.lyingSizes, { stream: true });
    expect(result).toMatchObject({ ok: false, code: 'XLSX_SIZE_MISMATCH' });
    expect(result.maxRssMB).toBeLessThan(MAX_RSS_MB);
  });
});

/** What inspectXlsx says from the central directory alone; the others need their parts read. */
const INSPECT: Partial<Record<BombName, [string, 413 | 422]>> = {
  threeSheets: ['XLSX_COMPRESSION_RATIO', 413],
  oneCell: ['XLSX_COMPRESSION_RATIO', 413],
  sharedStrings: ['XLSX_COMPRESSION_RATIO', 413],
  lyingLocalHeader: ['XLSX_COMPRESSION_RATIO', 413],
  hugeAttribute: ['XLSX_COMPRESSION_RATIO', 413],
  manyEntries: ['XLSX_TOO_MANY_ENTRIES', 413],
  declaredHuge: ['XLSX_TOO_LARGE', 413],
};

describe('inspectXlsx', () => {
  it('refuses from the central directory alone, in milliseconds', async () => {
    for (const name of Object.keys(bombs) as BombName[]) {
      const expected = INSPECT[name];
      const started = performance.now();
      const result = await inspectXlsx(bombs[name]);
      const ms = performance.now() - started;
      if (expected) {
        expect(result, name).toMatchObject({ ok: false, code: expected[0], status: expected[1] });
        expect(result.ok === false && result.message).toMatch(/\(max[A-Za-z]+\)$/);
      } else {
        // Only reading the parts finds these.
        expect(result, name).toEqual({ ok: true });
      }
      expect(ms, name).toBeLessThan(name === 'manyEntries' ? 500 : 200);
    }
  });

  it('answers 422 for what is not an XLSX workbook, and takes limits', async () => {
    const text = join(dir, 'text.xlsx');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(text, 'patient_id,sex\n');
    expect(await inspectXlsx(text)).toMatchObject({ ok: false, code: 'NOT_XLSX', status: 422 });
    const ole = join(dir, 'protected.xlsx');
    writeFileSync(ole, Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1, 0, 0]));
    expect(await inspectXlsx(ole)).toMatchObject({
      ok: false,
      code: 'NOT_XLSX',
      status: 422,
      message: expect.stringMatching(/password-protected/),
    });
    const broken = join(dir, 'broken.xlsx');
    writeFileSync(broken, Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(200, 7)]));
    expect(await inspectXlsx(broken)).toMatchObject({
      ok: false,
      code: 'XLSX_READ',
      status: 422,
    });
    const notExcel = join(dir, 'other.zip.xlsx');
    const { zip } = await import('./zip-writer.js');
    writeFileSync(notExcel, zip([{ name: 'word/document.xml', data: '<w/>' }]));
    expect(await inspectXlsx(notExcel)).toMatchObject({
      ok: false,
      code: 'NOT_XLSX',
      status: 422,
      message: 'file is a ZIP archive without xl/workbook.xml: not an XLSX workbook',
    });
    const good = join(dir, 'good.xlsx');
    writeFileSync(
      good,
      book({ sheets: [{ name: 'A', rows: `<row r="1">${istr('A1', 'x')}</row>` }] }),
    );
    expect(await inspectXlsx(good)).toEqual({ ok: true });
    expect(await inspectXlsx(good, { maxFileBytes: 100 })).toMatchObject({
      ok: false,
      code: 'XLSX_TOO_LARGE',
      status: 413,
      message: expect.stringMatching(/^file is \d+ bytes; at most 100 \(maxFileBytes\)$/),
    });
    expect(await inspectXlsx(good, { maxEntries: 3 })).toMatchObject({
      code: 'XLSX_TOO_MANY_ENTRIES',
    });
    expect(await inspectXlsx(good, { maxTotalBytes: 500 })).toMatchObject({
      code: 'XLSX_TOO_LARGE',
      message: expect.stringMatching(
        /^entries declare \d+ bytes uncompressed in all .*\(maxTotalBytes\)$/,
      ),
    });
    await expect(inspectXlsx(join(dir, 'missing.xlsx'))).rejects.toThrow(/ENOENT/);
  });

  it('rejects unknown and invalid limits at once', async () => {
    const good = join(dir, 'good.xlsx');
    await expect(inspectXlsx(good, { maxEntrys: 3 } as never)).rejects.toThrow(
      /unknown XLSX limit "maxEntrys"; known limits: maxFileBytes, maxEntries/,
    );
    await expect(inspectXlsx(good, { maxEntries: -1 })).rejects.toThrow(
      'glass-standardizer: XLSX limit "maxEntries" must be a positive number (Infinity for none), got -1',
    );
    await expect(
      openRecords(good, { format: 'xlsx', xlsxLimits: { maxCellChars: 0 } }),
    ).rejects.toThrow(/"maxCellChars" must be a positive number/);
  });
});
