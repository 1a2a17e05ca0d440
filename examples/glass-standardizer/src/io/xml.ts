import { SaxesParser } from 'saxes';
import { InputError } from './input-error.js';
import type { XlsxLimitsConfig } from './xlsx-limits.js';

/** What a part reader does with the SAX events of its part; names come without a namespace prefix. */
export interface XmlHandler {
  open(name: string, attributes: Record<string, string>): void;
  text(text: string): void;
  close(name: string): void;
  /** True while the parser is inside cell text (a value, an inline or shared string). */
  inCellText(): boolean;
  /** Where the part is, for messages: "row 12", "shared string 40". */
  where(): string;
}

function localName(name: string): string {
  const colon = name.indexOf(':');
  return colon < 0 ? name : name.slice(colon + 1);
}

/**
 * Feeds a part's bytes through saxes and yields after every chunk, so the caller can hand on what
 * the handler collected. saxes holds an unfinished token (text, a tag and its attributes, a
 * comment) in memory until it ends; counting the characters written since the last event bounds
 * that, and the depth counter bounds its tag stack.
 */
export async function* parseXml(
  part: string,
  chunks: AsyncIterable<Buffer>,
  handler: XmlHandler,
  limits: XlsxLimitsConfig,
): AsyncGenerator<void> {
  const parser = new SaxesParser();
  let error: Error | undefined;
  let depth = 0;
  let lastEvent = 0;
  const mark = () => {
    lastEvent = parser.position;
  };
  parser.on('error', (err) => {
    error ??= err;
  });
  parser.on('opentag', (tag) => {
    mark();
    if (++depth > limits.maxXmlDepth) {
      throw new InputError(
        'XLSX_XML_LIMIT',
        `${part} nests XML elements deeper than ${limits.maxXmlDepth} levels (maxXmlDepth)`,
      );
    }
    handler.open(localName(tag.name), tag.attributes as Record<string, string>);
  });
  parser.on('closetag', (tag) => {
    mark();
    depth--;
    handler.close(localName(tag.name));
  });
  parser.on('text', (text) => {
    mark();
    handler.text(text);
  });
  parser.on('cdata', (text) => {
    mark();
    handler.text(text);
  });
  // No handlers for comments, declarations and the like: their characters count towards the
  // next token. (Registering five more handlers also puts saxes's parser object in a slow
  // shape: it parsed 5× slower.)

  const decoder = new TextDecoder('utf-8');
  const write = (text: string) => {
    parser.write(text);
    if (error)
      throw new InputError(
        'XLSX_READ',
        `XLSX workbook could not be read: ${part}: ${error.message}`,
      );
    const pending = parser.position - lastEvent;
    if (handler.inCellText()) {
      if (pending > limits.maxCellChars) {
        throw new InputError(
          'XLSX_CELL_TOO_LARGE',
          `${part}, ${handler.where()}: a cell is longer than ${limits.maxCellChars} characters (maxCellChars)`,
        );
      }
    } else if (pending > limits.maxXmlTokenChars) {
      throw new InputError(
        'XLSX_XML_LIMIT',
        `${part}, ${handler.where()}: an XML token (tag, attribute, comment) is longer than ${limits.maxXmlTokenChars} characters (maxXmlTokenChars)`,
      );
    }
  };
  for await (const chunk of chunks) {
    write(decoder.decode(chunk, { stream: true }));
    yield;
  }
  const rest = decoder.decode();
  if (rest) write(rest);
  parser.close();
  if (error)
    throw new InputError(
      'XLSX_READ',
      `XLSX workbook could not be read: ${part}: ${(error as Error).message}`,
    );
  yield;
}
