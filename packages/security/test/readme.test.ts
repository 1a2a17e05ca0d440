import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { RequestListener } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { listen, tsBlocks, typecheckSamples } from '../../../test/helpers/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = join(here, '..');
const readmePath = join(packageDir, 'README.md');
// Under coverage/ (ignored by git and Biome) so a run in progress never leaves lintable or
// committable files in the source tree.
const tmp = join(packageDir, 'coverage', `.readme-${process.pid}`);

/** The sample that follows a heading: the first ts block after `## <heading>`. */
async function sampleAfter(heading: string): Promise<string> {
  const readme = await readFile(readmePath, 'utf8');
  const at = readme.indexOf(`\n## ${heading}\n`);
  expect(at, heading).toBeGreaterThan(-1);
  return /```ts\n([\s\S]*?)```/.exec(readme.slice(at))?.[1] ?? '';
}

describe('README code samples', () => {
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('type-check against the built package', { timeout: 120_000 }, async () => {
    const blocks = tsBlocks(readmePath);
    // every section's samples: quick start, headers (2), ipFilter, cors, csrf, input, auth
    expect(blocks.length).toBeGreaterThanOrEqual(8);
    expect(typecheckSamples('security', blocks)).toEqual([]);
  });

  it('the quick start runs: validation, upload, csvSafe, 404 problem', async () => {
    const quickStart = await sampleAfter('Input and errors: quick start');
    await mkdir(tmp, { recursive: true });
    const file = join(tmp, 'quick-start.ts');
    await writeFile(
      file,
      (quickStart ?? '').replaceAll(
        "'@shipshape/security'",
        `'${join(packageDir, 'src', 'index.js')}'`,
      ),
    );
    const uploads = await mkdtemp(join(tmpdir(), 'shipshape-readme-'));
    process.env.UPLOAD_DIR = uploads;
    try {
      const { app } = (await import(file)) as { app: RequestListener };
      const server = await listen(app);
      try {
        const user = await fetch(`${server.url}/users/42?notify=true&x=1`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: 'ada@example.com' }),
        });
        expect(await user.json()).toEqual({ id: 42, notify: true, email: 'ada@example.com' });
        const bad = await fetch(`${server.url}/users/x`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"email":"nope"}',
        });
        expect(bad.status).toBe(400);
        expect(bad.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        const form = new FormData();
        form.append('file', new Blob(['a,b\n1,2\n'], { type: 'text/csv' }), 'data.csv');
        const upload = await fetch(`${server.url}/uploads`, { method: 'POST', body: form });
        expect(upload.status).toBe(201);
        expect(await upload.json()).toMatchObject({ name: 'data.csv', size: 8 });
        expect(await readdir(uploads)).toHaveLength(1); // kept by the route
        const csv = await fetch(`${server.url}/export.csv`);
        expect(await csv.text()).toBe("'=1+1\nAda");
        const missing = await fetch(`${server.url}/nope`);
        expect(missing.status).toBe(404);
      } finally {
        await server.close();
      }
    } finally {
      delete process.env.UPLOAD_DIR;
      await rm(uploads, { recursive: true, force: true });
    }
  }, 60_000);
});
