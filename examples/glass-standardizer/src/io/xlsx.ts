import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { InputError } from './input-error.js';
import type { XlsxLimitsConfig } from './xlsx-limits.js';
import { parseXml, type XmlHandler } from './xml.js';
import { WORKBOOK_PART, XlsxInputError, XlsxZip } from './zip.js';

/** What input.ts shares with the XLSX reader (kept here to avoid an import cycle). */
export interface XlsxRecord {
  readonly row: number;
  readonly cells: string[];
}
export interface XlsxNotice {
  readonly code: string;
  readonly severity: 'WARN' | 'INFO';
  readonly message: string;
  readonly values?: readonly string[];
}
export interface XlsxReader {
  readonly records: AsyncIterable<XlsxRecord>;
  readonly notices: XlsxNotice[];
  bytesRead(): number;
}

const WORKBOOK_RELS = 'xl/_rels/workbook.xml.rels';
const REL_WORKSHEET = '/worksheet';
const REL_STYLES = '/styles';
const REL_SHARED_STRINGS = '/sharedStrings';
/** Excel's last column, XFD. */
const MAX_COLUMN = 16_384;
/** Relationships and sheets a workbook may list; Excel allows far fewer. */
const MAX_LISTED_PARTS = 100_000;
/** Cell formats (Excel allows 64,000) and number formats in styles.xml. */
const MAX_FORMATS = 100_000;

const listLimit = (part: string, what: string, limit: number) =>
  new InputError(
    'XLSX_XML_LIMIT',
    `${part} lists more than ${limit} ${what}; not a workbook Excel could write`,
  );

// ---------------------------------------------------------------------------------------------
// Parts read before the sheet

interface Relationship {
  readonly type: string;
  readonly target: string;
}

function relsHandler(part: string, rels: Map<string, Relationship>): XmlHandler {
  return {
    open(name, a) {
      if (name !== 'Relationship' || a.TargetMode === 'External') return;
      if (rels.size >= MAX_LISTED_PARTS) throw listLimit(part, 'relationships', MAX_LISTED_PARTS);
      if (a.Id !== undefined && a.Target !== undefined && !rels.has(a.Id)) {
        rels.set(a.Id, { type: a.Type ?? '', target: a.Target });
      }
    },
    text() {},
    close() {},
    inCellText: () => false,
    where: () => 'relationships',
  };
}

interface SheetRef {
  readonly name: string;
  readonly rId: string | undefined;
}

function workbookHandler(book: { date1904: boolean; sheets: SheetRef[] }): XmlHandler {
  return {
    open(name, a) {
      if (name === 'workbookPr') {
        book.date1904 = a.date1904 === '1' || a.date1904 === 'true';
      } else if (name === 'sheet') {
        if (book.sheets.length >= MAX_LISTED_PARTS) {
          throw listLimit(WORKBOOK_PART, 'sheets', MAX_LISTED_PARTS);
        }
        // The relationship id is r:id, whatever the prefix of the relationships namespace.
        const idKey = Object.keys(a).find((k) => k.endsWith(':id'));
        book.sheets.push({
          name: a.name ?? `Sheet${book.sheets.length + 1}`,
          rId: idKey ? a[idKey] : undefined,
        });
      }
    },
    text() {},
    close() {},
    inCellText: () => false,
    where: () => 'sheet list',
  };
}

/** exceljs's table of built-in number formats (ids without a culture-independent code omitted). */
const BUILTIN_FORMATS: Record<number, string> = {
  0: 'General',
  1: '0',
  2: '0.00',
  3: '#,##0',
  4: '#,##0.00',
  9: '0%',
  10: '0.00%',
  11: '0.00E+00',
  12: '# ?/?',
  13: '# ??/??',
  14: 'mm-dd-yy',
  15: 'd-mmm-yy',
  16: 'd-mmm',
  17: 'mmm-yy',
  18: 'h:mm AM/PM',
  19: 'h:mm:ss AM/PM',
  20: 'h:mm',
  21: 'h:mm:ss',
  22: 'm/d/yy "h":mm',
  37: '#,##0 ;(#,##0)',
  38: '#,##0 ;[Red](#,##0)',
  39: '#,##0.00 ;(#,##0.00)',
  40: '#,##0.00 ;[Red](#,##0.00)',
  45: 'mm:ss',
  46: '[h]:mm:ss',
  47: 'mmss.0',
  48: '##0.0E+0',
  49: '@',
};

