// Every ```ts block of the README must type-check against the built package.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(`${root}README.md`, 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
const dir = `${root}test/.readme-${process.pid}/`;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('README', () => {
  it('has code samples', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(2);
  });

  it('every ts sample type-checks against the built package', { timeout: 120_000 }, () => {
    mkdirSync(dir, { recursive: true });
    const files = blocks.map((code, i) => {
      const file = `${dir}sample-${i}.ts`;
      writeFileSync(file, `${code}\nexport {};\n`);
      return file;
    });
    const program = ts.createProgram(files, {
      target: ts.ScriptTarget.ES2023,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      strict: true,
      noUncheckedIndexedAccess: true,
      exactOptionalPropertyTypes: true,
      skipLibCheck: true,
      noEmit: true,
      types: ['node'],
      lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
    });
    const diagnostics = ts
      .getPreEmitDiagnostics(program)
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(diagnostics).toEqual([]);
  });

  it('the Kubernetes example gives the defaults enough grace period', () => {
    const manifest = readFileSync(`${root}examples/kubernetes.yaml`, 'utf8');
    const grace = Number(/terminationGracePeriodSeconds: (\d+)/.exec(manifest)?.[1]);
    // readinessDelayMs 5 s + drainTimeoutMs 25 s + three 5 s hooks, as the README states.
    expect(grace).toBeGreaterThanOrEqual(5 + 25 + 3 * 5);
    expect(manifest).toMatch(/readinessProbe:\s+httpGet: \{ path: \/ready/);
  });
});
