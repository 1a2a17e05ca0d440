// Every ```ts block of the README must type-check against the built package.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { tsBlocks, typecheckSamples } from '../../../test/helpers/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const blocks = tsBlocks(`${root}README.md`);
const dir = `${root}test/.readme-${process.pid}/`;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('README', () => {
  it('has code samples', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(2);
  });

  it('every ts sample type-checks against the built package', { timeout: 120_000 }, () => {
    expect(typecheckSamples('health', blocks)).toEqual([]);
  });

  it('the testing-helpers sample runs against the built package', { timeout: 60_000 }, () => {
    const code = blocks.find((b) => b.includes('@shipshape/health/testing'));
    expect(code).toBeDefined();
    mkdirSync(dir, { recursive: true });
    const js = ts.transpileModule(code ?? '', {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2023 },
    }).outputText;
    const file = `${dir}run-testing-sample.mjs`;
    writeFileSync(file, js);
    // Throws (non-zero exit) if any expectation in the sample rejects.
    const out = execFileSync(process.execPath, [file], { encoding: 'utf8', timeout: 30_000 });
    // db ran once per probe (cacheTtlMs 0); its last result (fail) shows as 0 in shipshape_health_check_up.
    expect(out.trim()).toBe('3 0');
  });
});
