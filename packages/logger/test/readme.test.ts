import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { codeBlocks, listen, tsBlocks, typecheckSamples } from '../../../test/helpers/index.js';
import { loggerAdminRouter, requestContext } from '../src/index.js';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const blocks = tsBlocks(join(packageDir, 'README.md'));
const readme = readFileSync(join(packageDir, 'README.md'), 'utf8');

interface Curl {
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body: string | undefined;
  readonly url: string;
  /** The `# ...` line under the command: the answer the README shows. */
  readonly shown: unknown;
}

/** The curl commands of the README's shell blocks (the few flags they use) and the answers shown. */
function curls(markdown: string): Curl[] {
  const out: Curl[] = [];
  for (const block of codeBlocks(markdown)) {
    if (block.lang !== 'sh' || !block.code.includes('curl ')) continue;
    const lines = block.code.replace(/\\\n\s*/g, ' ').split('\n');
    lines.forEach((line, index) => {
      if (!line.startsWith('curl ')) return;
      const words = [...line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map(
        (m) => m[1] ?? m[2] ?? m[3] ?? '',
      );
      let method = 'GET';
      let body: string | undefined;
      let url = '';
      const headers: Record<string, string> = {};
      for (let i = 1; i < words.length; i++) {
        const word = words[i] ?? '';
        if (word === '-X') method = words[++i] ?? '';
        else if (word === '-H') {
          const [name, ...value] = (words[++i] ?? '').split(':');
          headers[(name ?? '').trim()] = value.join(':').trim();
        } else if (word === '-d') body = words[++i];
        else if (word.startsWith('http')) url = word;
        else throw new Error(`README curl: unexpected argument ${word}`);
      }
      const next = lines[index + 1] ?? '';
      out.push({
        method,
        headers,
        body,
        url,
        shown: next.startsWith('# ') ? JSON.parse(next.slice(2)) : undefined,
      });
    });
  }
  return out;
}

describe('README code samples', () => {
  it('has TypeScript samples', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
  });

  it('every ```ts block type-checks against the built package', { timeout: 120_000 }, () => {
    expect(typecheckSamples('logger', blocks)).toEqual([]);
  });

  it('the test-logger sample runs as written', async () => {
    const { createTestLogger } = await import('../src/testing.js');
    const sample = blocks.find((b) => b.includes('createTestLogger()')) ?? '';
    const body = sample.replace(/^import .*$/m, '').replace(/console\.log\(.*\);\n/, '');
    const run = new Function('createTestLogger', body) as (f: typeof createTestLogger) => void;
    expect(() => run(createTestLogger)).not.toThrow();
  });

  it('the admin-route curl commands answer as shown', async () => {
    const commands = curls(readme);
    expect(commands.map((c) => `${c.method} ${new URL(c.url).pathname}`)).toEqual([
      'GET /admin/loggers',
      'PUT /admin/loggers/root',
    ]);
    const { createTestLogger } = await import('../src/testing.js');
    const { logger } = createTestLogger({ level: 'info' });
    const token = 'readme-admin-token';
    const app = express();
    app.use(requestContext());
    app.use(
      '/admin',
      loggerAdminRouter({
        logger,
        authorize: (req) => req.headers.authorization === `Bearer ${token}`,
      }),
    );
    const server = await listen(app);
    try {
      for (const c of commands) {
        const headers = Object.fromEntries(
          Object.entries(c.headers).map(([k, v]) => [k, v.replace('$ADMIN_TOKEN', token)]),
        );
        const url = c.url.replace('http://localhost:3000', server.url);
        const res = await fetch(url, { method: c.method, headers, body: c.body ?? null });
        expect(res.status).toBe(200);
        const answer = (await res.json()) as Record<string, unknown>;
        // Same fields and values, except the time a TTL ends.
        const shown = c.shown as Record<string, unknown>;
        if ('expiresAt' in shown && typeof shown.expiresAt === 'string') {
          expect(answer.expiresAt).toEqual(expect.any(String));
          expect({ ...answer, expiresAt: 'T' }).toEqual({ ...shown, expiresAt: 'T' });
        } else expect(answer).toEqual(shown);
        // Without the token the same command is refused.
        const refused = await fetch(url, { method: c.method, body: c.body ?? null });
        expect(refused.status).toBe(403);
      }
    } finally {
      await server.close();
      await logger.close();
    }
  });
});
