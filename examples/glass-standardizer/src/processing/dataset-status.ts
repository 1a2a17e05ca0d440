import type { DatasetRecord, GlassStorage, NewDataset } from '../types.js';

/** What a finished processing run stores beside `done`. */
export type DatasetOutcome = Pick<
  DatasetRecord,
  'counts' | 'quality' | 'ris' | 'sample' | 'antibiotics'
>;

/**
 * The one writer of a dataset's status and progress: every transition (queued → processing →
 * done | failed | interrupted, interrupted → queued) is a method here, and nothing else in the
 * service writes them; the HTTP routes read the stored dataset and ask the processor. Each
 * method is one storage write and resolves with the dataset as stored (undefined when it is gone).
 */
export interface DatasetStatus {
  /** A new dataset, `queued`, for an upload stored at `input.uploadPath`. */
  create(input: NewDataset): Promise<DatasetRecord>;
  /** `processing` from progress 0; the times and error of an earlier run are cleared. */
  started(id: string): Promise<DatasetRecord | undefined>;
  /** Progress while `processing`, 0–100. */
  progress(id: string, progress: number): Promise<DatasetRecord | undefined>;
  /** `done`, with everything processing produced. */
  done(id: string, outcome: DatasetOutcome): Promise<DatasetRecord | undefined>;
  /** `failed`, with the reason. */
  failed(id: string, error: string): Promise<DatasetRecord | undefined>;
  /** `interrupted` (a shutdown or an abort), with the reason; `finishedAt` when it ended a run. */
  interrupted(
    id: string,
    error: string,
    options?: { finished?: boolean },
  ): Promise<DatasetRecord | undefined>;
  /** `queued` again (an interrupted dataset waiting for its turn). */
  queued(id: string): Promise<DatasetRecord | undefined>;
}

export function datasetStatus(storage: GlassStorage): DatasetStatus {
  const now = () => new Date().toISOString();
  return {
    create: (input) => storage.createDataset(input),
    started: (id) =>
      storage.updateDataset(id, {
        status: 'processing',
        progress: 0,
        startedAt: now(),
        finishedAt: null,
        error: null,
      }),
    progress: (id, progress) => storage.updateDataset(id, { progress }),
    done: (id, outcome) =>
      storage.updateDataset(id, { status: 'done', progress: 100, finishedAt: now(), ...outcome }),
    failed: (id, error) =>
      storage.updateDataset(id, { status: 'failed', finishedAt: now(), error }),
    interrupted: (id, error, options = {}) =>
      storage.updateDataset(id, {
        status: 'interrupted',
        ...(options.finished ? { finishedAt: now() } : {}),
        error,
      }),
    queued: (id) => storage.updateDataset(id, { status: 'queued' }),
  };
}
