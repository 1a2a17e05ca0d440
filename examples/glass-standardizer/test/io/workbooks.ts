// Workbooks for the XLSX reader tests: written by exceljs, or part by part as XML.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ExcelJS from 'exceljs';
import JSZip from 'jszip';
import type { Deflated, ZipPart } from './zip-writer.js';
import { zip } from './zip-writer.js';

const MAIN = 'http://schemas.openxmlformats.org/spreadsheetml/2006/main';
const RELS = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';
const PKG = 'http://schemas.openxmlformats.org/package/2006/relationships';
const XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n';

export interface SheetSpec {
  readonly name: string;
  /** N of its part xl/worksheets/sheetN.xml; the zip holds parts in N order. @default position + 1 */
  readonly file?: number;
  /** The sheetData's inner XML… */
  readonly rows?: string;
  /** …or the whole sheet part, already deflated (bombs). */
  readonly raw?: Deflated;
  readonly central?: ZipPart['central'];
  readonly local?: ZipPart['local'];
}

export interface BookSpec {
  readonly sheets: readonly SheetSpec[];
  /** Inner XML of <sst>, or a whole deflated part. */
  readonly sharedStrings?: string | Deflated;
  readonly sstAttributes?: string;
  /** Inner XML of <styleSheet> (numFmts, cellXfs). */
  readonly styles?: string;
  readonly workbookPr?: string;
  /** Part order in the zip; Excel writes the sheets before styles and shared strings. */
  readonly order?: 'excel' | 'sheets-last';
  /** Replaces the default prefixes of the main and relationships namespaces. */
  readonly prefix?: string;
}

export const sheetXml = (rows: string, p = '') =>
  `${XML}<${p}worksheet xmlns${p ? `:${p.slice(0, -1)}` : ''}="${MAIN}" xmlns:r="${RELS}"><${p}sheetData>${rows}</${p}sheetData></${p}worksheet>`;

export function bookParts(spec: BookSpec): ZipPart[] {
  const p = spec.prefix ?? '';
  const n = spec.sheets.length;
  const rel = (id: string, type: string, target: string) =>
    `<Relationship Id="${id}" Type="${RELS}/${type}" Target="${target}"/>`;
  const workbook: ZipPart = {
    name: 'xl/workbook.xml',
    data: `${XML}<${p}workbook xmlns${p ? `:${p.slice(0, -1)}` : ''}="${MAIN}" xmlns:r="${RELS}"><${p}workbookPr ${spec.workbookPr ?? ''}/><${p}sheets>${spec.sheets
      .map((s, i) => `<${p}sheet name="${s.name}" sheetId="${i + 1}" r:id="rId${i + 1}"/>`)
      .join('')}</${p}sheets></${p}workbook>`,
  };
  const rels: ZipPart = {
    name: 'xl/_rels/workbook.xml.rels',
    data: `${XML}<Relationships xmlns="${PKG}">${spec.sheets
      .map((s, i) => rel(`rId${i + 1}`, 'worksheet', `worksheets/sheet${s.file ?? i + 1}.xml`))
      .join('')}${rel(`rId${n + 1}`, 'styles', 'styles.xml')}${
      spec.sharedStrings === undefined
        ? ''
        : rel(`rId${n + 2}`, 'sharedStrings', 'sharedStrings.xml')
    }</Relationships>`,
  };
  const files = spec.sheets.map((s, i) => ({ s, n: s.file ?? i + 1 })).sort((a, b) => a.n - b.n);
  const sheets: ZipPart[] = files.map(({ s, n }) => ({
    name: `xl/worksheets/sheet${n}.xml`,
    ...(s.raw ? { raw: s.raw } : { data: sheetXml(s.rows ?? '', p) }),
    ...(s.central ? { central: s.central } : {}),
    ...(s.local ? { local: s.local } : {}),
  }));
  const styles: ZipPart = {
    name: 'xl/styles.xml',
    data: `${XML}<styleSheet xmlns="${MAIN}">${spec.styles ?? '<cellXfs count="1"><xf numFmtId="0"/></cellXfs>'}</styleSheet>`,
  };
  const shared: ZipPart[] =
    spec.sharedStrings === undefined
      ? []
      : [
          typeof spec.sharedStrings === 'string'
            ? {
                name: 'xl/sharedStrings.xml',
                data: `${XML}<sst xmlns="${MAIN}" ${spec.sstAttributes ?? ''}>${spec.sharedStrings}</sst>`,
              }
            : { name: 'xl/sharedStrings.xml', raw: spec.sharedStrings },
        ];
  const head: ZipPart[] = [
    {
      name: '[Content_Types].xml',
      data: `${XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/></Types>`,
    },
    {
      name: '_rels/.rels',
      data: `${XML}<Relationships xmlns="${PKG}">${rel('rId1', 'officeDocument', 'xl/workbook.xml')}</Relationships>`,
    },
  ];
  return spec.order === 'sheets-last'
    ? [...head, workbook, rels, styles, ...shared, ...sheets]
    : [...head, workbook, rels, ...sheets, styles, ...shared];
}