/** exceljs's test: a date/time code letter outside quotes and brackets. */
function isDateFormat(code: string): boolean {
  return /[ymdhMsb]/.test(code.replace(/\[[^\]]*]/g, '').replace(/"[^"]*"/g, ''));
}

/** Which cell formats (`s` of a cell, an index into cellXfs) show numbers as dates. */
function stylesHandler(result: { dateStyles: boolean[] }): XmlHandler {
  const custom = new Map<number, boolean>();
  const xfNumFmts: number[] = [];
  let inCellXfs = false;
  let inNumFmts = false;
  return {
    open(name, a) {
      if (name === 'numFmts') {
        inNumFmts = true;
      } else if (name === 'numFmt' && inNumFmts) {
        // (differential formats, dxf, have numFmt elements of their own)
        if (custom.size >= MAX_FORMATS) throw listLimit('styles', 'number formats', MAX_FORMATS);
        const id = Number.parseInt(a.numFmtId ?? '', 10);
        const code = (a.formatCode ?? '').replace(/\\(.)/g, '$1');
        if (!Number.isNaN(id)) custom.set(id, isDateFormat(code));
      } else if (name === 'cellXfs') {
        inCellXfs = true;
      } else if (name === 'xf' && inCellXfs) {
        if (xfNumFmts.length >= MAX_FORMATS) throw listLimit('styles', 'cell formats', MAX_FORMATS);
        xfNumFmts.push(Number.parseInt(a.numFmtId ?? '', 10));
      }
    },
    text() {},
    close(name) {
      if (name === 'cellXfs') inCellXfs = false;
      if (name === 'numFmts') inNumFmts = false;
      if (name === 'styleSheet') {
        result.dateStyles = xfNumFmts.map((id) => {
          // Like exceljs: numFmtId 0 or missing is General.
          if (!id) return false;
          const known = custom.get(id);
          if (known !== undefined) return known;
          const builtin = BUILTIN_FORMATS[id];
          return builtin !== undefined && isDateFormat(builtin);
        });
      }
    },
    inCellText: () => false,
    where: () => `cell format ${xfNumFmts.length}`,
  };
}

/**
 * The shared strings: rich text runs concatenated, phonetic runs (rPh) left out. A plain empty
 * string is kept as null, as exceljs had it: such a cell does not count towards the row's width.
 */
function sharedStringsHandler(
  strings: (string | null)[],
  limits: XlsxLimitsConfig,
  part: string,
): XmlHandler {
  let inSi = false;
  let inT = false;
  let phonetic = 0;
  let runs = false;
  let text = '';
  let chars = 0;
  const tooMany = (what: string) => new InputError('XLSX_SHARED_STRINGS', `${part}: ${what}`);
  return {
    open(name, a) {
      if (name === 'sst') {
        const declared = Number.parseInt(a.uniqueCount ?? '', 10);
        if (declared > limits.maxSharedStrings) {
          throw tooMany(
            `declares ${declared} strings; at most ${limits.maxSharedStrings} (maxSharedStrings)`,
          );
        }
      } else if (name === 'si') {
        inSi = true;
        runs = false;
        text = '';
      } else if (!inSi) {
        // nothing
      } else if (name === 'rPh') phonetic++;
      else if (name === 'r') runs = true;
      else if (name === 't' && phonetic === 0) inT = true;
    },
    text(value) {
      if (!inT) return;
      text += value;
      chars += value.length;
      if (text.length > limits.maxCellChars) {
        throw new InputError(
          'XLSX_CELL_TOO_LARGE',
          `${part}, shared string ${strings.length}: longer than ${limits.maxCellChars} characters (maxCellChars)`,
        );
      }
      if (chars > limits.maxSharedStringChars) {
        throw tooMany(
          `more than ${limits.maxSharedStringChars} characters in all (maxSharedStringChars)`,
        );
      }
    },
    close(name) {
      if (name === 't') inT = false;
      else if (name === 'rPh') phonetic--;
      else if (name === 'si') {
        inSi = false;
        if (strings.length >= limits.maxSharedStrings) {
          throw tooMany(`more than ${limits.maxSharedStrings} strings (maxSharedStrings)`);
        }
        strings.push(runs || text !== '' ? text : null);
      }
    },
    inCellText: () => inT,
    where: () => `shared string ${strings.length}`,
  };
}

