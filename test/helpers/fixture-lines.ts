import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';

/** One event a test fixture printed on stdout as a JSON line `{"e": name, …}`. */
export interface FixtureLine {
  readonly e: string;
  readonly [key: string]: unknown;
}

/**
 * Follows a fixture child process: its `{"e": …}` JSON lines on stdout (other output ignored),
 * its stderr, its exit, and `waitFor(event)`, which rejects (with stderr) when the child exits
 * before printing that event.
 */
export function fixtureLines(
  child: ChildProcess & { readonly stdout: Readable; readonly stderr: Readable },
) {
  const lines: FixtureLine[] = [];
  let pending = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const part of parts)
      if (part.startsWith('{"e":')) lines.push(JSON.parse(part) as FixtureLine);
    for (const w of waiters) w();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      resolve(code);
      for (const w of waiters) w();
    });
  });
  const waitFor = (e: string) =>
    new Promise<FixtureLine>((resolve, reject) => {
      const check = () => {
        const found = lines.find((l) => l.e === e);
        if (found) {
          waiters.delete(check);
          resolve(found);
        } else if (child.exitCode !== null) {
          waiters.delete(check);
          reject(new Error(`the fixture exited before "${e}"; stderr:\n${stderr}`));
        }
      };
      waiters.add(check);
      check();
    });
  return { lines, exited, waitFor, stderr: () => stderr };
}