export const book = (spec: BookSpec): Buffer => zip(bookParts(spec));

/** Inline string cell. */
export const istr = (ref: string, text: string) =>
  `<c r="${ref}" t="inlineStr"><is><t>${text}</t></is></c>`;

// ---------------------------------------------------------------------------------------------
// Valid workbooks whose reading is compared with the exceljs-based reader's

export const HEADER = [
  'patient_id',
  'sex',
  'age',
  'specimen_date',
  'specimen_type',
  'organism',
  'AMP',
  'CIP',
  'comment',
];

/** A workbook as exceljs writes it (sheets before workbook.xml), with most kinds of cell. */
export async function exceljsBook(options: { date1904?: boolean } = {}): Promise<Buffer> {
  const wb = new ExcelJS.Workbook();
  if (options.date1904) wb.properties.date1904 = true;
  const ws = wb.addWorksheet('Isolates');
  ws.addRow(HEADER);
  ws.addRow([
    'P1',
    'F',
    { formula: '20+10', result: 30 },
    new Date(Date.UTC(2024, 2, 1)),
    'Blood',
    'Escherichia coli',
    'R',
    'S',
    'Hôpital Général & <ICU> "east"',
  ]);
  ws.addRow([
    'P2',
    'm',
    45.5,
    new Date(Date.UTC(2023, 11, 31, 18, 30)),
    'urine',
    { richText: [{ text: 'Klebsiella ' }, { font: { italic: true }, text: 'pneumoniae' }] },
    '',
    'R',
    '  leading and trailing  ',
  ]);
  ws.addRow([]);
  ws.addRow(['', ' ', '']);
  ws.addRow(['P3', 'F', 0.1, 45352, 'blood', '大肠埃希菌 🦠', true, false, { error: '#N/A' }]);
  ws.getRow(8).getCell(1).value = 'P4';
  ws.getRow(8).getCell(6).value = 'sparse';
  ws.getRow(9).values = [
    'P5',
    'M',
    1e-7,
    { formula: 'TEXT(1,"0")', result: 'one' },
    'line\nbreak',
    12345678901234,
    -3.25,
    { text: 'link', hyperlink: 'https://example.org' },
  ];
  const dated = ws.getRow(10);
  dated.values = ['P6', 'F', 40, 45000.75, 'blood', 'eco', 'S', 'S', 0.25];
  dated.getCell(4).numFmt = 'dd/mm/yyyy';
  dated.getCell(9).numFmt = '0.00%';
  dated.getCell(3).numFmt = '0.00';
  ws.getRow(11).getCell(12).value = 'far right';
  wb.addWorksheet('Notes').addRow(['not data']);
  wb.addWorksheet('Lookup').addRow(['x', 'y']);
  return Buffer.from(await wb.xlsx.writeBuffer());
}

/** The same parts, reordered as Excel writes them: workbook.xml first, shared strings last. */
export async function excelOrder(buffer: Buffer): Promise<Buffer> {
  const source = await JSZip.loadAsync(buffer);
  const files = Object.values(source.files).filter((f) => !f.dir);
  const rank = (name: string) =>
    name === '[Content_Types].xml'
      ? 0
      : name === '_rels/.rels'
        ? 1
        : name === 'xl/workbook.xml'
          ? 2
          : name === 'xl/_rels/workbook.xml.rels'
            ? 3
            : name.startsWith('xl/worksheets/')
              ? 4
              : name === 'xl/sharedStrings.xml'
                ? 7
                : name === 'xl/styles.xml'
                  ? 6
                  : 5;
  files.sort((a, b) => rank(a.name) - rank(b.name));
  const parts: ZipPart[] = [];
  for (const f of files) parts.push({ name: f.name, data: await f.async('nodebuffer') });
  return zip(parts);
}

