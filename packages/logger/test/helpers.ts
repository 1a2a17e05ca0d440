import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import Transport from 'winston-transport';

/** A fresh directory under the OS temp dir; remove it with `rmSync(dir, { recursive: true })`. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `shipshape-logger-${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Every line of every file of one stream (`app-*.log` and `app-*.log.gz`), parsed as JSON. */
export function readStream(dir: string, stream: string): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (!name.startsWith(`${stream}-`)) continue;
    const raw = readFileSync(join(dir, name));
    const text = name.endsWith('.gz') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
    for (const line of text.split('\n')) if (line !== '') lines.push(JSON.parse(line));
  }
  return lines;
}

export function streamFiles(dir: string, stream: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.startsWith(`${stream}-`))
    .sort();
}

/** A winston transport keeping the exact JSON lines (info[MESSAGE]) it receives. */
export class LinesTransport extends Transport {
  readonly lines: string[] = [];
  /** Without a level it follows the logger's level, like the built-in transports. */
  constructor(level?: string) {
    super(level === undefined ? {} : { level });
  }
  override log(info: Record<string | symbol, unknown>, callback: () => void): void {
    this.lines.push(info[Symbol.for('message')] as string);
    callback();
  }
  parsed(): Record<string, unknown>[] {
    return this.lines.map((line) => JSON.parse(line));
  }
}

/** A writable collecting what was written, for capturing stdout-like output. */
export class Collect extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString('utf8');
    cb();
  }
}
