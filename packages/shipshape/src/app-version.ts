import { readFileSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';

/** `version` of the app's own package.json: the nearest one above `start` that names a package. */
function versionAbove(start: string): string | undefined {
  let dir = resolve(start);
  for (;;) {
    let manifest: { name?: unknown; version?: unknown } | undefined;
    try {
      manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as typeof manifest;
    } catch {
      // None here (or unreadable): look further up.
    }
    // A package.json with neither name nor version only marks a module type ({"type":"module"}
    // in dist/): the app's manifest is further up.
    if (manifest && typeof manifest === 'object' && ('name' in manifest || 'version' in manifest))
      return typeof manifest.version === 'string' && manifest.version !== ''
        ? manifest.version
        : undefined;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * The running app's version, read once and synchronously: from the package.json nearest above
 * the main module (`process.argv[1]`), else above the working directory. A main module inside
 * `node_modules` is a runner (vitest, a process manager's wrapper), not the app, so the working
 * directory is used then. Any error → '0.0.0'. Not `npm_package_version`: npm sets that only
 * under `npm run`, and then for whichever package.json npm ran.
 */
export function appVersion(): string {
  try {
    const main = process.argv[1];
    const fromMain =
      main && !resolve(main).split(sep).includes('node_modules')
        ? versionAbove(dirname(resolve(main)))
        : undefined;
    return fromMain ?? versionAbove(process.cwd()) ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}