// ---------------------------------------------------------------------------------------------
// The sheet

interface SheetContext {
  readonly strings: readonly (string | null)[];
  readonly dateStyles: readonly boolean[];
  readonly date1904: boolean;
  readonly limits: XlsxLimitsConfig;
  readonly part: string;
}

function serialToIso(serial: number, date1904: boolean): string {
  // exceljs's excelToDate, then the date part of toISOString (UTC).
  const date = new Date(Math.round((serial - 25569 + (date1904 ? 1462 : 0)) * 86_400_000));
  return Number.isNaN(date.getTime()) ? String(serial) : date.toISOString().slice(0, 10);
}

/** Column number of a reference like "AB12"; 0 when it has no letters. */
function columnOf(ref: string): number {
  let n = 0;
  for (let i = 0; i < ref.length && i < 4; i++) {
    const c = ref.charCodeAt(i) | 0x20;
    if (c < 0x61 || c > 0x7a) break;
    n = n * 26 + (c - 0x60);
  }
  return n;
}

const NONE = 0;
const VALUE = 1;
const INLINE = 2;
/** Formula text: not kept, only bounded like cell text. */
const FORMULA = 3;

class SheetHandler implements XmlHandler {
  readonly rows: XlsxRecord[] = [];
  formulas = 0;
  private inSheetData = false;
  private rowNumber = 0;
  private cells: string[] | undefined;
  private width = 0;
  private column = 0;
  private inCell = false;
  private type = '';
  private style = 0;
  private formula = false;
  private value: string | null = null;
  private inline: string | null = null;
  private capture = NONE;
  private phonetic = 0;

  constructor(private readonly ctx: SheetContext) {}

  open(name: string, a: Record<string, string>): void {
    if (name === 'sheetData') {
      this.inSheetData = true;
    } else if (!this.inSheetData) {
      // columns, views, merges… are not data
    } else if (name === 'row') {
      const r = Number.parseInt(a.r ?? '', 10);
      this.rowNumber = r >= 1 ? r : this.rowNumber + 1;
      this.cells = [];
      this.width = 0;
      this.column = 0;
    } else if (name === 'c' && this.cells) {
      const col = a.r === undefined ? 0 : columnOf(a.r);
      this.column = col > 0 ? col : this.column + 1;
      if (this.column > MAX_COLUMN) {
        throw new InputError(
          'XLSX_READ',
          `XLSX workbook could not be read: ${this.ctx.part}: cell ${a.r ?? `number ${this.column}`} in row ${this.rowNumber} is beyond column XFD`,
          this.rowNumber,
        );
      }
      this.inCell = true;
      this.type = a.t ?? '';
      this.style = Number.parseInt(a.s ?? '', 10) || 0;
      this.formula = false;
      this.value = null;
      this.inline = null;
    } else if (!this.inCell) {
      // nothing
    } else if (name === 'v') {
      this.value = '';
      this.capture = VALUE;
    } else if (name === 'f') {
      this.formula = true;
      this.capture = FORMULA;
    } else if (name === 'is') {
      this.inline = '';
    } else if (name === 'rPh') {
      this.phonetic++;
    } else if (name === 't' && this.inline !== null && this.phonetic === 0) {
      this.capture = INLINE;
    }
  }

  text(text: string): void {
    if (this.capture === NONE || this.capture === FORMULA) return;
    let length: number;
    if (this.capture === VALUE) {
      this.value += text;
      length = (this.value as string).length;
    } else {
      this.inline += text;
      length = (this.inline as string).length;
    }
    if (length > this.ctx.limits.maxCellChars) {
      throw new InputError(
        'XLSX_CELL_TOO_LARGE',
        `${this.ctx.part}, ${this.where()}: a cell is longer than ${this.ctx.limits.maxCellChars} characters (maxCellChars)`,
        this.rowNumber,
      );
    }
  }

