#!/usr/bin/env node
// Keeps the current builds of the packages (and bench/) as the "before" side of an A/B: a
// directory whose node_modules has copies of each package's package.json + dist and links to
// everything else. Run it before rebuilding; then BENCH_BEFORE=<dir> for ab.mjs, cpu.mjs,
// run.mjs and parts-ab.mjs.   Usage: node bench/overhead/snapshot-before.mjs /tmp/before
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../../', import.meta.url).pathname;
const target = process.argv[2];
if (!target) throw new Error('usage: snapshot-before.mjs <dir>');
rmSync(target, { recursive: true, force: true });
mkdirSync(join(target, 'node_modules', '@shipshape'), { recursive: true });
for (const entry of readdirSync(join(root, 'node_modules'))) {
  if (entry === '@shipshape' || entry === 'shipshape') continue;
  symlinkSync(join(root, 'node_modules', entry), join(target, 'node_modules', entry));
}
const copy = (pkgDir, to) => {
  mkdirSync(to, { recursive: true });
  cpSync(join(pkgDir, 'package.json'), join(to, 'package.json'));
  cpSync(join(pkgDir, 'dist'), join(to, 'dist'), { recursive: true });
  if (existsSync(join(pkgDir, 'node_modules')))
    symlinkSync(join(pkgDir, 'node_modules'), join(to, 'node_modules'));
};
for (const p of ['logger', 'security', 'health', 'lifecycle', 'config', 'cache'])
  copy(join(root, 'packages', p), join(target, 'node_modules', '@shipshape', p));
copy(join(root, 'packages', 'shipshape'), join(target, 'node_modules', 'shipshape'));
cpSync(join(root, 'package.json'), join(target, 'package.json'));
for (const f of ['lib.mjs', 'cpu-host.mjs', 'server-host.mjs', 'overhead', 'logger'])
  cpSync(join(root, 'bench', f), join(target, 'bench', f), { recursive: true });
console.log(`snapshot of the current builds in ${target}`);
