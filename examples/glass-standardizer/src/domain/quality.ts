import type { QualityEntry, QualityReport, Severity } from '../types.js';

const LIMIT = 50;

interface MutableEntry {
  rule: number;
  severity: Severity;
  code: string;
  message: string;
  count: number;
  rows: number[];
  values: string[];
  seen: Set<string>;
  share?: number;
}

/** Accumulates quality findings with bounded memory: first 50 rows and 50 distinct values. */
export class QualityAccumulator {
  readonly #entries = new Map<string, MutableEntry>();

  /** Declares a check so it is reported even when nothing offends (count 0 = passed). */
  define(rule: number, severity: Severity, code: string, message: string): void {
    if (!this.#entries.has(code)) {
      this.#entries.set(code, {
        rule,
        severity,
        code,
        message,
        count: 0,
        rows: [],
        values: [],
        seen: new Set(),
      });
    }
  }

  add(
    rule: number,
    severity: Severity,
    code: string,
    message: string,
    row?: number,
    value?: string,
  ): void {
    this.define(rule, severity, code, message);
    const entry = this.#entries.get(code) as MutableEntry;
    entry.count++;
    if (row !== undefined && entry.rows.length < LIMIT) entry.rows.push(row);
    if (value !== undefined && entry.values.length < LIMIT && !entry.seen.has(value)) {
      entry.seen.add(value);
      entry.values.push(value.length > 200 ? `${value.slice(0, 200)}…` : value);
    }
  }

  /** Adds `n` occurrences without row detail (aggregate counts). */
  addCount(rule: number, severity: Severity, code: string, message: string, n: number): void {
    this.define(rule, severity, code, message);
    (this.#entries.get(code) as MutableEntry).count += n;
  }

  setMessage(code: string, message: string): void {
    const entry = this.#entries.get(code);
    if (entry) entry.message = message;
  }

  setShare(code: string, share: number): void {
    const entry = this.#entries.get(code);
    if (entry) entry.share = share;
  }

  count(code: string): number {
    return this.#entries.get(code)?.count ?? 0;
  }

  hasErrors(): boolean {
    for (const e of this.#entries.values()) if (e.severity === 'ERROR' && e.count > 0) return true;
    return false;
  }

  report(completeness: Record<string, number>): QualityReport {
    const entries: QualityEntry[] = [...this.#entries.values()]
      .sort((a, b) => a.rule - b.rule || a.code.localeCompare(b.code))
      .map(({ seen: _seen, ...e }) => ({ ...e }));
    const active = entries.filter((e) => e.count > 0);
    const summary = {
      errors: active.filter((e) => e.severity === 'ERROR').length,
      warnings: active.filter((e) => e.severity === 'WARN').length,
      infos: active.filter((e) => e.severity === 'INFO').length,
    };
    return { entries, completeness, summary, blocking: summary.errors > 0 };
  }
}
