// Authentication and roles of the service (issue 19): keys by role, sessions with CSRF, audit,
// throttling, auto-block, guarded health and metrics, the development admin key.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SAMPLES } from '../helpers.js';
import {
  ADMIN_TOKEN,
  anonymousFetch,
  bearer,
  type RunningGlass,
  startGlass,
  upload,
  waitForDataset,
} from './support.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every line of the rotated security log, parsed. */
function securityEvents(dir: string): Record<string, unknown>[] {
  const logs = join(dir, 'logs');
  return readdirSync(logs)
    .filter((f) => f.startsWith('security-'))
    .flatMap((f) => readFileSync(join(logs, f), 'utf8').split('\n'))
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function problem(res: Response) {
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  return (await res.json()) as { status: number; code: string; detail?: string };
}

describe('roles over HTTP (viewer, analyst, uploader, admin)', () => {
  let glass: RunningGlass;
  const key: Record<string, string> = {};
  let datasetId: string;

  beforeAll(async () => {
    glass = await startGlass({ AUTH_FAILURE_LIMIT: '3', LOG_LEVEL: 'info' });
    for (const role of ['viewer', 'analyst', 'uploader'] as const)
      key[role] = glass.glass.access.keyFile.create(role, `${role} of lab A`).key;
    key.otherUploader = glass.glass.access.keyFile.create('uploader', 'lab B').key;
    const res = await upload(
      glass.url,
      { path: join(SAMPLES, 'lab_a_2024.csv') },
      {
        country: 'KEN',
        year: '2024',
        batchId: 'LAB-A',
      },
    );
    datasetId = ((await res.json()) as { id: string }).id;
    expect((await waitForDataset(glass.url, datasetId)).status).toBe('done');
  }, 60_000);
  afterAll(() => glass?.stop());

  const as = (who: string, path: string, init: RequestInit = {}) =>
    anonymousFetch(`${glass.url}${path}`, {
      ...init,
      headers: { ...(init.headers as Record<string, string>), ...bearer(key[who] ?? ADMIN_TOKEN) },
    });

  it('anonymous requests to the API get 401 problem+json with a Bearer challenge', async () => {
    const res = await anonymousFetch(`${glass.url}/api/datasets`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="glass-standardizer"');
    expect(await problem(res)).toMatchObject({ code: 'AUTH_REQUIRED' });
  });

  it('a viewer reads analytics, quality and GLASS files, but not isolates.csv, and cannot upload', async () => {
    for (const path of [
      '',
      '/quality',
      '/glass/ris.csv',
      '/antibiogram?minimum=5',
      '/quality/issues.csv',
    ])
      expect((await as('viewer', `/api/datasets/${datasetId}${path}`)).status, path).toBe(200);
    const isolates = await as('viewer', `/api/datasets/${datasetId}/isolates.csv`);
    expect(isolates.status).toBe(403);
    expect(await problem(isolates)).toMatchObject({ code: 'ROLE_REQUIRED' });
    const form = new FormData();
    form.set('file', new Blob(['x']), 'x.csv');
    expect((await as('viewer', '/api/datasets', { method: 'POST', body: form })).status).toBe(403);
    // Key misuse counts like failed sign-ins (AUTH_FAILURE_LIMIT=3): the third refusal locks the account.
    const third = await as('viewer', `/api/datasets/${datasetId}`, { method: 'DELETE' });
    expect(await problem(third)).toMatchObject({ status: 429, code: 'AUTH_THROTTLED' });
    expect((await as('viewer', `/api/datasets/${datasetId}`)).status).toBe(429);
  });

  it('an analyst downloads isolates.csv, named for GLASS', async () => {
    const res = await as('analyst', `/api/datasets/${datasetId}/isolates.csv`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe(
      'attachment; filename="KEN_2024_LAB-A_isolates.csv"',
    );
    expect((await res.text()).split('\n')[0]).toMatch(/^isolate_id,source_row,patient_id,/);
    const ris = await as('analyst', `/api/datasets/${datasetId}/glass/ris.csv`);
    expect(ris.headers.get('content-disposition')).toBe(
      'attachment; filename="KEN_2024_LAB-A_RIS.csv"',
    );
  });

  it('an uploader uploads and deletes their own batches only; an admin deletes any', async () => {
    const mine = await upload(
      glass.url,
      { path: join(SAMPLES, 'lab_b_2024.csv') },
      { country: 'UGA', year: '2024', batchId: 'MINE' },
    );
    expect(mine.status).toBe(202);
    // upload() sends the admin key; redo it as the uploader.
    const form = new FormData();
    form.set('country', 'UGA');
    form.set('year', '2024');
    form.set('batchId', 'UP-1');
    form.set(
      'file',
      new Blob([readFileSync(join(SAMPLES, 'lab_b_2024.csv'))], { type: 'text/csv' }),
      'lab_b.csv',
    );
    const created = await as('uploader', '/api/datasets', { method: 'POST', body: form });
    expect(created.status).toBe(202);
    const own = (await created.json()) as { id: string; owner: string };
    expect(own.owner).toMatch(/^key:glass_[0-9a-f]{8}$/);
    await waitForDataset(glass.url, own.id);
    const notMine = await as('otherUploader', `/api/datasets/${own.id}`, { method: 'DELETE' });
    expect(notMine.status).toBe(403);
    expect(await problem(notMine)).toMatchObject({ code: 'NOT_DATASET_OWNER' });
    expect((await as('uploader', `/api/datasets/${own.id}`, { method: 'DELETE' })).status).toBe(
      204,
    );
    const other = ((await mine.json()) as { id: string }).id;
    await waitForDataset(glass.url, other);
    expect((await as('uploader', `/api/datasets/${other}`, { method: 'DELETE' })).status).toBe(403);
    expect((await as('admin', `/api/datasets/${other}`, { method: 'DELETE' })).status).toBe(204);
  }, 60_000);

  it('every data access is in the security log with the principal', async () => {
    await as('analyst', `/api/datasets/${datasetId}/isolates.csv`).then((r) => r.text());
    // The security log is written in batches: wait for the lines rather than race them.
    await vi.waitFor(
      () => {
        const events = securityEvents(glass.dir).filter((e) => e.message === 'data_access');
        const download = events.find((e) => e.action === 'download_isolates' && e.status === 200);
        expect(download).toMatchObject({
          principal: expect.stringMatching(/^key:glass_/),
          route: '/api/datasets/:id/isolates.csv',
          dataset: datasetId,
        });
        expect(events.some((e) => e.action === 'download_isolates' && e.status === 403)).toBe(true);
      },
      { timeout: 3000, interval: 50 },
    );
  });

  it('a revoked key is refused within a second; brute force is throttled (429) per client', async () => {
    const { key: doomed, record } = glass.glass.access.keyFile.create('viewer', 'to revoke');
    expect(
      (await anonymousFetch(`${glass.url}/api/datasets`, { headers: bearer(doomed) })).status,
    ).toBe(200);
    glass.glass.access.keyFile.revoke(record.id);
    await sleep(1100);
    const revoked = await anonymousFetch(`${glass.url}/api/datasets`, { headers: bearer(doomed) });
    expect(await problem(revoked)).toMatchObject({ status: 401, code: 'AUTH_REVOKED' });
    // AUTH_FAILURE_LIMIT=3: that was failure 1.
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++)
      statuses.push(
        (
          await anonymousFetch(`${glass.url}/api/datasets`, {
            headers: bearer(`glass_deadbeef_${'z'.repeat(43)}`),
          })
        ).status,
      );
    expect(statuses).toEqual([401, 429, 429]);
    // The security log is written in batches: wait for the lines rather than race them.
    await vi.waitFor(
      () => {
        const events = securityEvents(glass.dir);
        expect(events.some((e) => e.message === 'auth_failed' && e.reason === 'revoked key')).toBe(
          true,
        );
        expect(events.some((e) => e.message === 'auth_throttled')).toBe(true);
      },
      { timeout: 3000, interval: 50 },
    );
  });
});

describe('console sessions over HTTP: sign in with a key, CSRF, sign out', () => {
  let glass: RunningGlass;
  beforeAll(async () => {
    glass = await startGlass();
  });
  afterAll(() => glass?.stop());

  it('signs in, needs the CSRF token without Fetch Metadata, signs out for good', async () => {
    const signIn = await anonymousFetch(`${glass.url}/auth/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'sec-fetch-site': 'same-origin' },
      body: JSON.stringify({ key: ADMIN_TOKEN }),
    });
    expect(signIn.status).toBe(200);
    const setCookie = signIn.headers.getSetCookie().find((c) => c.startsWith('shipshape.sid='));
    expect(setCookie).toMatch(/HttpOnly; SameSite=Lax; Max-Age=43200$/);
    const cookie = (setCookie as string).split(';')[0] as string;
    const me = await anonymousFetch(`${glass.url}/auth/session`, { headers: { cookie } });
    const principal = (await me.json()) as { name: string; roles: string[]; csrfToken: string };
    expect(principal).toMatchObject({
      name: 'ADMIN_TOKEN',
      roles: ['admin', 'uploader', 'analyst', 'viewer'],
    });
    const csrfCookie = (
      me.headers.getSetCookie().find((c) => c.includes('x-csrf-token')) ?? ''
    ).split(';')[0];
    const remove = (headers: Record<string, string>) =>
      anonymousFetch(`${glass.url}/api/datasets/00000000-0000-4000-8000-000000000000`, {
        method: 'DELETE',
        headers,
      });
    // Without Sec-Fetch-Site / Origin (an old browser) the session needs the token…
    expect((await remove({ cookie })).status).toBe(403);
    expect(
      (await remove({ cookie: `${cookie}; ${csrfCookie}`, 'x-csrf-token': principal.csrfToken }))
        .status,
    ).toBe(404);
    // …a cross-site request never passes.
    expect(
      (await remove({ cookie, 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' }))
        .status,
    ).toBe(403);
    const out = await anonymousFetch(`${glass.url}/auth/session`, {
      method: 'DELETE',
      headers: { cookie, 'sec-fetch-site': 'same-origin' },
    });
    expect(out.status).toBe(204);
    const after = await anonymousFetch(`${glass.url}/api/datasets`, { headers: { cookie } });
    expect(await problem(after)).toMatchObject({ status: 401, code: 'SESSION_EXPIRED' });
  });

  it('a wrong key does not sign in', async () => {
    const res = await anonymousFetch(`${glass.url}/auth/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'sec-fetch-site': 'same-origin' },
      body: JSON.stringify({ key: 'not-a-key-at-all-but-long-enough' }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.getSetCookie()).toEqual([]);
  });
});

describe('monitoring switched on, configured through the environment', () => {
  let glass: RunningGlass;
  beforeAll(async () => {
    glass = await startGlass({
      HEALTH_CHECK_INTERVAL: '200ms',
      RATE_LIMIT_API: '40',
      IP_AUTOBLOCK_HITS: '2',
      ALERT_FOR: '0',
    });
  });
  afterAll(() => glass?.stop());

  it('runs health checks in the background, with the seed thresholds as alert rules', async () => {
    await sleep(1200);
    const res = await fetch(`${glass.url}/api/admin/monitoring`);
    expect(res.status).toBe(200);
    const m = (await res.json()) as {
      alerts: { name: string; metric: string; threshold: number }[];
      history: { checks: Record<string, { results: unknown[] }> };
    };
    expect(m.alerts.map((a) => [a.name, a.metric, a.threshold])).toEqual([
      ['response_time', 'p95LatencyMs', 2000],
      ['memory', 'rssBytes', 2 * 1024 ** 3],
      ['cpu', 'cpuPercent', 80],
      ['error_rate', 'errorRate', 0.01],
    ]);
    // No probe was called: the results come from the background runs.
    expect(m.history.checks['storage:sqlite']?.results.length).toBeGreaterThanOrEqual(3);
  });

  it('logger and cache admin routes need the admin role', async () => {
    const viewer = glass.glass.access.keyFile.create('viewer', 'v').key;
    expect((await fetch(`${glass.url}/api/admin/loggers`)).status).toBe(200);
    expect((await fetch(`${glass.url}/api/admin/caches`)).status).toBe(200);
    const denied = await anonymousFetch(`${glass.url}/api/admin/loggers`, {
      headers: bearer(viewer),
    });
    expect(await problem(denied)).toMatchObject({ status: 403, code: 'ROLE_REQUIRED' });
  });

  it('threat findings count towards the IP auto-block (IP_AUTOBLOCK_HITS=2)', async () => {
    const evil = `${glass.url}/api/datasets?limit=5&q=${encodeURIComponent("' or 1=1 --")}`;
    expect((await fetch(evil)).status).toBe(200);
    expect((await fetch(evil)).status).toBe(200);
    await sleep(50);
    const blocked = await fetch(`${glass.url}/api/datasets`);
    expect(await problem(blocked)).toMatchObject({ status: 403, code: 'IP_BLOCKED' });
  });
});

describe('alerts go to the log, the webhook and the monitoring page', () => {
  it('a memory threshold below the RSS fires at the next evaluation and is POSTed to ALERT_WEBHOOK_URL', {
    timeout: 30_000,
  }, async () => {
    const received: Record<string, unknown>[] = [];
    const hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString('utf8');
      });
      req.on('end', () => {
        received.push(JSON.parse(body) as Record<string, unknown>);
        res.end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const glass = await startGlass({
      ALERT_MEMORY: '1mb',
      ALERT_FOR: '0',
      ALERT_WEBHOOK_URL: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alerts`,
    });
    try {
      await vi.waitFor(() => expect(received.some((e) => e.name === 'memory')).toBe(true), {
        timeout: 15_000,
        interval: 200,
      });
      expect(received.find((e) => e.name === 'memory')).toMatchObject({
        status: 'firing',
        metric: 'rssBytes',
        threshold: 1024 * 1024,
      });
      const m = (await (await fetch(`${glass.url}/api/admin/monitoring`)).json()) as {
        alerts: { name: string; status: string }[];
      };
      expect(m.alerts.find((a) => a.name === 'memory')?.status).toBe('firing');
    } finally {
      await glass.stop();
      await new Promise<void>((r) => hook.close(() => r()));
    }
  });
});

describe('rate limits from the environment', () => {
  it('RATE_LIMIT_API=5 answers the sixth request in the window with 429', async () => {
    const glass = await startGlass({ RATE_LIMIT_API: '5', IP_AUTOBLOCK_HITS: '0' });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await fetch(`${glass.url}/api/datasets`)).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    } finally {
      await glass.stop();
    }
  });
});

describe('/metrics and /health/detailed in production', () => {
  const env = {
    NODE_ENV: 'production',
    METRICS_TOKEN: 'scrape-token-0123456789abcdef',
    TRUST_PROXY: 'loopback',
  };

  it('need the admin role, or the scrape token for /metrics', async () => {
    const glass = await startGlass(env);
    try {
      const get = (path: string, token?: string) =>
        anonymousFetch(`${glass.url}${path}`, token ? { headers: bearer(token) } : {});
      expect((await get('/metrics')).status).toBe(401);
      expect((await get('/metrics', env.METRICS_TOKEN)).status).toBe(200);
      expect((await get('/metrics', ADMIN_TOKEN)).status).toBe(200);
      expect((await get('/health/detailed', env.METRICS_TOKEN)).status).toBe(401);
      expect((await get('/health/detailed', ADMIN_TOKEN)).status).toBe(200);
      expect((await get('/health/ready')).status).toBe(200);
    } finally {
      await glass.stop();
    }
  });

  it('without METRICS_TOKEN, /metrics needs an admin key', async () => {
    const glass = await startGlass({ ...env, METRICS_TOKEN: undefined });
    try {
      expect((await anonymousFetch(`${glass.url}/metrics`)).status).toBe(401);
      expect(
        (await anonymousFetch(`${glass.url}/metrics`, { headers: bearer(ADMIN_TOKEN) })).status,
      ).toBe(200);
    } finally {
      await glass.stop();
    }
  });

  it('METRICS_PUBLIC leaves /metrics open, with a coded warning; /health/detailed stays guarded', async () => {
    const glass = await startGlass({ ...env, METRICS_TOKEN: undefined, METRICS_PUBLIC: 'true' });
    try {
      expect((await anonymousFetch(`${glass.url}/metrics`)).status).toBe(200);
      expect((await anonymousFetch(`${glass.url}/health/detailed`)).status).toBe(401);
      await sleep(200);
      const app = readdirSync(join(glass.dir, 'logs'))
        .filter((f) => f.startsWith('app-'))
        .map((f) => readFileSync(join(glass.dir, 'logs', f), 'utf8'))
        .join('');
      expect(app).toContain('SHIPSHAPE_SECURITY_METRICS_OPEN');
    } finally {
      await glass.stop();
    }
  });
});

describe('development: a generated local admin key, printed once', () => {
  it('prints a key at the first start only; it signs in as admin', async () => {
    const printed: string[] = [];
    const first = await startGlass(
      { NODE_ENV: 'development', ADMIN_TOKEN: undefined },
      undefined,
      (t) => printed.push(t),
    );
    const dir = first.dir;
    try {
      expect(printed.join('')).toMatch(/generated a local admin key/);
      const key = /\n {6}(glass_[0-9a-f]{8}_[\w-]{43})\n/.exec(printed.join(''))?.[1] as string;
      expect(key).toBeDefined();
      const me = await anonymousFetch(`${first.url}/api/admin/monitoring`, {
        headers: bearer(key),
      });
      expect(me.status).toBe(200);
      // Only the hash is kept.
      expect(readFileSync(join(dir, 'data/auth/api-keys.json'), 'utf8')).not.toContain(
        key.slice(15),
      );
    } finally {
      await first.stop({ keep: true });
    }
    const again: string[] = [];
    const second = await startGlass({ NODE_ENV: 'development', ADMIN_TOKEN: undefined }, dir, (t) =>
      again.push(t),
    );
    try {
      expect(again).toEqual([]);
    } finally {
      await second.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
