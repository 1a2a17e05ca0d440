import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// npm puts a LICENSE file from the package directory into every tarball; each package keeps a copy
// of the repository's, and this test keeps the copies identical to it.

const root = resolve(import.meta.dirname, '../..');
const license = existsSync(join(root, 'LICENSE'))
  ? readFileSync(join(root, 'LICENSE'), 'utf8')
  : '';

const packages = readdirSync(join(root, 'packages'))
  .sort()
  .filter((dir) => existsSync(join(root, 'packages', dir, 'package.json')));

describe('LICENSE', () => {
  it('the repository has an MIT LICENSE, as its package.json says', () => {
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      license: string;
    };
    expect(manifest.license).toBe('MIT');
    expect(license).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} shipshape contributors\n/);
    expect(license).toContain('THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND');
  });

  it.each(packages)('packages/%s has the same LICENSE and declares MIT', (dir) => {
    const manifest = JSON.parse(
      readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8'),
    ) as { license: string };
    expect(manifest.license).toBe('MIT');
    const file = join(root, 'packages', dir, 'LICENSE');
    expect(existsSync(file), `packages/${dir}/LICENSE exists`).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe(license);
  });
});