/** exceljs's streaming writer without shared strings: strings are t="str" cells. */
export async function streamWriterBook(): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'glass-wb-'));
  try {
    const filename = join(dir, 'stream.xlsx');
    const wb = new ExcelJS.stream.xlsx.WorkbookWriter({
      filename,
      useSharedStrings: false,
      useStyles: true,
    });
    const ws = wb.addWorksheet('Data');
    ws.addRow(HEADER).commit();
    for (let i = 0; i < 300; i++) {
      ws.addRow([
        `P${i}`,
        i % 2 ? 'F' : 'M',
        i % 90,
        new Date(Date.UTC(2024, i % 12, 1 + (i % 28))),
        'blood',
        i % 3 ? 'Escherichia coli' : 'Staphylococcus aureus',
        'R',
        i % 5 ? 'S' : 'I',
        `note ${i} & more`,
      ]).commit();
    }
    await wb.commit();
    return readFileSync(filename);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const STYLES = [
  '<numFmts count="3">',
  '<numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd"/>',
  '<numFmt numFmtId="165" formatCode="0.0&quot; days&quot;"/>',
  '<numFmt numFmtId="166" formatCode="[$-409]d\\ mmm\\ yyyy;@"/>',
  '</numFmts>',
  '<cellStyleXfs count="1"><xf numFmtId="14"/></cellStyleXfs>',
  '<cellXfs count="8">',
  '<xf numFmtId="0"/>', // 0 General
  '<xf numFmtId="14" applyNumberFormat="1"/>', // 1 built-in date
  '<xf numFmtId="164" applyNumberFormat="1"/>', // 2 custom date
  '<xf numFmtId="165" applyNumberFormat="1"/>', // 3 quoted "days" is not a date
  '<xf numFmtId="9"/>', // 4 percent
  '<xf numFmtId="20"/>', // 5 h:mm (exceljs: a date)
  '<xf numFmtId="166"/>', // 6 locale date
  '<xf numFmtId="49"/>', // 7 text
  '</cellXfs>',
  // a differential format's numFmt is not the cell format's
  '<dxfs count="1"><dxf><numFmt numFmtId="165" formatCode="yyyy"/></dxf></dxfs>',
].join('');

const SST = [
  '<si><t>P1</t></si>', // 0
  '<si><t xml:space="preserve">  spaced  </t></si>', // 1
  '<si><r><t>Esch</t></r><r><rPr><b/></rPr><t>erichia </t></r><r><t>coli</t></r></si>', // 2
  '<si><t/></si>', // 3 empty: no value
  '<si><t>a &amp; b &lt;c&gt;</t></si>', // 4
  '<si><t>Ünïcödé 漢字</t></si>', // 5
].join('');

/** Hand-written parts with cells exceljs does not write itself; read the same by both readers. */
export function handmadeBook(order: BookSpec['order'] = 'excel'): Buffer {
  const rows = [
    `<row r="1">${HEADER.map((h, i) => istr(`${String.fromCharCode(65 + i)}1`, h)).join('')}</row>`,
    // shared strings, inline string, numbers, booleans, error
    '<row r="2"><c r="A2" t="s"><v>0</v></c><c r="B2" t="inlineStr"><is><t>F</t></is></c><c r="C2"><v>42</v></c><c r="D2" s="1"><v>45352</v></c><c r="E2" t="s"><v>1</v></c><c r="F2" t="s"><v>2</v></c><c r="G2" t="b"><v>1</v></c><c r="H2" t="b"><v>0</v></c><c r="I2" t="e"><v>#VALUE!</v></c></row>',
    // formulas with cached results, shared formulas, a formula without a result
    '<row r="3"><c r="A3" t="str"><f>"P"&amp;"3"</f><v>P3</v></c><c r="B3" t="s"><v>5</v></c><c r="C3"><f>A1+1</f><v>2.5</v></c><c r="D3" s="2"><v>45000</v></c><c r="E3"><f t="shared" ref="E3:E4" si="0">C3*2</f><v>5</v></c><c r="F3" t="s"><v>4</v></c><c r="G3"><f>NOW()</f></c></row>',
    '<row r="4"><c r="A4" t="str"><v>P4</v></c><c r="E4"><f t="shared" si="0"/><v>7</v></c><c r="D4" s="3"><v>12.5</v></c><c r="C4" s="4"><v>0.375</v></c></row>',
    // gaps and a trailing styled cell without a value
    '<row r="6"><c r="B6" t="inlineStr"><is><t>gap before</t></is></c><c r="E6"><v>1.5E-3</v></c><c r="H6" s="1"/></row>',
    // only empty shared strings and styled cells: an empty row, skipped
    '<row r="7"><c r="A7" t="s"><v>3</v></c><c r="B7" s="1"/></row>',
    // time format, locale date, text format, out-of-range shared string
    '<row r="9"><c r="A9" s="5"><v>0.5</v></c><c r="B9" s="6"><v>45352</v></c><c r="C9" s="7"><v>123</v></c><c r="D9" t="s"><v>99</v></c><c r="E9" t="s"><v>3</v></c></row>',
    // a row after a gap in row numbers, numbers as Excel writes them
    '<row r="20"><c r="A20"><v>-0</v></c><c r="B20"><v>1.0000000000000002</v></c><c r="C20"><v>9.9999999999999995E+21</v></c><c r="D20"><v>007</v></c></row>',
  ].join('');
  return book({
    sheets: [
      { name: 'Isolates', rows },
      { name: 'Second', rows: '<row r="1"><c r="A1"><v>1</v></c></row>' },
    ],
    sharedStrings: SST,
    sstAttributes: 'count="9" uniqueCount="6"',
    styles: STYLES,
    order,
  });
}

/** A workbook in the 1904 date system, written by hand. */
export function book1904(): Buffer {
  return book({
    sheets: [
      {
        name: 'Mac',
        rows: `<row r="1">${istr('A1', 'specimen_date')}${istr('B1', 'n')}</row><row r="2"><c r="A2" s="1"><v>43890</v></c><c r="B2"><v>43890</v></c></row>`,
      },
    ],
    styles: '<cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14"/></cellXfs>',
    workbookPr: 'date1904="1"',
  });
}

/**
 * Cells where this reader deliberately differs from the exceljs-based one (ENGINE.md lists them):
 * each column is one case, the exceljs result is in the expectations file.
 */
export function deviationsBook(): Buffer {
  const header = [
    'bool_formula',
    'error_formula',
    'date_formula',
    'inline_rich',
    'str_entity',
    'empty_v',
    'phonetic',
    'pretty_si',
    'iso_d',
  ];
  return book({
    sheets: [
      {
        name: 'Deviations',
        rows: [
          `<row r="1">${header.map((h, i) => istr(`${String.fromCharCode(65 + i)}1`, h)).join('')}</row>`,
          '<row r="2"><c r="A2" t="b"><f>TRUE()</f><v>1</v></c><c r="B2" t="e"><f>1/0</f><v>#DIV/0!</v></c><c r="C2" s="1"><f>DATE(2024,3,1)</f><v>45352</v></c><c r="D2" t="inlineStr"><is><r><t>Kleb</t></r><r><rPr><i/></rPr><t>siella</t></r></is></c><c r="E2" t="str"><v>a &amp;lt; b</v></c><c r="F2"><v></v></c><c r="G2" t="s"><v>0</v></c><c r="H2" t="s"><v>1</v></c><c r="I2" t="d"><v>2024-03-01T00:00:00Z</v></c></row>',
        ].join(''),
      },
    ],
    sharedStrings:
      '<si><t>東京</t><rPh sb="0" eb="2"><t>トウキョウ</t></rPh></si><si>\n  <t>pretty</t>\n</si>',
    styles: '<cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14"/></cellXfs>',
  });
}

/** date1904="true" is as valid as "1" (exceljs read only "1"). */
export function book1904True(): Buffer {
  return book({
    sheets: [{ name: 'Mac', rows: '<row r="1"><c r="A1" s="1"><v>43890</v></c></row>' }],
    styles: '<cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14"/></cellXfs>',
    workbookPr: 'date1904="true"',
  });
}

/** Tabs moved in Excel: the first tab's part is sheet2.xml (exceljs read sheet1.xml first). */
export function reorderedTabsBook(): Buffer {
  return book({
    sheets: [
      { name: 'Data', file: 2, rows: `<row r="1">${istr('A1', 'first tab')}</row>` },
      { name: 'Notes', file: 1, rows: `<row r="1">${istr('A1', 'second tab')}</row>` },
    ],
  });
}

/** Parts whose elements carry a namespace prefix (x:row, x:c), as some generators write them. */
export function prefixedBook(): Buffer {
  return book({
    sheets: [
      {
        name: 'Prefixed',
        rows: '<x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>prefixed</x:t></x:is></x:c><x:c r="B1"><x:v>2</x:v></x:c></x:row>',
      },
    ],
    prefix: 'x:',
  });
}
