// Opens an XLSX reader, takes one row and drops the iterator without return(), as a consumer
// that bails out early does; after garbage collection no descriptor of the file may be left.
import { readdirSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { openRecords } from '../../dist/io/input.js';

const path = process.argv[2];
const open = () =>
  readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false;
    }
  }).length;

async function takeOneRow() {
  const reader = await openRecords(path, { format: 'xlsx' });
  await reader.records[Symbol.asyncIterator]().next();
}
await takeOneRow();
const before = open();
for (let i = 0; i < 50 && open() > 0; i++) {
  globalThis.gc();
  await sleep(20);
}
process.stdout.write(JSON.stringify({ before, after: open() }));
