import type { IsolateRecord, ResultCode } from '../types.js';

// Keys JSON.stringify puts first, in ascending numeric order: canonical array indexes.
function isArrayIndex(key: string): boolean {
  return /^(?:0|[1-9][0-9]*)$/.test(key) && Number(key) < 2 ** 32 - 1;
}

/**
 * Encoder for one file's antibiotics: given a row's result per antibiotic (in `codes` order,
 * `undefined` = no result), returns exactly `JSON.stringify` of the results object the pipeline
 * used to build, without building it (that object cost more than the rest of the row).
 */
export function resultsEncoder(
  codes: readonly string[],
): (results: readonly (ResultCode | undefined)[]) => string {
  const keys = codes.map((code) => `${JSON.stringify(code)}:`);
  const indexes = codes.map((_, i) => i).filter((i) => isArrayIndex(codes[i] as string));
  indexes.sort((a, b) => Number(codes[a]) - Number(codes[b]));
  const order = [...indexes, ...codes.map((_, i) => i).filter((i) => !indexes.includes(i))];
  const values = new Map<ResultCode, string>();
  return (results) => {
    let json = '';
    for (const i of order) {
      const value = results[i];
      if (value === undefined) continue;
      let text = values.get(value);
      if (text === undefined) {
        text = JSON.stringify(value);
        values.set(value, text);
      }
      json += `${json === '' ? '{' : ','}${keys[i] as string}${text}`;
    }
    return json === '' ? '{}' : `${json}}`;
  };
}

/** An isolate's fields without its results. */
export type IsolateFields = Omit<IsolateRecord, 'results'>;

/** An isolate whose results come already encoded as the JSON the storage keeps. */
export type EncodedIsolate = IsolateRecord & { readonly resultsJson: string };

// Shared by every encoded isolate: `results` decodes the text on demand (nothing in the pipeline
// reads it; the storage writes `resultsJson` as it is).
const ENCODED: object = Object.freeze(
  Object.create(Object.prototype, {
    results: {
      get(this: { readonly resultsJson: string }) {
        return JSON.parse(this.resultsJson) as Record<string, ResultCode>;
      },
    },
  }),
);

export function encodedIsolate(fields: IsolateFields, resultsJson: string): EncodedIsolate {
  const isolate = Object.assign(Object.create(ENCODED) as object, fields) as EncodedIsolate & {
    resultsJson: string;
  };
  isolate.resultsJson = resultsJson;
  return isolate;
}

/** The results column: the encoded text when there is one, else `JSON.stringify(results)`. */
export function resultsJsonOf(isolate: IsolateRecord): string {
  return Object.getPrototypeOf(isolate) === ENCODED
    ? (isolate as EncodedIsolate).resultsJson
    : JSON.stringify(isolate.results);
}