  close(name: string): void {
    if (name === 'v' || name === 't' || name === 'f') {
      this.capture = NONE;
    } else if (name === 'rPh') {
      this.phonetic--;
    } else if (name === 'c' && this.inCell) {
      this.inCell = false;
      this.capture = NONE;
      const text = this.cellText();
      if (text !== null && this.cells) {
        this.cells[this.column - 1] = text;
        if (this.column > this.width) this.width = this.column;
      }
    } else if (name === 'row' && this.cells) {
      const cells = this.cells;
      this.cells = undefined;
      // Holes are cells without a value; the row ends at its last cell with one.
      cells.length = this.width;
      let blank = true;
      for (let i = 0; i < cells.length; i++) {
        const c = cells[i];
        if (c === undefined) cells[i] = '';
        else if (blank && c.trim() !== '') blank = false;
      }
      if (!blank) this.rows.push({ row: this.rowNumber, cells });
    } else if (name === 'sheetData') {
      this.inSheetData = false;
    }
  }

  inCellText(): boolean {
    return this.capture !== NONE;
  }

  where(): string {
    return this.cells ? `row ${this.rowNumber}` : 'outside the rows';
  }

  /** The cell as text, or null for a cell without a value (exceljs left those out of the row). */
  private cellText(): string | null {
    const { type, value } = this;
    if (this.formula) {
      this.formulas++;
      // The cached result, read as a plain cell of its type would be.
      return value === null ? '' : this.typed(type, value);
    }
    if (this.inline !== null) return this.inline;
    if (value === null) return null;
    if (type === 's') {
      const index = Number.parseInt(value, 10);
      return this.ctx.strings[index] ?? null;
    }
    return this.typed(type, value);
  }

