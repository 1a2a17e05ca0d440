import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import ExcelJS from 'exceljs';
import JSZip from 'jszip';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DatasetRecord,
  type GlassStorage,
  isolatesCsv,
  openRecords,
  QualityAccumulator,
  qualityIssuesCsv,
} from '../src/index.js';
import { active, collect, entry, type Harness, harness, parseCsv, SAMPLES } from './helpers.js';

const HEADER = 'patient_id,sex,age,specimen_date,specimen_type,organism,AMP,CIP';

let h: Harness;
beforeAll(async () => {
  h = await harness();
});
afterAll(() => h.close());

function file(name: string, content: string | Buffer): string {
  const path = join(h.dir, name);
  writeFileSync(path, content);
  return path;
}

async function expectFileError(d: DatasetRecord, code: string, message: RegExp) {
  expect(d.status).toBe('done');
  expect(d.quality?.blocking).toBe(true);
  expect(entry(d, code)).toMatchObject({ rule: 0, severity: 'ERROR', count: 1 });
  expect(entry(d, code).message).toMatch(message);
  expect(await h.storage.countIsolates(d.id)).toBe(0);
}

describe('bad input files give precise quality errors, never a crash', () => {
  it('empty file', async () => {
    await expectFileError(await h.run(file('empty.csv', '')), 'EMPTY_FILE', /empty/);
    await expectFileError(await h.run(file('blank.csv', '\n\n  \r\n')), 'EMPTY_FILE', /empty/);
    await expectFileError(await h.run(file('bom-only.csv', '\uFEFF')), 'EMPTY_FILE', /empty/);
  });

  it('header only', async () => {
    const d = await h.run(file('header.csv', `${HEADER}\n`));
    await expectFileError(d, 'HEADER_ONLY', /header row but no data rows/);
    expect(d.antibiotics).toEqual(['AMP', 'CIP']);
  });

  it('wrong delimiter (;) is detected, reported and parsed', async () => {
    const text = readFileSync(join(SAMPLES, 'lab_a_2024.csv'), 'utf8').replaceAll(',', ';');
    const d = await h.run(file('semicolon.csv', text));
    expect(entry(d, 'DELIMITER')).toMatchObject({ rule: 0, severity: 'WARN', values: [';'] });
    expect(d.counts?.isolates).toBe(205);
    expect(d.quality?.blocking).toBe(false);
  });

  it('UTF-8 byte-order mark is removed before the header is matched', async () => {
    const bytes = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      readFileSync(join(SAMPLES, 'lab_b_2024.csv')),
    ]);
    const d = await h.run(file('bom.csv', bytes));
    expect(entry(d, 'BOM').severity).toBe('INFO');
    expect(entry(d, 'REQUIRED_COLUMNS').count).toBe(0);
    expect(d.counts?.isolates).toBe(161);
  });

  it('Latin-1 text is detected and decoded; declared UTF-8 is refused', async () => {
    const text = `${HEADER},ward\nP1,F,30,2024-03-01,blood,Escherichia coli,S,R,Hôpital Général\n`;
    const latin1 = Buffer.from(text, 'latin1');
    const d = await h.run(file('latin1.csv', latin1));
    expect(entry(d, 'ENCODING_LATIN1')).toMatchObject({ severity: 'WARN', count: 1 });
    const isolates = [];
    for await (const i of h.storage.iterateIsolates(d.id)) isolates.push(i);
    expect(isolates[0]?.ward).toBe('Hôpital Général');
    const strict = await h.run(file('latin1-strict.csv', latin1), { encoding: 'utf-8' });
    await expectFileError(strict, 'INVALID_UTF8', /not valid UTF-8/);
    const declared = await h.run(file('latin1-declared.csv', latin1), { encoding: 'latin1' });
    expect(active(declared)).not.toContain('ENCODING_LATIN1');
    expect(declared.counts?.isolates).toBe(1);
  });

  it('invalid UTF-8 after the sniffed prefix stops the dataset with nothing stored', async () => {
    const rows = Array.from({ length: 2000 }, (_, i) => `P${i},F,30,2024-03-01,blood,eco,S,R`).join(
      '\n',
    );
    const bytes = Buffer.concat([
      Buffer.from(`${HEADER}\n${rows}\n`),
      Buffer.from([0x50, 0x39, 0xff, 0xfe, 0x0a]),
    ]);
    expect(bytes.length).toBeGreaterThan(64 * 1024);
    const d = await h.run(file('late-invalid.csv', bytes), { options: { batchSize: 100 } });
    await expectFileError(d, 'INVALID_UTF8', /invalid UTF-8 after byte/);
  });

  it('UTF-16 with a byte-order mark (Excel "Unicode text") is read like its UTF-8 twin', async () => {
    const text = `${HEADER.replaceAll(',', '\t')}\r\nP1\tF\t30\t2024-03-01\tblood\teco\tS\tR\r\n`;
    for (const bytes of [
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]),
      Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(text, 'utf16le').swap16()]),
    ]) {
      const d = await h.run(file('utf16.csv', bytes));
      const twin = await h.run(file('utf8.csv', text));
      expect(d.status).toBe('done');
      expect(d.counts?.isolates).toBe(1);
      expect(active(d)).toContain('ENCODING_UTF16');
      expect(d.counts).toEqual({ ...twin.counts, bytesRead: d.counts?.bytesRead });
    }
  });

  it('UTF-16 without a byte-order mark is refused with a message that says what it is', async () => {
    const d = await h.run(file('utf16-nobom.csv', Buffer.from(`${HEADER}\n`, 'utf16le')));
    await expectFileError(d, 'UNSUPPORTED_ENCODING', /UTF-16/);
  });

  it('quoted newlines stay inside their cell', async () => {
    const text = `${HEADER},comment\nP1,F,30,2024-03-01,blood,eco,S,R,"two\nlines, and a comma"\nP2,M,40,2024-03-02,urine,kpn,,S,plain\n`;
    const d = await h.run(file('quoted.csv', text));
    expect(d.counts?.isolates).toBe(2);
    expect(active(d)).not.toContain('COLUMN_COUNT');
    expect(entry(d, 'UNMAPPED_HEADERS').values).toEqual(['comment']);
    const csv = parseCsv(await collect(isolatesCsv(h.storage, d)));
    // Rows are records as a spreadsheet shows them (header = 1), not text lines.
    expect(csv.map((r) => r[1])).toEqual(['source_row', '2', '3']);
  });

  it('10,000 columns', async () => {
    const header = [HEADER, ...Array.from({ length: 10_000 - 8 }, (_, i) => `extra${i}`)].join(',');
    const d = await h.run(file('wide.csv', `${header}\nP1,F,30,2024-03-01,blood,eco,S,R\n`));
    await expectFileError(d, 'TOO_MANY_COLUMNS', /10000 columns; at most 1000/);
  });

  it('a 1 MB cell makes its row an ERROR; the other rows are processed', async () => {
    const big = 'x'.repeat(1024 * 1024);
    const text = `${HEADER}\nP1,F,30,2024-03-01,blood,eco,S,R\nP2,F,30,2024-03-01,blood,"${big}",S,R\nP3,M,50,2024-03-03,urine,eco,R,R\n`;
    const d = await h.run(file('bigcell.csv', text));
    expect(entry(d, 'CELL_TOO_LARGE')).toMatchObject({
      severity: 'ERROR',
      count: 1,
      rows: [3],
      values: ['organism: 1048576 characters'],
    });
    expect(d.counts).toMatchObject({ isolates: 2, skippedRows: 1 });
    expect(d.quality?.blocking).toBe(true);
  });

  it('an unclosed quote is a CSV parse error', async () => {
    const d = await h.run(
      file(
        'unclosed.csv',
        `${HEADER}\nP1,F,30,2024-03-01,blood,"eco,S,R\nP2,F,30,2024-03-01,blood,eco,S,R\n`,
      ),
    );
    await expectFileError(d, 'CSV_PARSE', /could not be parsed/);
  });

  it('renamed files: binary as CSV, CSV as XLSX, XLSX as CSV, broken ZIP', async () => {
    const png = Buffer.from([
      0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52,
    ]);
    await expectFileError(await h.run(file('image.csv', png)), 'BINARY_FILE', /NUL bytes/);
    await expectFileError(
      await h.run(file('text.xlsx', `${HEADER}\n`), { format: 'xlsx' }),
      'NOT_XLSX',
      /no ZIP signature/,
    );
    const zip = Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), Buffer.alloc(200, 7)]);
    await expectFileError(await h.run(file('zip.csv', zip)), 'NOT_CSV', /ZIP archive/);
    await expectFileError(
      await h.run(file('broken.xlsx', zip), { format: 'xlsx' }),
      'XLSX_READ',
      /could not be read/,
    );
  });

  it('missing required columns and no antibiotic column', async () => {
    const d = await h.run(file('cols.csv', 'patient,organism,notes\nP1,eco,x\n'));
    expect(entry(d, 'REQUIRED_COLUMNS')).toMatchObject({ rule: 1, severity: 'ERROR' });
    expect(entry(d, 'REQUIRED_COLUMNS').values).toEqual([
      'specimen_date',
      'specimen_type',
      '(antibiotics)',
    ]);
    expect(entry(d, 'UNMAPPED_HEADERS').values).toEqual(['notes']);
    expect(d.counts?.isolates).toBe(0);
    // Both findings keep their own text: the entry reads as the rule, its messages as found.
    expect(entry(d, 'REQUIRED_COLUMNS')).toMatchObject({
      message: expect.stringMatching(/^required columns \(patient_id/),
      count: 3,
      rows: [1, 1, 1],
      messages: [
        {
          message: 'required column missing: specimen_date, specimen_type',
          count: 2,
          rows: [1, 1],
        },
        { message: 'no antibiotic column recognised', count: 1, rows: [1] },
      ],
    });
    const issues = [...qualityIssuesCsv(d)].join('').split('\n');
    expect(issues.filter((l) => l.includes('REQUIRED_COLUMNS'))).toEqual([
      '1,1,ERROR,REQUIRED_COLUMNS,"required column missing: specimen_date, specimen_type",3',
      '1,1,ERROR,REQUIRED_COLUMNS,"required column missing: specimen_date, specimen_type",3',
      '1,1,ERROR,REQUIRED_COLUMNS,no antibiotic column recognised,3',
    ]);
  });

  it('a rule found with several texts keeps each, with its count and rows', async () => {
    // Both date columns are decided day-first from row 2; row 4 contradicts each of them.
    const text = [
      'patient_id,specimen_date,date of admission,specimen_type,organism,AMP',
      'P1,13/01/2024,13/01/2024,blood,eco,S',
      'P2,02/01/2024,02/01/2024,blood,eco,S',
      'P3,01/14/2024,01/14/2024,blood,eco,S',
    ].join('\n');
    const d = await h.run(file('contradicted.csv', `${text}\n`), {
      options: { lookaheadRows: 1 },
    });
    const contradicted = entry(d, 'DATE_ORDER_CONTRADICTED');
    expect(contradicted).toMatchObject({ rule: 3, severity: 'WARN', count: 2, rows: [4, 4] });
    expect(contradicted.messages.map((m) => [m.message, m.count, m.rows])).toEqual([
      [
        'the specimen_date column was read as DMY from the first 1 rows, but a later row is only valid as MDY',
        1,
        [4],
      ],
      [
        'the admission_date column was read as DMY from the first 1 rows, but a later row is only valid as MDY',
        1,
        [4],
      ],
    ]);
    const issues = [...qualityIssuesCsv(d)].join('');
    expect(issues).toContain('the specimen_date column was read as DMY');
    expect(issues).toContain('the admission_date column was read as DMY');
  });

  it('more than 20 distinct texts: the rest are counted together, none is lost', () => {
    const q = new QualityAccumulator();
    for (let i = 1; i <= 25; i++) q.addFile('XLSX_READ', 'ERROR', `problem ${i}`, i + 1);
    q.addFile('XLSX_READ', 'ERROR', 'problem 3', 30);
    const e = q.report({}).entries.find((x) => x.code === 'XLSX_READ');
    expect(e?.count).toBe(26);
    expect(e?.messages).toHaveLength(21);
    expect(e?.messages[2]).toEqual({ message: 'problem 3', count: 2, rows: [4, 30] });
    expect(e?.messages[20]).toEqual({
      message: 'other messages (more than 20 distinct)',
      count: 5,
      rows: [22, 23, 24, 25, 26],
    });
    expect(e?.messages.reduce((n, m) => n + m.count, 0)).toBe(e?.count);
  });

  it('ragged rows are reported', async () => {
    const d = await h.run(file('ragged.csv', `${HEADER}\nP1,F,30,2024-03-01,blood,eco,S\n`));
    expect(entry(d, 'COLUMN_COUNT')).toMatchObject({ severity: 'WARN', rows: [2], values: ['7'] });
    expect(d.counts?.isolates).toBe(1);
  });
});

