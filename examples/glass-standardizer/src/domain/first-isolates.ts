import type { FirstIsolateFlag, FirstIsolateKey, GlassStorage } from '../types.js';
import type { QualityAccumulator } from './quality.js';
import type { RisCandidates } from './ris.js';

/**
 * GLASS rule: earliest isolate per patient × pathogen × specimen × year (ties: lower row).
 * Episode rule: counted when no counted isolate of the same patient and pathogen lies within
 * `episodeDays` before it. Isolates without patient id or date are never first isolates.
 * Writes only the flags that differ from the stored ones, in isolate id order.
 */
export async function markFirstIsolates(
  storage: GlassStorage,
  datasetId: string,
  episodeDays: number,
  placeholders: ReadonlySet<string>,
  checkAbort: () => void = () => undefined,
  onGlassFirst: (key: FirstIsolateKey) => void = () => undefined,
): Promise<{ glass: number; episode: number; noPatient: number }> {
  let group = '';
  let seenSpecimenYear = new Set<string>();
  let lastCounted: number | undefined;
  // Changed flags by isolate id (bit 4 = changed, bit 1 GLASS, bit 2 episode), written after the
  // pass in id order: the storage then touches each page of the table once, not once per patient.
  let changes = new Uint8Array(1024);
  let maxId = 0;
  let glass = 0;
  let episode = 0;
  let keyed = 0;
  let noPatient = 0;
  for await (const key of storage.iterateFirstIsolateKeys(datasetId)) {
    keyed++;
    if (keyed % 5000 === 0) checkAbort();
    let isGlass = false;
    let isEpisode = false;
    if (key.patientId === '' || placeholders.has(key.patientId.toLowerCase())) {
      noPatient++;
    } else {
      const g = `${key.patientId}\u0000${key.pathogen}`;
      if (g !== group) {
        group = g;
        seenSpecimenYear = new Set();
        lastCounted = undefined;
      }
      const sy = `${key.specimen}|${key.year}`;
      isGlass = !seenSpecimenYear.has(sy);
      if (isGlass) seenSpecimenYear.add(sy);
      isEpisode = lastCounted === undefined || key.dateDays - lastCounted > episodeDays;
      if (isEpisode) lastCounted = key.dateDays;
      if (isGlass) {
        glass++;
        onGlassFirst(key);
      }
      if (isEpisode) episode++;
    }
    if (isGlass === key.glass && isEpisode === key.episode) continue;
    if (key.isolateId >= changes.length) {
      const grown = new Uint8Array(Math.max(changes.length * 2, key.isolateId + 1));
      grown.set(changes);
      changes = grown;
    }
    changes[key.isolateId] = 4 | (isGlass ? 1 : 0) | (isEpisode ? 2 : 0);
    maxId = Math.max(maxId, key.isolateId);
  }
  let pending: FirstIsolateFlag[] = [];
  for (let id = 1; id <= maxId; id++) {
    const f = changes[id] as number;
    if (f === 0) continue;
    pending.push({ isolateId: id, glass: (f & 1) !== 0, episode: (f & 2) !== 0 });
    if (pending.length >= 5000) {
      await storage.setFirstIsolateFlags(datasetId, pending);
      pending = [];
      checkAbort();
    }
  }
  await storage.setFirstIsolateFlags(datasetId, pending);
  const total = await storage.countIsolates(datasetId);
  // Undated isolates are not in the key order at all.
  return { glass, episode, noPatient: noPatient + (total - keyed) };
}

/**
 * The first-isolate pass of a dataset, in storage order (patient, pathogen, date, row): flat
 * memory. The RIS is counted in the same pass from GLASS-rule first isolates of the dataset's
 * year; rule 9 (NOT_FIRST_ISOLATE) and OUTSIDE_YEAR (rule 10) are reported.
 */
export async function firstIsolatePass(options: {
  readonly storage: GlassStorage;
  readonly datasetId: string;
  readonly year: number;
  readonly isolates: number;
  readonly episodeDays: number;
  readonly placeholders: ReadonlySet<string>;
  readonly candidates: RisCandidates;
  readonly q: QualityAccumulator;
  readonly checkAbort: () => void;
}): Promise<{ glass: number; episode: number }> {
  const { year, candidates, q } = options;
  let outOfYear = 0;
  const firsts = await markFirstIsolates(
    options.storage,
    options.datasetId,
    options.episodeDays,
    options.placeholders,
    options.checkAbort,
    (key) => {
      if (key.year !== year) outOfYear++;
      else candidates.count(key.isolateId);
    },
  );
  if (outOfYear > 0) {
    q.addCount('OUTSIDE_YEAR', outOfYear, { year });
  }
  q.addCount('NOT_FIRST_ISOLATE', options.isolates - firsts.glass, {
    noPatient: firsts.noPatient,
  });
  return firsts;
}
