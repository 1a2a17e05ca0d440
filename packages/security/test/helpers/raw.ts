import { readdirSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { expect } from 'vitest';

/** Open file descriptors of this (test worker) process. */
export function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Polls until `check()` holds or `ms` passes; returns the last value of `read()`. */
export async function settle<T>(read: () => T | Promise<T>, check: (v: T) => boolean, ms = 2000) {
  const deadline = Date.now() + ms;
  let value = await read();
  while (!check(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    value = await read();
  }
  return value;
}

/** Asserts the fd count and the upload directory are back to their baseline. */
export async function expectBaseline(fdBaseline: number, dir?: string): Promise<void> {
  const fds = await settle(fdCount, (n) => n <= fdBaseline);
  expect(fds).toBeLessThanOrEqual(fdBaseline);
  if (dir) {
    const files = await settle(
      () => readdir(dir),
      (f) => f.length === 0,
    );
    expect(files).toEqual([]);
  }
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Milliseconds from the start of sending to the status line arriving. */
  elapsedMs: number;
  /** Bytes of the request body the client had written when the answer arrived. */
  bytesSentBeforeAnswer: number;
  json(): Record<string, unknown>;
  /** What ended the exchange: a complete response, the connection closing, or our timeout. */
  endedBy: 'complete' | 'close' | 'timeout';
}

export interface RawRequestOptions {
  /** Body pieces written one after another (with a pause between them when `pauseMs` is set). */
  chunks?: readonly Buffer[];
  pauseMs?: number;
  /** Destroy the socket after writing this many body chunks (client abort). */
  abortAfterChunks?: number;
  /** Give up waiting for an answer after this long. */
  timeoutMs?: number;
}

/**
 * One HTTP/1.1 request over a raw socket: exact bytes on the wire, malformed bodies possible,
 * and the response read while the body is still being sent. Resolves `undefined` when the
 * connection closes without a status line (e.g. after a client abort).
 */
export function rawRequest(
  port: number,
  head: string,
  options: RawRequestOptions = {},
): Promise<RawResponse | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const started = Date.now();
    let received = Buffer.alloc(0);
    let answeredAt: number | undefined;
    let sent = 0;
    let sentAtAnswer = 0;
    let done = false;
    const finish = (endedBy: RawResponse['endedBy']) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const text = received.toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      if (split === -1) {
        resolve(undefined);
        return;
      }
      const lines = text.slice(0, split).split('\r\n');
      const status = Number(lines[0]?.split(' ')[1]);
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
      }
      let body = received.subarray(Buffer.byteLength(text.slice(0, split + 4), 'latin1'));
      const length = headers['content-length'];
      if (length !== undefined) body = body.subarray(0, Number(length));
      const bodyText = body.toString('utf8');
      resolve({
        status,
        headers,
        body: bodyText,
        elapsedMs: (answeredAt ?? Date.now()) - started,
        bytesSentBeforeAnswer: sentAtAnswer,
        json: () => JSON.parse(bodyText) as Record<string, unknown>,
        endedBy,
      });
    };
    const timer = setTimeout(() => finish('timeout'), options.timeoutMs ?? 5000);
    const complete = () => {
      const text = received.toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      if (split === -1) return false;
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, split));
      return m !== null && received.length - (split + 4) >= Number(m[1]);
    };
    socket.on('data', (d: Buffer) => {
      if (answeredAt === undefined) {
        answeredAt = Date.now();
        sentAtAnswer = sent;
      }
      received = Buffer.concat([received, d]);
      if (complete()) finish('complete');
    });
    socket.on('error', () => finish('close'));
    socket.on('close', () => finish('close'));
    socket.on('connect', async () => {
      socket.write(head);
      const chunks = options.chunks ?? [];
      for (let i = 0; i < chunks.length; i++) {
        if (done || socket.destroyed || answeredAt !== undefined) return;
        if (options.abortAfterChunks !== undefined && i >= options.abortAfterChunks) {
          socket.destroy();
          return;
        }
        const chunk = chunks[i] as Buffer;
        const flushed = socket.write(chunk);
        sent += chunk.length;
        if (!flushed) await new Promise((r) => socket.once('drain', r));
        if (options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
      }
      if (options.abortAfterChunks !== undefined && options.abortAfterChunks >= chunks.length)
        socket.destroy();
    });
  });
}

/** Request head for a body of `length` bytes (or chunked when undefined). */
export function requestHead(
  method: string,
  path: string,
  headers: Record<string, string | number>,
  length: number | undefined,
): string {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close'];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  if (length !== undefined) lines.push(`Content-Length: ${length}`);
  else lines.push('Transfer-Encoding: chunked');
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Splits a buffer into pieces of `size` bytes. */
export function pieces(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

/** Asserts a problem+json answer with the given status (and code when given). */
export function expectProblem(res: RawResponse | undefined, status: number, code?: string) {
  expect(res, 'no HTTP answer').toBeDefined();
  const r = res as RawResponse;
  expect(r.status, r.body).toBe(status);
  expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = r.json();
  expect(body.status).toBe(status);
  expect(typeof body.title).toBe('string');
  if (code) expect(body.code).toBe(code);
  return body;
}

/** A recording logger that satisfies SecurityLogger. */
export function recordingLogger() {
  const entries: { level: string; message: string; meta: Record<string, unknown> | undefined }[] =
    [];
  const log =
    (level: string) =>
    (message: string, meta?: Record<string, unknown>): void => {
      entries.push({ level, message, meta });
    };
  return {
    entries,
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    debug: log('debug'),
    security: (event: string, details?: Record<string, unknown>) => {
      entries.push({ level: 'security', message: event, meta: details });
    },
    events(name: string) {
      return entries.filter((e) => e.level === 'security' && e.message === name);
    },
  };
}
