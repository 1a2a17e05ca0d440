import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http, { type ClientRequest, type RequestOptions } from 'node:http';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { loadConfig } from '@shipshape/config';
import { schema } from '../../src/config.js';
import { createGlassService, type GlassService } from '../../src/http/service.js';

export interface RunningGlass {
  readonly glass: GlassService;
  readonly url: string;
  readonly dir: string;
  readonly adminToken: string;
  /** Shuts the service down; the temp dir is removed unless `keep` (or it was the caller's). */
  stop(options?: { keep?: boolean }): Promise<void>;
}

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

const ORIGINAL_FETCH = Symbol.for('glass.test.fetch');
type Patched = typeof globalThis & { [ORIGINAL_FETCH]?: typeof fetch };

/** `fetch` without the default credential below: for tests of authentication itself. */
export const anonymousFetch: typeof fetch =
  (globalThis as Patched)[ORIGINAL_FETCH] ?? globalThis.fetch.bind(globalThis);

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);
/** The admin key of each service a test started, by origin (spawnGlass registers its own). */
const KEYS = new Map<string, string>();

/** Which admin key requests to `origin` carry by default (a child started with another ADMIN_TOKEN). */
export function registerAdminKey(origin: string, key: string): void {
  KEYS.set(new URL(origin).origin, key);
}

const keyFor = (url: URL) =>
  LOOPBACK.has(url.hostname) ? (KEYS.get(url.origin) ?? ADMIN_TOKEN) : undefined;

/**
 * Every service these tests start has its API behind authentication. Requests from the test
 * process to a loopback address carry that service's admin key (ADMIN_TOKEN, role admin) unless
 * they bring their own credential (Authorization, X-API-Key or a cookie), so the suites written
 * before the API needed one (uploads, downloads, scrapes, the compose topology's load) keep
 * testing what they tested, as an admin. Both `fetch` and `node:http`'s `request`/`get` (also
 * as ESM named imports: `syncBuiltinESMExports`) get it; `anonymousFetch` and any explicit
 * credential opt out.
 */
function installAdminKey(): void {
  const patched = globalThis as Patched;
  if (patched[ORIGINAL_FETCH]) return;
  patched[ORIGINAL_FETCH] = anonymousFetch;
  const carriesCredential = (has: (name: string) => boolean) =>
    has('authorization') || has('x-api-key') || has('cookie');
  globalThis.fetch = (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers = new Headers(
      init?.headers ?? (input instanceof Request ? input.headers : undefined),
    );
    const key = keyFor(url);
    if (key === undefined || carriesCredential((n) => headers.has(n)))
      return anonymousFetch(input, init);
    headers.set('authorization', `Bearer ${key}`);
    return anonymousFetch(input, { ...init, headers });
  };

  type Args = [
    string | URL | RequestOptions,
    (RequestOptions | ((res: http.IncomingMessage) => void))?,
    ((res: http.IncomingMessage) => void)?,
  ];
  const withKey = (args: Args): unknown[] => {
    const [first, second, third] = args;
    const target =
      typeof first === 'string' || first instanceof URL ? new URL(String(first)) : undefined;
    const options: RequestOptions =
      target !== undefined
        ? typeof second === 'object'
          ? { ...second }
          : {}
        : { ...(first as RequestOptions) };
    const callback =
      target !== undefined
        ? typeof second === 'function'
          ? second
          : third
        : (second as typeof third);
    const url =
      target ??
      new URL(
        `http://${options.hostname ?? options.host ?? 'localhost'}${options.port ? `:${options.port}` : ''}`,
      );
    const headers = { ...(options.headers as Record<string, string> | undefined) };
    const names = new Set(Object.keys(headers).map((n) => n.toLowerCase()));
    const key = keyFor(url);
    if (key !== undefined && !carriesCredential((n) => names.has(n)))
      headers.authorization = `Bearer ${key}`;
    options.headers = headers;
    const rest = callback ? [options, callback] : [options];
    return target !== undefined ? [target, ...rest] : rest;
  };
  const request = http.request;
  const get = http.get;
  http.request = ((...args: Args) =>
    (request as (...a: unknown[]) => ClientRequest)(...withKey(args))) as typeof http.request;
  http.get = ((...args: Args) =>
    (get as (...a: unknown[]) => ClientRequest)(...withKey(args))) as typeof http.get;
  syncBuiltinESMExports();
}
installAdminKey();

/** Authorization header of a key, for `fetch(url, { headers: bearer(key) })`. */
export const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/** The whole service in this process on 127.0.0.1:0, with its data and logs in a temp dir. */
export async function startGlass(
  env: Record<string, string | undefined> = {},
  dir?: string,
  announce?: (text: string) => void,
): Promise<RunningGlass> {
  const dataDir = dir ?? mkdtempSync(join(tmpdir(), 'glass-http-'));
  const merged: Record<string, string | undefined> = {
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: join(dataDir, 'data'),
    LOG_DIR: join(dataDir, 'logs'),
    ADMIN_TOKEN,
    LOG_LEVEL: 'warn',
    ...env,
  };
  // `undefined` unsets a default above (e.g. ADMIN_TOKEN).
  for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
  const config = loadConfig(schema, { env: merged, files: false });
  const glass = await createGlassService({
    config,
    console: false,
    lifecycle: { exit: false, signals: [] },
    ...(announce ? { announce } : {}),
  });
  const { port } = await glass.listen();
  return {
    glass,
    url: `http://127.0.0.1:${port}`,
    dir: dataDir,
    adminToken: ADMIN_TOKEN,
    async stop(options = {}) {
      await glass.service.shutdown();
      glass.service.lifecycle?.dispose();
      if (!dir && !options.keep) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface UploadFields {
  readonly country?: string;
  readonly year?: string;
  readonly batchId?: string;
  readonly dateFormat?: string;
}

/** POSTs a file as multipart, like `curl -F file=@path -F country=… …`. */
export async function upload(
  url: string,
  file: { path: string } | { name: string; bytes: Uint8Array | string; type?: string },
  fields: UploadFields = { country: 'KEN', year: '2024', batchId: 'B1' },
): Promise<Response> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields))
    if (value !== undefined) form.set(name, value);
  if ('path' in file) {
    form.set(
      'file',
      new Blob([await readFile(file.path)], { type: 'text/csv' }),
      basename(file.path),
    );
  } else {
    form.set('file', new Blob([file.bytes], { type: file.type ?? 'text/csv' }), file.name);
  }
  return fetch(`${url}/api/datasets`, { method: 'POST', body: form });
}

export interface DatasetSummary {
  id: string;
  status: 'queued' | 'processing' | 'done' | 'failed' | 'interrupted';
  progress: number;
  counts: Record<string, number> | null;
  quality: { errors: number; warnings: number; infos: number; blocking: boolean } | null;
  antibiotics: string[];
  error: string | null;
  links: Record<string, string>;
}

/** Polls the dataset until processing has ended (done, failed or interrupted). */
export async function waitForDataset(
  url: string,
  id: string,
  timeoutMs = 60_000,
): Promise<DatasetSummary> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${url}/api/datasets/${id}`);
    const body = (await res.json()) as DatasetSummary;
    if (body.status !== 'queued' && body.status !== 'processing') return body;
    if (Date.now() > deadline)
      throw new Error(`dataset ${id} still ${body.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
