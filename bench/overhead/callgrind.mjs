// Runs a node script under valgrind's callgrind and reads the instruction total it wrote: the one
// harness of instructions.mjs (in process) and instructions-served.mjs (behind a socket).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let runs = 0;

/**
 * Starts `node …nodeArgs` under callgrind (NODE_ENV=production plus `env`; with `ipc`, an IPC
 * channel as fork() has). `exited` resolves with [code, signal]; `instructions()` waits for the
 * exit and returns the total instructions of the run (all threads), removing the output file.
 */
export function underCallgrind(label, nodeArgs, { env = {}, ipc = false } = {}) {
  const out = join(
    tmpdir(),
    `shipshape-cg-${process.pid}-${label.replace(/\W/g, '_')}-${++runs}.out`,
  );
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      `--callgrind-out-file=${out}`,
      '--dump-line=no',
      process.execPath,
      ...nodeArgs,
    ],
    {
      env: { ...process.env, NODE_ENV: 'production', ...env },
      stdio: ['ignore', 'ignore', 'ignore', ...(ipc ? ['ipc'] : [])],
    },
  );
  const exited = once(child, 'exit');
  return {
    child,
    exited,
    async instructions() {
      await exited;
      const text = await readFile(out, 'utf8');
      await rm(out, { force: true });
      const totals = /^(?:totals|summary): (\d+)/m.exec(text);
      if (!totals) throw new Error(`${label}: no totals in ${out}`);
      return Number(totals[1]);
    },
  };
}
