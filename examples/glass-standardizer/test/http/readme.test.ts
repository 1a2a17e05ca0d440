import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateMarkdown } from '@shipshape/config';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schema } from '../../src/config.js';
import { type ChildGlass, EXAMPLE_ROOT, spawnGlass } from './child.js';
import { ADMIN_TOKEN } from './support.js';

const README = readFileSync(join(EXAMPLE_ROOT, 'README.md'), 'utf8');
const SAMPLE = 'test/fixtures/samples/lab_a_2024.csv';

/** The ```sh blocks of the README that call curl against $BASE. */
function walkthroughBlocks(): string[] {
  return [...README.matchAll(/```sh\n([\s\S]*?)```/g)]
    .map((m) => m[1] ?? '')
    .filter((block) => block.includes('curl') && block.includes('$BASE'));
}

interface Documented {
  readonly status: number;
  readonly method: string;
  readonly url: RegExp;
  readonly line: string;
}

/** Each curl command with the status its preceding comment documents (`→ 202`, `→ 200`). */
function documented(block: string, base: string): Documented[] {
  const lines = block.replace(/\\\n\s*/g, ' ').split('\n');
  const out: Documented[] = [];
  let status: number | undefined;
  for (const line of lines) {
    const comment = /^#.*→ (\d{3})/.exec(line);
    if (comment) status = Number(comment[1]);
    if (!/\bcurl\b/.test(line)) continue;
    const target = /"\$BASE([^"?]*)(\?[^"]*)?"/.exec(line);
    if (!target) throw new Error(`README curl line without "$BASE...": ${line}`);
    if (status === undefined)
      throw new Error(`README curl line without a documented status: ${line}`);
    const path = (target[1] ?? '')
      .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      .replace(/\\\$ID/g, '[0-9a-f-]{36}');
    out.push({
      status,
      method: line.includes(' -F ') ? 'POST' : 'GET',
      url: new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}${path}(\\?.*)?$`),
      line: line.trim(),
    });
  }
  return out;
}

describe('README', () => {
  it('holds the configuration table generated from the schema', () => {
    expect(README).toContain(generateMarkdown(schema).trim());
  });

  describe('curl walkthrough, run as written against the built service (child process)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'glass-readme-'));
    const work = join(dir, 'work');
    let glass: ChildGlass;

    beforeAll(async () => {
      mkdirSync(join(work, 'test/fixtures/samples'), { recursive: true });
      copyFileSync(join(EXAMPLE_ROOT, SAMPLE), join(work, SAMPLE));
      glass = await spawnGlass({
        NODE_ENV: 'development',
        DATA_DIR: join(dir, 'data'),
        LOG_DIR: join(dir, 'logs'),
        LOG_LEVEL: 'warn',
      });
    }, 90_000);
    afterAll(async () => {
      await glass?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('every curl command gets its documented status and the script succeeds', async () => {
      const blocks = walkthroughBlocks();
      expect(blocks).toHaveLength(1);
      const block = blocks[0] as string;
      const expected = documented(block, glass.url);
      expect(expected.map((d) => d.status)).toEqual([202, 200, 200, 200, 200, 200, 200]);

      // Records each curl call's method, status and URL on stderr, leaving stdout as the reader sees it.
      const wrapper =
        'curl() { command curl -w "%{stderr}@@ %{method} %{http_code} %{url_effective}\\n" "$@"; }\n';
      const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
        (resolve) => {
          const bash = spawn('bash', ['-c', wrapper + block], {
            cwd: work,
            env: { PATH: process.env.PATH ?? '', BASE: glass.url, ADMIN_TOKEN },
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let stdout = '';
          let stderr = '';
          bash.stdout.setEncoding('utf8').on('data', (c: string) => {
            stdout += c;
          });
          bash.stderr.setEncoding('utf8').on('data', (c: string) => {
            stderr += c;
          });
          const timer = setTimeout(() => bash.kill('SIGKILL'), 90_000);
          bash.on('exit', (code) => {
            clearTimeout(timer);
            resolve({ code, stdout, stderr });
          });
        },
      );
      expect(result.code, `${result.stderr}\n${result.stdout}`).toBe(0);

      const calls = [...result.stderr.matchAll(/^@@ (\S+) (\d{3}) (\S+)$/gm)].map((m) => ({
        method: m[1] as string,
        status: Number(m[2]),
        url: m[3] as string,
      }));
      for (const call of calls) {
        const doc = expected.find((d) => d.method === call.method && d.url.test(call.url));
        expect(doc, `${call.method} ${call.url} is not a documented command`).toBeDefined();
        expect({ url: call.url, status: call.status }).toEqual({
          url: call.url,
          status: doc?.status,
        });
      }
      for (const doc of expected)
        expect(
          calls.some((c) => c.method === doc.method && doc.url.test(c.url)),
          `never ran: ${doc.line}`,
        ).toBe(true);

      expect(result.stdout).toMatch(/dataset [0-9a-f-]{36} is done/);
      expect(result.stdout).toContain('"entries"');
      expect(result.stdout).toContain('"ESCCOL"');
      const ris = readFileSync(join(work, 'glass_ris.csv'), 'utf8');
      expect(ris.split('\n')[0]).toMatch(/^COUNTRY,YEAR,SPECIMEN,PATHOGEN,/);
      expect(ris).toContain('KEN,2024,');
      expect(ris).toContain('LAB-A-2024');
    }, 120_000);
  });
});
