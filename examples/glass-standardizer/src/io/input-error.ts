/** A file-level problem that stops reading; becomes a rule-0 quality ERROR. */
export class InputError extends Error {
  readonly code: string;
  readonly row: number | undefined;
  constructor(code: string, message: string, row?: number) {
    super(message);
    this.name = 'InputError';
    this.code = code;
    this.row = row;
  }
}
