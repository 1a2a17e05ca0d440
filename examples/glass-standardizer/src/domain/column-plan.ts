import type { SourceRecord } from '../io/input.js';
import type { DateFormat } from '../types.js';
import {
  type buildResultIndex,
  classifyResult,
  type DateOrder,
  dateShape,
  type HeaderResolution,
  slashEvidence,
} from './normalize.js';
import type { QualityAccumulator } from './quality.js';
import type { Canonical } from './reference.js';

/**
 * Decisions taken once per file from the look-ahead rows: each date column's day/month order
 * (from the evidence, the declared format or, warning DATE_AMBIGUOUS, day-first) and which
 * antibiotic columns are 1/2/3-coded.
 */
export type DateColumn = 'specimen_date' | 'admission_date' | 'date_of_birth';

export interface DateColumnPlan {
  order: DateOrder;
  decided: 'evidence' | 'declared' | 'ambiguous-default' | 'unneeded';
}

/** Per-column decisions taken from the look-ahead rows. */
export interface ColumnPlan {
  dates: Partial<Record<Canonical, DateColumnPlan>>;
  digitColumns: Set<number>;
}

export function planColumns(
  rows: readonly SourceRecord[],
  headers: HeaderResolution,
  declared: DateFormat | null,
  results: ReturnType<typeof buildResultIndex>,
  q: QualityAccumulator,
  headerCells: readonly string[],
): ColumnPlan {
  const dates: Partial<Record<Canonical, DateColumnPlan>> = {};
  for (const column of ['specimen_date', 'admission_date', 'date_of_birth'] as const) {
    const index = headers.canonical[column];
    if (index === undefined) continue;
    let dmy = 0;
    let mdy = 0;
    let ambiguous = 0;
    for (const r of rows) {
      const evidence = slashEvidence(dateShape(r.cells[index] ?? ''));
      if (evidence === 'DMY') dmy++;
      else if (evidence === 'MDY') mdy++;
      else if (evidence === 'ambiguous') ambiguous++;
    }
    let plan: DateColumnPlan;
    if (dmy > 0 || mdy > 0) {
      plan = { order: dmy >= mdy ? 'DMY' : 'MDY', decided: 'evidence' };
    } else if (ambiguous === 0) {
      plan = { order: declared === 'MDY' ? 'MDY' : 'DMY', decided: 'unneeded' };
    } else if (declared === 'DMY' || declared === 'MDY') {
      plan = { order: declared, decided: 'declared' };
    } else {
      plan = { order: 'DMY', decided: 'ambiguous-default' };
      q.add('DATE_AMBIGUOUS', undefined, headerCells[index] ?? column);
    }
    dates[column] = plan;
  }
  const digitColumns = new Set<number>();
  for (const indexes of headers.antibiotics.values()) {
    for (const index of indexes) {
      let digits = 0;
      let other = 0;
      for (const r of rows) {
        const c = classifyResult(r.cells[index] ?? '', results);
        if (c.kind === 'digit') digits++;
        else if (c.kind !== 'not_tested') other++;
      }
      if (digits > 0 && other === 0) digitColumns.add(index);
    }
  }
  return { dates, digitColumns };
}