  private typed(type: string, value: string): string {
    switch (type) {
      case 'str':
      case 'inlineStr':
      case 'e':
        return value;
      case 'b':
        return String(Number.parseInt(value, 10) !== 0);
      case 'd':
        // ISO 8601 date cells (not written by Excel): their date part.
        return /^\d{4}-\d{2}-\d{2}/.test(value) ? value.slice(0, 10) : value;
      case 's':
        return this.ctx.strings[Number.parseInt(value, 10)] ?? '';
      default: {
        if (value.trim() === '') return '';
        const n = Number.parseFloat(value);
        return this.style > 0 && this.ctx.dateStyles[this.style] === true
          ? serialToIso(n, this.ctx.date1904)
          : String(n);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------

function resolveTarget(target: string): string {
  // Relationship targets are relative to xl/ (the workbook's folder) or absolute in the package.
  const path = target.startsWith('/') ? target.slice(1) : posix.join('xl', target);
  return posix.normalize(path);
}

async function parseWhole(
  zip: XlsxZip,
  part: string,
  handler: XmlHandler,
  limits: XlsxLimitsConfig,
): Promise<void> {
  for await (const _ of parseXml(part, zip.read(part), handler, limits)) {
    // events go to the handler
  }
}

async function* replay(head: Buffer, rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  if (head.length > 0) yield head;
  for (;;) {
    const next = await rest.next();
    if (next.done) return;
    yield typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
  }
}

/** Copies a stream into `path`, refusing it past maxFileBytes. */
async function spool(
  chunks: AsyncIterable<Buffer>,
  path: string,
  limits: XlsxLimitsConfig,
): Promise<void> {
  const file = await open(path, 'wx', 0o600);
  let size = 0;
  try {
    for await (const chunk of chunks) {
      size += chunk.length;
      if (size > limits.maxFileBytes) {
        throw new XlsxInputError(
          'XLSX_TOO_LARGE',
          `file is more than ${limits.maxFileBytes} bytes (maxFileBytes)`,
          413,
        );
      }
      await file.write(chunk);
    }
  } finally {
    await file.close();
  }
}

export interface XlsxSource {
  /** A path, or a stream whose first bytes were already read. */
  readonly path?: string;
  readonly stream?: {
    readonly head: Buffer;
    readonly rest: AsyncIterator<Buffer>;
    readonly source: Readable;
  };
}

/**
 * A safety net for consumers that stop iterating without calling `return()`: when the records
 * generator is collected, its file descriptor is closed. (Spooled copies are unlinked as soon as
 * they are open, so nothing is left on disk either way.)
 */
const abandoned = new FinalizationRegistry<{ zip: XlsxZip | undefined }>((held) =>
  held.zip?.close(),
);

export function readXlsx(
  source: XlsxSource,
  limits: XlsxLimitsConfig,
  tmpDir: string | undefined,
): XlsxReader {
  const notices: XlsxNotice[] = [];
  const held: { zip: XlsxZip | undefined } = { zip: undefined };

  async function* records(): AsyncGenerator<XlsxRecord> {
    let spoolDir: string | undefined;
    try {
      let path = source.path;
      if (source.stream) {
        const { head, rest, source: input } = source.stream;
        spoolDir = await mkdtemp(join(tmpDir ?? tmpdir(), 'glass-xlsx-'));
        path = join(spoolDir, 'upload.xlsx');
        try {
          await spool(replay(head, rest), path, limits);
        } catch (err) {
          input.destroy();
          throw err;
        }
      }
      if (path === undefined) throw new Error('readXlsx: no source');
      const zip = await XlsxZip.open(path, limits);
      held.zip = zip;
      if (spoolDir) {
        // The descriptor keeps the data; the name goes now, whatever happens to this reader.
        await rm(spoolDir, { recursive: true, force: true });
        spoolDir = undefined;
      }

      const rels = new Map<string, Relationship>();
      if (zip.has(WORKBOOK_RELS)) {
        await parseWhole(zip, WORKBOOK_RELS, relsHandler(WORKBOOK_RELS, rels), limits);
      }
      const book = { date1904: false, sheets: [] as SheetRef[] };
      await parseWhole(zip, WORKBOOK_PART, workbookHandler(book), limits);
      const partOf = (type: string, fallback: string): string | undefined => {
        for (const rel of rels.values()) {
          if (rel.type.endsWith(type)) {
            const path = resolveTarget(rel.target);
            if (zip.has(path)) return path;
          }
        }
        return zip.has(fallback) ? fallback : undefined;
      };
      const sheets: { name: string; part: string }[] = [];
      for (const [index, sheet] of book.sheets.entries()) {
        const rel = sheet.rId === undefined ? undefined : rels.get(sheet.rId);
        // Without workbook relationships, sheet N is where Excel would have put it.
        const part = rel
          ? rel.type.endsWith(REL_WORKSHEET)
            ? resolveTarget(rel.target)
            : undefined
          : rels.size === 0
            ? `xl/worksheets/sheet${index + 1}.xml`
            : undefined;
        if (part !== undefined && zip.has(part)) sheets.push({ name: sheet.name, part });
      }
      const first = sheets[0];
      if (!first) throw new InputError('EMPTY_FILE', 'XLSX workbook has no worksheet');

      const styles = { dateStyles: [] as boolean[] };
      const stylesPart = partOf(REL_STYLES, 'xl/styles.xml');
      if (stylesPart) await parseWhole(zip, stylesPart, stylesHandler(styles), limits);
      const strings: (string | null)[] = [];
      const stringsPart = partOf(REL_SHARED_STRINGS, 'xl/sharedStrings.xml');
      if (stringsPart) {
        await parseWhole(
          zip,
          stringsPart,
          sharedStringsHandler(strings, limits, stringsPart),
          limits,
        );
      }

      const sheet = new SheetHandler({
        strings,
        dateStyles: styles.dateStyles,
        date1904: book.date1904,
        limits,
        part: first.part,
      });
      for await (const _ of parseXml(first.part, zip.read(first.part), sheet, limits)) {
        for (const row of sheet.rows) yield row;
        sheet.rows.length = 0;
      }
      if (sheets.length > 1) {
        notices.push({
          code: 'XLSX_SHEETS',
          severity: 'INFO',
          message: `workbook has ${sheets.length} sheets; only the first was read`,
          values: sheets.slice(1).map((s) => s.name),
        });
      }
      if (sheet.formulas > 0) {
        notices.push({
          code: 'XLSX_FORMULAS',
          severity: 'INFO',
          message: `${sheet.formulas} formula cells were read as their cached results`,
        });
      }
    } finally {
      held.zip?.close();
      if (spoolDir) await rm(spoolDir, { recursive: true, force: true });
    }
  }

  const generator = records();
  abandoned.register(generator, held);
  return { records: generator, notices, bytesRead: () => held.zip?.bytesRead() ?? 0 };
}
