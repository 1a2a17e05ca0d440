import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createGlassMetrics } from '../../src/http/metrics.js';
import { createSqliteStorage, type GlassStorage } from '../../src/index.js';
import { createProcessor } from '../../src/processing/processor.js';
import { NOW, SAMPLES } from '../helpers.js';

interface Line {
  readonly message: string;
  readonly meta: Record<string, unknown> | undefined;
}

function instance(storage: GlassStorage, leaseMs: number) {
  const lines: Line[] = [];
  const record = (message: string, meta?: Record<string, unknown>) => lines.push({ message, meta });
  const processor = createProcessor({
    storage,
    lifecycle: undefined,
    logger: { info: record, error: record },
    metrics: createGlassMetrics(new Registry()),
    processOptions: { now: NOW },
    onChange: async () => undefined,
    leaseMs,
  });
  const processed = () => lines.filter((l) => l.message === 'dataset processed');
  return { processor, lines, processed };
}

describe('processor leases (instances sharing one storage)', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  async function setup() {
    const dir = mkdtempSync(join(tmpdir(), 'glass-processor-'));
    const storage = createSqliteStorage({ filename: join(dir, 'glass.db') });
    await storage.init();
    cleanup.push(
      () => rmSync(dir, { recursive: true, force: true }),
      () => storage.close(),
    );
    const upload = join(dir, 'upload.csv');
    copyFileSync(join(SAMPLES, 'lab_a_2024.csv'), upload);
    const dataset = await storage.createDataset({
      country: 'KEN',
      year: 2024,
      batchId: 'B-1',
      format: 'csv',
      uploadPath: upload,
    });
    return { dir, storage, dataset };
  }

  it('two instances given the same dataset process it once', async () => {
    const { storage, dataset } = await setup();
    const a = instance(storage, 60_000);
    const b = instance(storage, 60_000);
    a.processor.enqueue(dataset.id);
    b.processor.enqueue(dataset.id);
    await Promise.all([a.processor.idle(), b.processor.idle()]);
    expect(a.processed().length + b.processed().length).toBe(1);
    expect((await storage.getDataset(dataset.id))?.status).toBe('done');
    expect(await storage.countIsolates(dataset.id)).toBe(205);
  });

  it('takes a dataset over once the lease of an owner that stopped renewing runs out', async () => {
    const { storage, dataset } = await setup();
    // A crashed instance: it claimed the dataset and will never renew or release it.
    await storage.updateDataset(dataset.id, { status: 'processing' });
    expect(await storage.claimDataset(dataset.id, 'crashed', 300)).toBe(true);
    const b = instance(storage, 300);
    expect(await b.processor.resume()).toEqual([dataset.id]);
    await b.processor.idle();
    expect(b.lines.map((l) => l.message)).toContain(
      'dataset held by another instance; checking again later',
    );
    expect(b.processed()).toHaveLength(0);
    // The retry comes after one lease period.
    await expect
      .poll(async () => (await storage.getDataset(dataset.id))?.status, { timeout: 10_000 })
      .toBe('done');
    expect(b.processed()).toHaveLength(1);
    expect(await storage.countIsolates(dataset.id)).toBe(205);
  });

  it('resume leaves datasets whose upload this instance cannot read to the instance that can', async () => {
    const { storage, dataset } = await setup();
    const elsewhere = await storage.createDataset({
      country: 'KEN',
      year: 2024,
      batchId: 'B-2',
      format: 'csv',
      uploadPath: join(tmpdir(), 'no-such-dir-glass', 'upload.csv'),
    });
    const b = instance(storage, 60_000);
    expect(await b.processor.resume()).toEqual([dataset.id]);
    await b.processor.idle();
    expect((await storage.getDataset(elsewhere.id))?.status).toBe('queued');
    expect(b.lines.find((l) => l.message.startsWith('datasets left for'))?.meta).toEqual({
      datasets: [elsewhere.id],
    });
  });
});
