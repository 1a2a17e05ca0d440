import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPanelIndex, checkRis, PANELS, type RisRow } from '../../src/index.js';
import { SAMPLES } from '../helpers.js';
import {
  anonymousFetch,
  type RunningGlass,
  startGlass,
  upload,
  waitForDataset,
} from './support.js';

const RIS_HEADER =
  'COUNTRY,YEAR,SPECIMEN,PATHOGEN,GENDER,ORIGIN,AGEGROUP,ANTIBIOTIC,RESISTANT,INTERMEDIATE,NONSUSCEPTIBLE,SUSCEPTIBLE,UNKNOWN_NO_AST,UNKNOWN_NO_BREAKPOINTS,BATCHID';

function parseRis(text: string): RisRow[] {
  const [header, ...lines] = text.trim().split(/\r?\n/);
  expect(header).toBe(RIS_HEADER);
  const names = RIS_HEADER.split(',');
  return lines.map((line) => {
    const cells = line.split(',');
    const row: Record<string, string | number> = {};
    names.forEach((name, i) => {
      const cell = cells[i] ?? '';
      row[name] = /^\d+$/.test(cell) && name !== 'BATCHID' ? Number(cell) : cell;
    });
    return row as unknown as RisRow;
  });
}

describe('glass-standardizer over HTTP', () => {
  let glass: RunningGlass;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    glass = await startGlass();
  });
  afterAll(async () => {
    await glass?.stop();
  });

  it.each([
    ['lab_a_2024.csv', 'A-2024'],
    ['lab_b_2024.csv', 'B-2024'],
  ])('processes %s: 202 with links, then done with a quality summary', async (file, batchId) => {
    const res = await upload(
      glass.url,
      { path: join(SAMPLES, file) },
      { country: 'ken', year: '2024', batchId },
    );
    expect(res.status).toBe(202);
    const accepted = (await res.json()) as {
      id: string;
      status: string;
      links: Record<string, string>;
    };
    expect(res.headers.get('location')).toBe(`/api/datasets/${accepted.id}`);
    expect(accepted.links.quality).toBe(`/api/datasets/${accepted.id}/quality`);
    const done = await waitForDataset(glass.url, accepted.id);
    expect(done.status).toBe('done');
    expect(done.progress).toBe(100);
    expect(done.counts?.rowsRead).toBeGreaterThan(100);
    expect(done.quality?.blocking).toBe(false);
    ids[file] = accepted.id;
  });

  it('serves RIS files that hold SPEC rules 12-16 and the requested country, year and batch', async () => {
    for (const [file, batchId] of [
      ['lab_a_2024.csv', 'A-2024'],
      ['lab_b_2024.csv', 'B-2024'],
    ] as const) {
      const res = await fetch(`${glass.url}/api/datasets/${ids[file]}/glass/ris.csv`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/csv');
      const rows = parseRis(await res.text());
      expect(rows.length).toBeGreaterThan(0);
      expect(
        checkRis(rows, { country: 'KEN', year: 2024, batchId }, buildPanelIndex(PANELS)),
      ).toEqual([]);
    }
  });

  it('streams isolates.csv with one row per isolate and formula-safe cells', async () => {
    const id = ids['lab_a_2024.csv'] as string;
    const summary = (await (await fetch(`${glass.url}/api/datasets/${id}`)).json()) as {
      counts: { isolates: number };
    };
    const text = await (await fetch(`${glass.url}/api/datasets/${id}/isolates.csv`)).text();
    const lines = text.trim().split(/\r?\n/);
    expect(lines[0]).toMatch(/^isolate_id,source_row,patient_id,specimen_date,/);
    expect(lines.length - 1).toBe(summary.counts.isolates);
    for (const line of lines) expect(line).not.toMatch(/(^|,)[=+@-]/);
  });

  it('answers resistance with Wilson intervals and serves the antibiogram from the cache', async () => {
    const id = ids['lab_a_2024.csv'] as string;
    const res = await fetch(`${glass.url}/api/datasets/${id}/resistance?pathogen=eSCCOL&minimum=5`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      rows: {
        pathogen: string;
        n_tested: number;
        pct_R: number | null;
        ci: { lo: number; hi: number } | null;
      }[];
    };
    expect(body.rows.length).toBeGreaterThan(0);
    for (const row of body.rows) {
      expect(row.pathogen).toBe('ESCCOL');
      if (row.pct_R !== null && row.ci) {
        expect(row.ci.lo).toBeLessThanOrEqual(row.pct_R);
        expect(row.ci.hi).toBeGreaterThanOrEqual(row.pct_R);
      }
    }
    const first = await fetch(`${glass.url}/api/datasets/${id}/antibiogram?minimum=5`);
    const second = await fetch(`${glass.url}/api/datasets/${id}/antibiogram?minimum=5`);
    expect(first.headers.get('x-cache')).toBe('MISS');
    expect(second.headers.get('x-cache')).toBe('HIT');
    const etag = second.headers.get('etag') as string;
    const revalidated = await fetch(`${glass.url}/api/datasets/${id}/antibiogram?minimum=5`, {
      headers: { 'if-none-match': etag },
    });
    expect(revalidated.status).toBe(304);
  });

  it('rejects bad uploads with problem+json and keeps no file', async () => {
    const missing = await upload(
      glass.url,
      { path: join(SAMPLES, 'lab_a_2024.csv') },
      { year: '2024', batchId: 'x' },
    );
    expect(missing.status).toBe(400);
    const problem = (await missing.json()) as { errors: { field: string }[] };
    expect(problem.errors.map((e) => e.field)).toContain('body.country');

    const badYear = await upload(
      glass.url,
      { path: join(SAMPLES, 'lab_a_2024.csv') },
      { country: 'KEN', year: '1800', batchId: 'x' },
    );
    expect(badYear.status).toBe(400);

    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
    const renamed = await upload(glass.url, { name: 'lab.csv', bytes: png, type: 'text/csv' });
    expect(renamed.status).toBe(415);
    expect(renamed.headers.get('content-type')).toContain('application/problem+json');

    const exe = await upload(glass.url, { name: 'lab.csv.exe', bytes: 'a,b\n1,2\n' });
    expect(exe.status).toBe(415);
  });

  it('refuses the RIS export with 409 while the quality report has ERRORs', async () => {
    const res = await upload(glass.url, { name: 'header-only.csv', bytes: 'PATIENT_ID,SEX,AGE\n' });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const done = await waitForDataset(glass.url, id);
    expect(done.status).toBe('done');
    expect(done.quality?.blocking).toBe(true);
    const ris = await fetch(`${glass.url}/api/datasets/${id}/glass/ris.csv`);
    expect(ris.status).toBe(409);
    expect(((await ris.json()) as { code: string }).code).toBe('QUALITY_ERRORS');
    const quality = (await (await fetch(`${glass.url}/api/datasets/${id}/quality`)).json()) as {
      entries: { rule: number; severity: string; count: number }[];
    };
    expect(quality.entries.some((e) => e.rule === 1 && e.severity === 'ERROR' && e.count > 0)).toBe(
      true,
    );
  });

  it('lists, pages, 404s unknown ids, 400s malformed ones and deletes', async () => {
    const page = (await (await fetch(`${glass.url}/api/datasets?limit=1`)).json()) as {
      items: unknown[];
      total: number;
    };
    expect(page.items).toHaveLength(1);
    expect(page.total).toBeGreaterThanOrEqual(3);
    expect((await fetch(`${glass.url}/api/datasets?limit=1000`)).status).toBe(400);
    expect((await fetch(`${glass.url}/api/datasets/not-a-uuid`)).status).toBe(400);
    const unknown = await fetch(`${glass.url}/api/datasets/2b0c4a7e-1f0e-4c39-9f53-2d3c1b4e5f60`);
    expect(unknown.status).toBe(404);
    const id = ids['lab_b_2024.csv'] as string;
    expect((await fetch(`${glass.url}/api/datasets/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await fetch(`${glass.url}/api/datasets/${id}`)).status).toBe(404);
  });

  it('exposes monitoring: probes, the alias, guarded details and service metrics', async () => {
    expect((await fetch(`${glass.url}/health/live`)).status).toBe(200);
    expect((await fetch(`${glass.url}/health/ready`)).status).toBe(200);
    expect((await fetch(`${glass.url}/_stcore/health`)).status).toBe(200);
    expect((await anonymousFetch(`${glass.url}/health/detailed`)).status).toBe(401);
    const detailed = await fetch(`${glass.url}/health/detailed`, {
      headers: { authorization: `Bearer ${glass.adminToken}` },
    });
    expect(detailed.status).toBe(200);
    const doc = (await detailed.json()) as {
      checks: Record<string, unknown>;
      config: { config: Record<string, unknown> };
    };
    expect(Object.keys(doc.checks)).toEqual(
      expect.arrayContaining(['disk:data', 'storage:sqlite']),
    );
    expect(doc.config.config.ADMIN_TOKEN).toBe('[REDACTED]');
    const metrics = await (await fetch(`${glass.url}/metrics`)).text();
    expect(metrics).toMatch(/glass_datasets_processed_total\{status="done"\} [3-9]/);
    expect(metrics).toMatch(/glass_rows_processed_total \d+/);
    expect(metrics).toContain('http_requests_total');
  });
});
