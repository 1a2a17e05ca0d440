import type { DatasetRecord } from '../types.js';

/** A dataset as the API shows it (list, status, upload answer, progress events). */
export function summary(dataset: DatasetRecord) {
  return {
    id: dataset.id,
    status: dataset.status,
    progress: dataset.progress,
    country: dataset.country,
    year: dataset.year,
    batchId: dataset.batchId,
    format: dataset.format,
    dateFormat: dataset.dateFormat,
    filename: dataset.filename,
    createdAt: dataset.createdAt,
    updatedAt: dataset.updatedAt,
    startedAt: dataset.startedAt,
    finishedAt: dataset.finishedAt,
    error: dataset.error,
    counts: dataset.counts,
    quality: dataset.quality
      ? { ...dataset.quality.summary, blocking: dataset.quality.blocking }
      : null,
    antibiotics: dataset.antibiotics,
    owner: dataset.owner,
    links: links(dataset.id),
  };
}

export function links(id: string) {
  const self = `/api/datasets/${id}`;
  return {
    self,
    quality: `${self}/quality`,
    isolates: `${self}/isolates.csv`,
    issues: `${self}/quality/issues.csv`,
    events: `${self}/events`,
    ris: `${self}/glass/ris.csv`,
    sample: `${self}/glass/sample.csv`,
    resistance: `${self}/resistance`,
    antibiogram: `${self}/antibiogram`,
  };
}
