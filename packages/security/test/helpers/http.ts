import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import type { SecurityLogger } from '../../src/types.js';

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  json<T = Record<string, unknown>>(): T;
}

export interface SendOptions {
  readonly method?: string;
  readonly headers?: Record<string, string | string[]>;
  readonly body?: string;
}

/** One HTTP request with full control over headers (Host, Origin, Sec-Fetch-Site…), no keep-alive. */
export function send(url: string, options: SendOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: options.method ?? 'GET',
        headers: { connection: 'close', ...options.headers },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            json: <T>() => JSON.parse(text) as T,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

/** Writes a raw HTTP/1.1 request (for headers Node's client would refuse) and returns the status line + head. */
export function sendRaw(
  port: number,
  raw: string,
): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(raw));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', body = ''] = text.split('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      resolve({ status, head, body });
    });
  });
}

export interface Captured {
  readonly level: 'info' | 'warn' | 'error' | 'debug' | 'security';
  readonly message: string;
  readonly meta: Record<string, unknown> | undefined;
}

/** A logger that records every call; `security` channel optional. */
export function captureLogger(
  withSecurity = true,
): SecurityLogger & { readonly entries: Captured[] } {
  const entries: Captured[] = [];
  const rec = (level: Captured['level']) => (message: string, meta?: Record<string, unknown>) => {
    entries.push({ level, message, meta });
  };
  const logger: SecurityLogger & { entries: Captured[] } = {
    entries,
    info: rec('info'),
    warn: rec('warn'),
    error: rec('error'),
    debug: rec('debug'),
  };
  if (withSecurity) logger.security = rec('security');
  return logger;
}

export function uniquePrefix(label: string): string {
  return `shipshape-test:${label}:${process.pid}:${Date.now()}:${Math.random().toString(36).slice(2, 8)}:`;
}
