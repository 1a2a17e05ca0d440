import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
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

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Every service these tests start has its API behind authentication. Requests from the test
 * process to a loopback address carry the admin key (ADMIN_TOKEN, role admin) unless they bring
 * their own credential (Authorization, X-API-Key or a cookie), so the suites written before the
 * API needed one (uploads, downloads, scrapes) keep testing what they tested, as an admin.
 */
function installAdminFetch(): void {
  const patched = globalThis as Patched;
  if (patched[ORIGINAL_FETCH]) return;
  patched[ORIGINAL_FETCH] = anonymousFetch;
  globalThis.fetch = (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers = new Headers(
      init?.headers ?? (input instanceof Request ? input.headers : undefined),
    );
    if (
      LOOPBACK.has(url.hostname) &&
      !headers.has('authorization') &&
      !headers.has('x-api-key') &&
      !headers.has('cookie')
    ) {
      headers.set('authorization', `Bearer ${ADMIN_TOKEN}`);
      return anonymousFetch(input, { ...init, headers });
    }
    return anonymousFetch(input, init);
  };
}
installAdminFetch();

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
