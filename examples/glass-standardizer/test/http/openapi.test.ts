// /openapi.json against the routes the service really has, and the statuses they really answer.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLES } from '../helpers.js';
import {
  anonymousFetch,
  type RunningGlass,
  startGlass,
  upload,
  waitForDataset,
} from './support.js';

interface Operation {
  responses: Record<string, unknown>;
  'x-required-role'?: string;
}
type Doc = {
  openapi: string;
  info: { version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, ObjectSchema> };
};
interface ObjectSchema {
  required?: string[];
  properties: Record<string, { items?: ObjectSchema | { $ref: string } }>;
}

/** Keys of `value` against an object schema: every required one there, none undocumented. */
function expectShape(value: object, schema: ObjectSchema, what: string): void {
  for (const key of schema.required ?? [])
    expect(value, `${what}: ${key} missing`).toHaveProperty(key);
  for (const key of Object.keys(value))
    expect(Object.keys(schema.properties), `${what}: ${key} undocumented`).toContain(key);
}

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
  rawPath?: string;
}

/** `METHOD /path/{param}` of every route in an Express 5 app, mount prefixes included. */
function routesOf(stack: Layer[], prefix = ''): string[] {
  const out: string[] = [];
  for (const layer of stack) {
    if (layer.route) {
      for (const method of Object.keys(layer.route.methods))
        if (method !== '_all')
          out.push(
            `${method.toUpperCase()} ${(prefix + layer.route.path).replace(/(.)\/$/, '$1').replace(/:(\w+)/g, '{$1}')}`,
          );
    } else if (layer.handle.stack) {
      const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
      out.push(...routesOf(layer.handle.stack, prefix + mount));
    }
  }
  return out;
}

describe('OpenAPI document (/openapi.json)', () => {
  let glass: RunningGlass;
  let doc: Doc;
  let id: string;

  beforeAll(async () => {
    glass = await startGlass();
    const res = await anonymousFetch(`${glass.url}/openapi.json`);
    expect(res.status).toBe(200);
    doc = (await res.json()) as Doc;
    const created = await upload(glass.url, { path: join(SAMPLES, 'lab_a_2024.csv') });
    id = ((await created.json()) as { id: string }).id;
    await waitForDataset(glass.url, id);
  }, 60_000);
  afterAll(() => glass?.stop());

  it("carries the service's package.json version, as /health/version does", async () => {
    const pkg = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    expect(doc.info.version).toBe(pkg.version);
    const res = await anonymousFetch(`${glass.url}/health/version`);
    expect(((await res.json()) as { version: string }).version).toBe(pkg.version);
  });

  const documented = () =>
    Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops)
        .filter((m) => ['get', 'post', 'put', 'delete', 'patch'].includes(m))
        .map((m) => `${m.toUpperCase()} ${path}`),
    );

  it('is OpenAPI 3.1 and documents every API and session route the app has, and no other', () => {
    expect(doc.openapi).toBe('3.1.0');
    const app = glass.glass.app as unknown as { router: { stack: Layer[] } };
    const real = routesOf(app.router.stack).filter((r) => / \/(api|auth)\b/.test(r));
    expect(real.length).toBeGreaterThan(12);
    const docs = documented();
    for (const route of real) expect(docs, `undocumented: ${route}`).toContain(route);
    for (const route of docs.filter((r) => / \/(api\/datasets|auth)\b/.test(r)))
      expect(real, `documented but not served: ${route}`).toContain(route);
  });

  it('the quality report has the documented shape, entries and their messages too', async () => {
    const schemas = doc.components.schemas;
    const res = await fetch(`${glass.url}/api/datasets/${id}/quality`);
    const report = (await res.json()) as {
      entries: { messages: object[]; count: number }[];
    };
    expectShape(report, schemas.QualityReport as ObjectSchema, 'report');
    const entrySchema = schemas.QualityEntry as ObjectSchema;
    const messageSchema = entrySchema.properties.messages?.items as ObjectSchema;
    expect(report.entries.length).toBeGreaterThan(10);
    for (const entry of report.entries) {
      expectShape(entry, entrySchema, 'entry');
      for (const m of entry.messages) expectShape(m, messageSchema, 'message');
    }
    expect(report.entries.some((e) => e.messages.length > 0)).toBe(true);
  });

  it('the upload fields it documents are the ones the route validates', async () => {
    const post = doc.paths['/api/datasets']?.post as unknown as {
      requestBody: { content: Record<string, { schema: ObjectSchema }> };
    };
    const schema = post.requestBody.content['multipart/form-data']?.schema as ObjectSchema;
    const props = schema.properties as Record<string, { pattern?: string; minimum?: number }>;
    expect(schema.required).toEqual(['file', 'country', 'year', 'batchId']);
    const tiny = { name: 'tiny.csv', bytes: 'patient_id\n' };
    const fields = (over: Record<string, string>) => ({
      country: 'KEN',
      year: '2024',
      batchId: 'B1',
      ...over,
    });
    // Each value the document allows is accepted (202), each it refuses is refused (400).
    for (const [over, valid] of [
      [{ country: 'ken' }, true],
      [{ country: 'KENY' }, false],
      [{ batchId: 'a b' }, false],
      [{ batchId: 'lab-A_2024.1' }, true],
      [{ year: '1989' }, false],
    ] as const) {
      const [[name, value]] = Object.entries(over) as [[string, string]];
      const documented =
        name === 'year'
          ? Number(value) >= (props.year?.minimum ?? 0)
          : new RegExp(props[name]?.pattern ?? '').test(value);
      expect(documented, `${name}=${value} in the document`).toBe(valid);
      const res = await upload(glass.url, tiny, fields(over));
      await res.arrayBuffer();
      expect(res.status, `${name}=${value} at the route`).toBe(valid ? 202 : 400);
    }
  });

  it('every documented GET answers a documented status, for an admin and for nobody', async () => {
    const gets = documented().filter((r) => r.startsWith('GET '));
    expect(gets.length).toBeGreaterThan(15);
    for (const route of gets) {
      const path = route.slice(4);
      const url = `${glass.url}${path.replace('{id}', id).replace('{cache}', 'analytics')}`;
      const op = doc.paths[path]?.get as Operation;
      const admin = await fetch(url);
      await admin.arrayBuffer();
      expect(Object.keys(op.responses), `${route} as admin: ${admin.status}`).toContain(
        String(admin.status),
      );
      // lab_a has no culture-negative rows: its SAMPLE file is the documented 404.
      expect(admin.status, route).toBe(path.endsWith('/sample.csv') ? 404 : 200);
      if (op['x-required-role']) {
        const nobody = await anonymousFetch(url);
        await nobody.arrayBuffer();
        expect(nobody.status, route).toBe(401);
        expect(Object.keys(op.responses), route).toContain('401');
      }
    }
  }, 60_000);
});
