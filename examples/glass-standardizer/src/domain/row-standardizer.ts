import type { SourceRecord } from '../io/input.js';
import type { DatasetCounts, IsolateRecord, ResultCode } from '../types.js';
import type { ColumnPlan, DateColumn } from './column-plan.js';
import { encodedIsolate, type IsolateFields, resultsEncoder } from './encoded.js';
import {
  ageGroup,
  type buildResultIndex,
  classifyResult,
  DayCache,
  dateShape,
  type HeaderResolution,
  mapOrganism,
  mapSpecimen,
  memoise,
  normaliseValue,
  parseAge,
  type ResultClass,
  shapeToDays,
  slashEvidence,
} from './normalize.js';
import type { ProcessConfig } from './process-options.js';
import type { QualityAccumulator } from './quality.js';
import {
  type Canonical,
  DIGIT_RESULTS,
  PATHOGEN_OTHER,
  type ReferenceTables,
  SPECIMEN_OTHER,
} from './reference.js';
import {
  type buildPanelIndex,
  HashSet53,
  hash53,
  type RisAggregator,
  type RisCandidates,
  type SampleAggregator,
} from './ris.js';

export const COMPLETENESS_FIELDS = [
  'patient_id',
  'date',
  'specimen',
  'organism',
  'sex',
  'age',
  'origin',
  'results',
] as const;
export type CompletenessField = (typeof COMPLETENESS_FIELDS)[number];

function resultFromClass(c: ResultClass, digitColumn: boolean): ResultCode | undefined {
  switch (c.kind) {
    case 'not_tested':
      return undefined;
    case 'interpreted':
      return c.value;
    case 'digit':
      return digitColumn ? DIGIT_RESULTS[c.digit] : 'NO_BREAKPOINT';
    case 'numeric':
      return 'NO_BREAKPOINT';
    default:
      return 'UNREADABLE';
  }
}

// Which of two results for the same antibiotic (e.g. disk and MIC columns) to keep.
const RESULT_RANK: Record<ResultCode, number> = {
  R: 5,
  NS: 5,
  I: 5,
  SDD: 5,
  S: 5,
  NI: 3,
  NO_BREAKPOINT: 2,
  UNREADABLE: 1,
};

/** Patient ids that stand for "unknown" (SPEC §1), lower-cased. */
export function placeholderIds(tables: ReferenceTables): Set<string> {
  return new Set(tables.placeholderPatientIds.map((p) => p.toLowerCase()));
}

export type MutableCounts = { -readonly [K in keyof DatasetCounts]: DatasetCounts[K] };

/** What the row standardizer of one file works with. */
export interface RowContext {
  readonly config: ProcessConfig;
  /** The dataset's year: only its isolates count for SAMPLE and RIS. */
  readonly year: number;
  readonly headers: HeaderResolution;
  /** The header row, trimmed. */
  readonly headerCells: readonly string[];
  readonly plan: ColumnPlan;
  readonly results: ReturnType<typeof buildResultIndex>;
  readonly panels: ReturnType<typeof buildPanelIndex>;
  readonly q: QualityAccumulator;
  /** Row counts (read, skipped, duplicate, no growth) are kept here. */
  readonly counts: MutableCounts;
  readonly sample: SampleAggregator;
  readonly ris: RisAggregator;
  readonly candidates: RisCandidates;
}

export interface RowStandardizer {
  /** One source row → the isolate to store; undefined for a skipped, duplicate or no-growth row. */
  row(record: SourceRecord): IsolateRecord | undefined;
  /** Isolates made so far (the last isolate id). */
  isolates(): number;
  /** Share of the result cells that could not be read (rule 7), when any could not. */
  unreadableShare(): number | undefined;
  /** Rule 11: % of the isolates with each field filled. */
  completeness(): Record<string, number>;
}

/**
 * Standardizes the rows of one file, in order: normalises each cell, reports rules 0 and 3–10 per
 * row, keeps the SAMPLE tallies and the RIS candidates, and encodes the isolate to store.
 */