describe('XLSX', () => {
  it('reads the first sheet, uses formula results, reports the other sheets', async () => {
    const wb = new ExcelJS.Workbook();
    const ws = wb.addWorksheet('Isolates');
    ws.addRow([
      'Patient',
      'Sex',
      'Age',
      'Specimen date',
      'Specimen type',
      'Organism',
      'AMP_ND10',
      'CIP',
    ]);
    ws.addRow([
      'P1',
      'f',
      { formula: '20+10', result: 30 },
      new Date(Date.UTC(2024, 2, 1)),
      'Blood',
      'E. coli',
      'R',
      'S',
    ]);
    ws.addRow(['P2', 'm', 45, 45352, 'urine', 'kpn', '', 'R']); // Excel serial 45352 = 2024-03-01
    wb.addWorksheet('Notes').addRow(['not data']);
    wb.addWorksheet('Lookup').addRow(['x', 'y']);
    const path = join(h.dir, 'book.xlsx');
    await wb.xlsx.writeFile(path);
    const d = await h.run(path, { format: 'xlsx' });
    expect(d.status).toBe('done');
    expect(d.counts?.isolates).toBe(2);
    // Every other sheet is named (before, only the first value of a reader's notice was kept).
    expect(entry(d, 'XLSX_SHEETS')).toMatchObject({
      severity: 'INFO',
      values: ['Notes', 'Lookup'],
    });
    expect(entry(d, 'XLSX_SHEETS').message).toMatch(/3 sheets; only the first/);
    expect(entry(d, 'XLSX_FORMULAS').message).toMatch(/^1 formula cells/);
    const isolates = [];
    for await (const i of h.storage.iterateIsolates(d.id)) isolates.push(i);
    expect(isolates.map((i) => [i.ageYears, i.specimenDate, i.pathogen, i.results])).toEqual([
      [30, '2024-03-01', 'ESCCOL', { AMP: 'R', CIP: 'S' }],
      [45, '2024-03-01', 'KLEPNE', { CIP: 'R' }],
    ]);
  });
  it('reads every part of the workbook when the reader is slower than the unzipper', async () => {
    // Parts ordered so the small first sheet is followed only by other sheets: the unzipper
    // reaches the end of the file while the rows of sheet 1 are still being consumed. Before
    // the fix in io/input.ts the zip stream ended early there and sheets 2 and 3 were never seen.
    const wb = new ExcelJS.Workbook();
    const ws = wb.addWorksheet('Isolates');
    ws.addRow(HEADER.split(','));
    for (let i = 0; i < 20; i++)
      ws.addRow([`P${i}`, 'F', 30, '2024-03-01', 'blood', 'eco', 'S', 'R']);
    wb.addWorksheet('Notes').addRow(['not data']);
    wb.addWorksheet('Lookup').addRow(['x', 'y']);
    const written = await JSZip.loadAsync(Buffer.from(await wb.xlsx.writeBuffer()));
    const parts = Object.values(written.files).filter((f) => !f.dir);
    const isSheet = (f: JSZip.JSZipObject) => f.name.startsWith('xl/worksheets/');
    const sheetsLast = [...parts.filter((f) => !isSheet(f)), ...parts.filter(isSheet)];
    expect(sheetsLast.at(-3)?.name).toBe('xl/worksheets/sheet1.xml');
    const reordered = new JSZip();
    for (const f of sheetsLast) reordered.file(f.name, await f.async('nodebuffer'));
    const path = file(
      'sheets-last.xlsx',
      await reordered.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' }),
    );

    const reader = await openRecords(path, { format: 'xlsx' });
    let rows = 0;
    for await (const _ of reader.records) {
      rows++;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(rows).toBe(21);
    expect(reader.notices).toEqual([
      expect.objectContaining({ code: 'XLSX_SHEETS', values: ['Notes', 'Lookup'] }),
    ]);
  });
});

describe('dates, values and origin', () => {
  const rows = (dates: string[]) =>
    `${HEADER}\n${dates.map((dt, i) => `P${i},F,30,${dt},blood,eco,S,R`).join('\n')}\n`;

  async function dates(d: DatasetRecord): Promise<(string | null)[]> {
    const out: (string | null)[] = [];
    for await (const i of h.storage.iterateIsolates(d.id)) out.push(i.specimenDate);
    return out;
  }

  it('decides day-first from a first part > 12 anywhere in the column', async () => {
    const d = await h.run(file('dmy.csv', rows(['03/04/2024', '25/04/2024'])));
    expect(await dates(d)).toEqual(['2024-04-03', '2024-04-25']);
    expect(entry(d, 'DATE_AMBIGUOUS').count).toBe(0);
  });

  it('decides month-first from a second part > 12', async () => {
    const d = await h.run(file('mdy.csv', rows(['03/04/2024', '04/25/2024'])));
    expect(await dates(d)).toEqual(['2024-03-04', '2024-04-25']);
  });

  it('an ambiguous column uses the declared format, else warns and reads day-first', async () => {
    const text = rows(['03/04/2024', '05/06/2024']);
    const declared = await h.run(file('amb1.csv', text), { dateFormat: 'MDY' });
    expect(await dates(declared)).toEqual(['2024-03-04', '2024-05-06']);
    expect(entry(declared, 'DATE_AMBIGUOUS').count).toBe(0);
    const guessed = await h.run(file('amb2.csv', text));
    expect(await dates(guessed)).toEqual(['2024-04-03', '2024-06-05']);
    expect(entry(guessed, 'DATE_AMBIGUOUS')).toMatchObject({
      rule: 3,
      severity: 'WARN',
      values: ['specimen_date'],
    });
  });

  it('accepts ISO, dd-Mon-yy and Excel serials; rejects unreadable, future and pre-1990 dates per row', async () => {
    const d = await h.run(
      file(
        'dates.csv',
        rows(['2024-03-01', '01-Mar-24', '45352', 'yesterday', '2031-01-01', '1989-12-31', '']),
      ),
    );
    expect(await dates(d)).toEqual([
      '2024-03-01',
      '2024-03-01',
      '2024-03-01',
      null,
      null,
      null,
      null,
    ]);
    expect(entry(d, 'DATE_INVALID')).toMatchObject({
      severity: 'ERROR',
      count: 2,
      rows: [5, 8],
      values: ['yesterday', ''],
    });
    expect(entry(d, 'DATE_FUTURE')).toMatchObject({ count: 1, rows: [6] });
    expect(entry(d, 'DATE_BEFORE_1990')).toMatchObject({ count: 1, rows: [7] });
    expect(d.quality?.blocking).toBe(true);
  });

  it('reads 1/2/3 as S/I/R only when the whole column uses nothing else', async () => {
    const text = `${HEADER}\nP1,F,30,2024-03-01,blood,eco,1,2\nP2,F,30,2024-03-02,blood,eco,3,S\nP3,F,30,2024-03-03,blood,eco,2,\n`;
    const d = await h.run(file('digits.csv', text));
    const results = [];
    for await (const i of h.storage.iterateIsolates(d.id)) results.push(i.results);
    expect(results).toEqual([
      { AMP: 'S', CIP: 'NO_BREAKPOINT' },
      { AMP: 'R', CIP: 'S' },
      { AMP: 'I' },
    ]);
  });

  it('derives origin from the admission date with a configurable threshold and flags admission after specimen', async () => {
    const text = `patient_id,specimen_date,date_admis,specimen_type,organism,AMP\nP1,2024-03-10,2024-03-07,blood,eco,S\nP2,2024-03-10,2024-03-08,blood,eco,S\nP3,2024-03-10,2024-03-12,blood,eco,S\n`;
    const d = await h.run(file('origin.csv', text));
    const origins = [];
    for await (const i of h.storage.iterateIsolates(d.id)) origins.push(i.origin);
    expect(origins).toEqual(['HO', 'CO', 'UNK']);
    expect(entry(d, 'ADMISSION_AFTER_SPECIMEN')).toMatchObject({ rule: 4, rows: [4] });
    const lenient = await h.run(file('origin2.csv', text), { options: { originHospitalDays: 3 } });
    const again = [];
    for await (const i of h.storage.iterateIsolates(lenient.id)) again.push(i.origin);
    expect(again).toEqual(['CO', 'CO', 'UNK']);
  });

  it('flags ages outside 0–120, unreadable ages and placeholder patients', async () => {
    const text = `${HEADER}\n0,F,130,2024-03-01,blood,eco,S,R\nunknown,F,abc,2024-03-01,blood,eco,S,R\nP3,F,6m,2024-03-01,blood,eco,S,R\n`;
    const d = await h.run(file('age.csv', text));
    expect(entry(d, 'AGE_INVALID')).toMatchObject({ rows: [2, 3], values: ['130', 'abc'] });
    expect(entry(d, 'PATIENT_PLACEHOLDER')).toMatchObject({
      rows: [2, 3],
      values: ['0', 'unknown'],
    });
    expect(d.counts?.firstIsolatesGlass).toBe(1);
  });
});

describe('outputs and failures', () => {
  it('isolates.csv is safe against CSV injection', async () => {
    const text = `${HEADER}\n"=HYPERLINK(""http://x"")",F,30,2024-03-01,blood,"@SUM(A1)",S,R\n+P2,F,30,2024-03-01,blood,-eco,S,R\n`;
    const d = await h.run(file('inject.csv', text));
    const out = await collect(isolatesCsv(h.storage, d));
    const csv = parseCsv(out);
    expect(csv[1]?.[2]).toBe(`'=HYPERLINK("http://x")`);
    expect(csv[1]?.[9]).toBe(`'@SUM(A1)`);
    expect(csv[2]?.[2]).toBe(`'+P2`);
    expect(csv[2]?.[9]).toBe(`'-eco`);
    expect(out).not.toMatch(/(^|,)[=+\-@]/m);
  });

  it('an abort marks the dataset interrupted and stores nothing', async () => {
    const controller = new AbortController();
    const rows = Array.from({ length: 5000 }, (_, i) => `P${i},F,30,2024-03-01,blood,eco,S,R`).join(
      '\n',
    );
    const d0 = await h.storage.createDataset({
      country: 'KEN',
      year: 2024,
      batchId: 'B',
      format: 'csv',
    });
    const { processDataset } = await import('../src/index.js');
    let batches = 0;
    const storage: GlassStorage = {
      ...h.storage,
      kind: h.storage.kind,
      async insertIsolates(id, items) {
        await h.storage.insertIsolates(id, items);
        if (++batches === 2) controller.abort();
      },
    };
    const d = await processDataset(
      { datasetId: d0.id, input: Readable.from([`${HEADER}\n${rows}\n`]) },
      storage,
      { batchSize: 500 },
      { signal: controller.signal },
    );
    expect(d.status).toBe('interrupted');
    expect(await h.storage.countIsolates(d.id)).toBe(0);
  });

  it('a storage failure marks the dataset failed with the reason, nothing half-written', async () => {
    const d0 = await h.storage.createDataset({
      country: 'KEN',
      year: 2024,
      batchId: 'B',
      format: 'csv',
    });
    const { processDataset } = await import('../src/index.js');
    let batches = 0;
    const storage: GlassStorage = {
      ...h.storage,
      kind: h.storage.kind,
      async insertIsolates(id, items) {
        if (++batches === 3) throw new Error('disk full');
        await h.storage.insertIsolates(id, items);
      },
    };
    const rows = Array.from({ length: 50 }, (_, i) => `P${i},F,30,2024-03-01,blood,eco,S,R`).join(
      '\n',
    );
    const d = await processDataset(
      { datasetId: d0.id, input: Readable.from([`${HEADER}\n${rows}\n`]) },
      storage,
      {
        batchSize: 10,
      },
    );
    expect(d).toMatchObject({ status: 'failed', error: 'disk full' });
    expect(await h.storage.countIsolates(d.id)).toBe(0);
    expect(active(d)).toEqual([]);
  });

  it('rejects bad options and unknown datasets with clear messages', async () => {
    const { processDataset } = await import('../src/index.js');
    await expect(processDataset({ datasetId: 'nope', input: 'x' }, h.storage)).rejects.toThrow(
      /dataset "nope" does not exist/,
    );
    const d = await h.storage.createDataset({
      country: 'Kenya',
      year: 2024,
      batchId: 'B',
      format: 'csv',
    });
    await expect(processDataset({ datasetId: d.id, input: 'x' }, h.storage)).rejects.toThrow(
      /dataset "country" must be an ISO 3166 alpha-3 code such as KEN, got "Kenya"/,
    );
    const ok = await h.storage.createDataset({
      country: 'KEN',
      year: 2024,
      batchId: 'B',
      format: 'csv',
    });
    await expect(
      processDataset({ datasetId: ok.id, input: 'x' }, h.storage, { episodeDays: -1 }),
    ).rejects.toThrow(/option "episodeDays" must be an integer >= 1, got -1/);
    const typo = { episodeDay: 30 } as unknown as Parameters<typeof processDataset>[2];
    await expect(processDataset({ datasetId: ok.id, input: 'x' }, h.storage, typo)).rejects.toThrow(
      /unknown option "episodeDay"; known options: episodeDays, originHospitalDays/,
    );
    await expect(
      processDataset({ datasetId: ok.id, input: 'x' }, h.storage, { now: new Date('nope') }),
    ).rejects.toThrow(/option "now" must be a valid Date/);
  });
});
