import type { QualityEntry, QualityMessage, QualityReport, Severity } from '../types.js';
import {
  QUALITY_RULES,
  type QualityCode,
  type QualityParams,
  type QualityRule,
} from './quality-rules.js';

/** Row numbers and distinct values kept per entry (SPEC §3). */
const LIMIT = 50;
/** Distinct finding texts kept per entry; findings with further texts are counted together. */
const MESSAGE_LIMIT = 20;
const OTHER_MESSAGES = `other messages (more than ${MESSAGE_LIMIT} distinct)`;

interface MutableMessage {
  message: string;
  count: number;
  rows: number[];
}

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
  messages: Map<string, MutableMessage>;
}

/**
 * Accumulates quality findings with bounded memory: per entry the first 50 rows, the first 50
 * distinct values, and every distinct finding text (up to 20) with its own count and rows.
 */
export class QualityAccumulator {
  readonly #entries = new Map<string, MutableEntry>();

  constructor() {
    for (const [code, rule] of Object.entries(QUALITY_RULES) as [string, QualityRule<never>][])
      if (rule.listed) this.#entry(code, rule.rule, rule.severity, rule.check);
  }

  #entry(code: string, rule: number, severity: Severity, message: string): MutableEntry {
    let entry = this.#entries.get(code);
    if (!entry) {
      entry = {
        rule,
        severity,
        code,
        message,
        count: 0,
        rows: [],
        values: [],
        seen: new Set(),
        messages: new Map(),
      };
      this.#entries.set(code, entry);
    }
    return entry;
  }

  #record(
    entry: MutableEntry,
    text: string,
    n: number,
    row: number | undefined,
    values: readonly string[] | string | undefined,
  ): void {
    if (n === 0) return;
    entry.count += n;
    let message = entry.messages.get(text);
    if (!message) {
      const key = entry.messages.size < MESSAGE_LIMIT ? text : OTHER_MESSAGES;
      message = entry.messages.get(key);
      if (!message) {
        message = { message: key, count: 0, rows: [] };
        entry.messages.set(key, message);
      }
    }
    message.count += n;
    // A row is kept in the entry and under its message alike: the per-row issue list is exact.
    if (row !== undefined && entry.rows.length < LIMIT) {
      entry.rows.push(row);
      message.rows.push(row);
    }
    if (typeof values === 'string') this.#value(entry, values);
    else if (values) for (const value of values) this.#value(entry, value);
  }

  #value(entry: MutableEntry, value: string): void {
    if (entry.values.length < LIMIT && !entry.seen.has(value)) {
      entry.seen.add(value);
      entry.values.push(value.length > 200 ? `${value.slice(0, 200)}…` : value);
    }
  }

  #text<C extends QualityCode>(code: C, params: QualityParams<C>): string {
    const rule = QUALITY_RULES[code] as QualityRule<unknown>;
    return rule.message ? rule.message(params[0]) : rule.check;
  }

  /** One finding of a rule of the table, at `row` (a source row number) with `value`. */
  add<C extends QualityCode>(
    code: C,
    row: number | undefined,
    value: string | undefined,
    ...params: QualityParams<C>
  ): void {
    const rule = QUALITY_RULES[code];
    const entry = this.#entry(code, rule.rule, rule.severity, rule.check);
    this.#record(entry, this.#text(code, params), 1, row, value);
  }

  /** `n` findings of a rule of the table without row detail (aggregate counts). */
  addCount<C extends QualityCode>(code: C, n: number, ...params: QualityParams<C>): void {
    const rule = QUALITY_RULES[code];
    const entry = this.#entry(code, rule.rule, rule.severity, rule.check);
    this.#record(entry, this.#text(code, params), n, undefined, undefined);
  }

  /**
   * A file-level finding (rule 0) of a reader, whose code, severity and text it gives; the entry
   * reads as its first finding.
   */
  addFile(
    code: string,
    severity: Severity,
    message: string,
    row?: number,
    values?: readonly string[],
  ): void {
    this.#record(this.#entry(code, 0, severity, message), message, 1, row, values);
  }

  setShare(code: QualityCode, share: number): void {
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
      .map(({ seen: _seen, messages, ...e }) => ({
        ...e,
        messages: [...messages.values()].map(
          (m): QualityMessage => ({ message: m.message, count: m.count, rows: [...m.rows] }),
        ),
      }));
    const active = entries.filter((e) => e.count > 0);
    const summary = {
      errors: active.filter((e) => e.severity === 'ERROR').length,
      warnings: active.filter((e) => e.severity === 'WARN').length,
      infos: active.filter((e) => e.severity === 'INFO').length,
    };
    return { entries, completeness, summary, blocking: summary.errors > 0 };
  }
}
