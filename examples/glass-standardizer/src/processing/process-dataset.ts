import { assertDatasetFields } from '../domain/dataset-fields.js';
import { type ProcessOptions, resolveProcessOptions } from '../domain/process-options.js';
import { AbortedError, type ProcessHooks, type ProcessJob, standardize } from '../pipeline.js';
import { asStorageError, storageFault } from '../storage/errors.js';
import type { DatasetRecord, GlassStorage } from '../types.js';
import { datasetStatus } from './dataset-status.js';

/**
 * Standardizes one uploaded file into the dataset: streams rows, stores isolates in batches,
 * computes first isolates, RIS/SAMPLE, the quality report and the analytics cube. Resolves with the
 * final dataset record (status done, failed or interrupted); rejects with a `StorageError` when the
 * storage becomes unavailable (the dataset is left `processing` for the caller to retry), and when
 * the storage fails while recording a failure.
 */
export async function processDataset(
  job: ProcessJob,
  storage: GlassStorage,
  options: ProcessOptions = {},
  hooks: ProcessHooks = {},
): Promise<DatasetRecord> {
  const config = resolveProcessOptions(options);
  const dataset = await storage.getDataset(job.datasetId);
  if (!dataset) {
    throw new Error(
      `glass-standardizer: processDataset: dataset "${job.datasetId}" does not exist`,
    );
  }
  assertDatasetFields(dataset);
  const status = datasetStatus(storage);
  await storage.deleteIsolates(dataset.id);
  await status.started(dataset.id);
  try {
    const outcome = await standardize(job, dataset, storage, config, {
      ...hooks,
      saveProgress: (progress) => status.progress(dataset.id, progress),
    });
    return (await status.done(dataset.id, outcome)) as DatasetRecord;
  } catch (err) {
    const aborted = err instanceof AbortedError || hooks.signal?.aborted === true;
    const fault = storageFault(err);
    // The storage went away: nothing can be recorded now. The caller retries the dataset once
    // the storage answers again (it is still `processing`, so a restart resumes it too).
    if (fault === 'unavailable' && !aborted) throw asStorageError(err);
    // A full disk: the partial isolates go first, which frees room to record the failure.
    await storage.deleteIsolates(dataset.id);
    if (aborted)
      return (await status.interrupted(dataset.id, 'processing was interrupted', {
        finished: true,
      })) as DatasetRecord;
    return (await status.failed(
      dataset.id,
      fault === 'full'
        ? 'the disk under DATA_DIR filled up while the dataset was stored; free space, then upload the file again'
        : (err as Error).message,
    )) as DatasetRecord;
  }
}