export function rowStandardizer(context: RowContext): RowStandardizer {
  const { config, year, headers, headerCells, plan, results, panels, q, counts } = context;
  const { sample, ris, candidates } = context;
  const { tables } = config;
  const col = headers.canonical;
  const cell = (cells: readonly string[], name: Canonical): string => {
    const index = col[name];
    return index === undefined ? '' : (cells[index] ?? '').trim();
  };
  const placeholders = placeholderIds(tables);
  const seenRows = new HashSet53();
  const glassSpecimens = new Set(tables.panels.flatMap((p) => p.specimens));
  const filled: Record<CompletenessField, number> = {
    patient_id: 0,
    date: 0,
    specimen: 0,
    organism: 0,
    sex: 0,
    age: 0,
    origin: 0,
    results: 0,
  };
  let resultCells = 0;
  let unreadableCells = 0;
  let isolateId = 0;
  const contradicted = new Set<string>();
  const day = new DayCache();
  const headerWidth = headerCells.length;
  // Pure per-cell conversions, memoised for this file: the same few values repeat on every row.
  const classify = memoise((raw) => classifyResult(raw, results));
  // Per date column: a cell's text → the order evidence it gives and its day number.
  const dateReader = (name: DateColumn) => {
    const order = plan.dates[name]?.order ?? 'DMY';
    return memoise((raw) => {
      const shape = dateShape(raw);
      return { evidence: slashEvidence(shape), days: shapeToDays(shape, order), order };
    });
  };
  const readDate = {
    specimen_date: dateReader('specimen_date'),
    admission_date: dateReader('admission_date'),
    date_of_birth: dateReader('date_of_birth'),
  };
  const normalised = memoise(normaliseValue);
  const specimenOf = memoise((raw) => mapSpecimen(raw, tables));
  const organismOf = memoise((raw) => mapOrganism(raw, tables));
  // One slot per antibiotic of the file; a row's results are kept by slot for the RIS.
  const slots = [...headers.antibiotics];
  const slotOf = new Map(slots.map(([code], s) => [code, s]));
  const rowResults: (ResultCode | undefined)[] = slots.map(() => undefined);
  const encodeResults = resultsEncoder(slots.map(([code]) => code));
  // Per stratum: the slot of each panel antibiotic (-1 when the file has no such column).
  const panelSlots: number[][] = [];
  const slotsOfStratum = (stratum: number): number[] => {
    let found = panelSlots[stratum];
    if (!found) {
      found = ris.antibiotics(stratum).map((code) => slotOf.get(code) ?? -1);
      panelSlots[stratum] = found;
    }
    return found;
  };

  const parseDate = (
    cells: readonly string[],
    name: DateColumn,
    row: number,
  ): { days: number | undefined; raw: string } => {
    const raw = cell(cells, name);
    const { evidence, days, order } = readDate[name](raw);
    if (
      (evidence === 'DMY' || evidence === 'MDY') &&
      evidence !== order &&
      !contradicted.has(name)
    ) {
      contradicted.add(name);
      q.add('DATE_ORDER_CONTRADICTED', row, raw, {
        column: name,
        order,
        evidence,
        lookaheadRows: config.lookaheadRows,
      });
    }
    return { days, raw };
  };

  const standardize = (record: SourceRecord): IsolateRecord | undefined => {
    const { cells, row } = record;
    counts.rowsRead++;
    if (cells.every((c) => c.trim() === '')) {
      counts.skippedRows++;
      return undefined;
    }
    for (let i = 0; i < cells.length; i++) {
      if ((cells[i] as string).length > config.maxCellChars) {
        q.add(
          'CELL_TOO_LARGE',
          row,
          `${headerCells[i] ?? `column ${i + 1}`}: ${(cells[i] as string).length} characters`,
          { maxCellChars: config.maxCellChars },
        );
        counts.skippedRows++;
        return undefined;
      }
    }
    if (cells.length !== headerWidth) {
      q.add('COLUMN_COUNT', row, String(cells.length), { headerWidth });
    }
    const rowHash = hash53(cells.join('\u0001'));
    if (!seenRows.add(rowHash)) {
      counts.duplicateRows++;
      q.add('DUPLICATE_ROWS', row, undefined);
      return undefined;
    }

    const patientId = cell(cells, 'patient_id');
    const placeholder = placeholders.has(patientId.toLowerCase());
    if (placeholder) q.add('PATIENT_PLACEHOLDER', row, patientId);
    if (patientId !== '' && !placeholder) filled.patient_id++;

    const spec = parseDate(cells, 'specimen_date', row);
    let dateDays: number | null = null;
    if (spec.days === undefined) {
      q.add('DATE_INVALID', row, spec.raw);
    } else if (spec.days > config.nowDays) {
      q.add('DATE_FUTURE', row, spec.raw);
    } else if (day.year(spec.days) < 1990) {
      q.add('DATE_BEFORE_1990', row, spec.raw);
    } else {
      dateDays = spec.days;
      filled.date++;
    }

    const sexRaw = normalised(cell(cells, 'sex'));
    const sex = tables.sexValues[sexRaw] ?? 'UNK';
    if (sex !== 'UNK') filled.sex++;
    else if (sexRaw !== '') q.add('SEX_INVALID', row, cell(cells, 'sex'));

    let ageYears: number | null = null;
    if (col.age !== undefined) {
      const ageRaw = cell(cells, 'age');
      const age = parseAge(ageRaw);
      if (age.ok && age.years <= 120) ageYears = age.years;
      else if (ageRaw !== '') q.add('AGE_INVALID', row, ageRaw);
    } else if (col.date_of_birth !== undefined) {
      const dob = parseDate(cells, 'date_of_birth', row);
      if (dob.days !== undefined && dateDays !== null) {
        const years = Math.floor((dateDays - dob.days) / 365.25);
        if (years >= 0 && years <= 120) ageYears = years;
        else q.add('AGE_INVALID', row, dob.raw);
      } else if (dob.raw !== '') {
        q.add('AGE_INVALID', row, dob.raw);
      }
    }
    if (ageYears !== null) filled.age++;

    let origin: 'CO' | 'HO' | 'UNK' = 'UNK';
    const originRaw = normalised(cell(cells, 'origin'));
    if (originRaw !== '') origin = tables.originValues[originRaw] ?? 'UNK';
    if (col.admission_date !== undefined) {
      const adm = parseDate(cells, 'admission_date', row);
      if (adm.days !== undefined && dateDays !== null) {
        if (adm.days > dateDays) {
          q.add('ADMISSION_AFTER_SPECIMEN', row, `${adm.raw} > ${spec.raw}`);
        } else if (originRaw === '') {
          origin = dateDays - adm.days > config.originHospitalDays ? 'HO' : 'CO';
        }
      }
    }
    if (origin !== 'UNK') filled.origin++;

    const specimenRaw = cell(cells, 'specimen_type');
    const specimen = specimenOf(specimenRaw);
    if (specimenRaw !== '') filled.specimen++;
    const organismRaw = cell(cells, 'organism');
    const organism = organismOf(organismRaw);
    if (organism.kind !== 'empty') filled.organism++;
    const group = ageGroup(ageYears, tables);
    if (dateDays !== null && day.year(dateDays) === year && glassSpecimens.has(specimen)) {
      const key = patientId === '' || placeholder ? `row:${row}` : `p:${patientId}`;
      sample.add(specimen, sex, origin, group, key);
    }
    if (organism.kind === 'no_growth') {
      counts.noGrowthRows++;
      return undefined;
    }
    if (organism.kind === 'unknown') {
      q.add('ORGANISM_UNKNOWN', row, organismRaw);
    }
    const pathogen = organism.kind === 'pathogen' ? organism.code : PATHOGEN_OTHER;

    let readable = 0;
    for (let s = 0; s < slots.length; s++) {
      const [code, indexes] = slots[s] as [string, readonly number[]];
      let best: ResultCode | undefined;
      for (const index of indexes) {
        const raw = cells[index] ?? '';
        const c = classify(raw);
        if (c.kind === 'not_tested') continue;
        resultCells++;
        const value = resultFromClass(c, plan.digitColumns.has(index));
        if (value === 'UNREADABLE') {
          unreadableCells++;
          q.add('RESULT_UNREADABLE', row, raw.trim());
        }
        if (value && (best === undefined || RESULT_RANK[value] > RESULT_RANK[best])) best = value;
        if (plan.digitColumns.has(index) && c.kind !== 'digit' && !contradicted.has(`d${index}`)) {
          contradicted.add(`d${index}`);
          q.add('DIGIT_CODING_CONTRADICTED', row, headerCells[index] ?? code, {
            lookaheadRows: config.lookaheadRows,
          });
        }
      }
      rowResults[s] = best;
      if (best !== undefined && best !== 'UNREADABLE') readable++;
    }
    if (readable === 0) q.add('NO_RESULTS', row, undefined);
    else filled.results++;
    if (
      pathogen !== PATHOGEN_OTHER &&
      specimen !== SPECIMEN_OTHER &&
      !panels.has(`${specimen}|${pathogen}`)
    ) {
      q.add('PANEL_MISMATCH', row, `${specimen}/${pathogen}`);
    } else if (pathogen !== PATHOGEN_OTHER && specimen === SPECIMEN_OTHER) {
      q.add('PANEL_MISMATCH', row, `${specimenRaw || '(empty)'}/${pathogen}`);
    }

    isolateId++;
    if (dateDays !== null && day.year(dateDays) === year) {
      // Whether it counts is known only after the first-isolate pass; keep what the RIS needs.
      const stratum = ris.stratum(specimen, pathogen, sex, origin, group);
      if (stratum >= 0) {
        const panel = slotsOfStratum(stratum);
        candidates.keep(isolateId, stratum, (a) => {
          const slot = panel[a] as number;
          return slot < 0 ? undefined : rowResults[slot];
        });
      }
    }
    const presumedFirst = dateDays !== null && patientId !== '' && !placeholder;
    const fields: IsolateFields = {
      isolateId,
      sourceRow: row,
      patientId,
      specimenDate: dateDays === null ? null : day.iso(dateDays),
      dateDays,
      year: dateDays === null ? null : day.year(dateDays),
      sex,
      ageYears,
      ageGroup: group,
      specimen,
      organismRaw,
      pathogen,
      origin,
      ward: col.ward === undefined ? null : cell(cells, 'ward'),
      laboratory: col.laboratory === undefined ? null : cell(cells, 'laboratory'),
      // Stored as a lone isolate would be (first by both rules when it can be first at all), so
      // the first-isolate pass rewrites only the isolates of patients with several.
      firstIsolateGlass: presumedFirst,
      firstIsolateEpisode: presumedFirst,
    };
    return encodedIsolate(fields, encodeResults(rowResults));
  };

  return {
    row: standardize,
    isolates: () => isolateId,
    unreadableShare: () => (unreadableCells > 0 ? unreadableCells / resultCells : undefined),
    completeness() {
      const completeness: Record<string, number> = {};
      for (const field of COMPLETENESS_FIELDS) {
        completeness[field] =
          isolateId === 0 ? 0 : Math.round((filled[field] / isolateId) * 1000) / 10;
      }
      return completeness;
    },
  };
}
