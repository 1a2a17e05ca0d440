import { describe, expect, it } from 'vitest';
import {
  ageGroup,
  buildHeaderIndex,
  buildResultIndex,
  classifyResult,
  DEFAULT_TABLES,
  dateShape,
  daysToIso,
  mapOrganism,
  mapSpecimen,
  normaliseHeader,
  parseAge,
  resolveHeaders,
  shapeToDays,
} from '../src/index.js';

const headerIndex = buildHeaderIndex(DEFAULT_TABLES);
const resultIndex = buildResultIndex(DEFAULT_TABLES);

describe('header resolution (SPEC §1)', () => {
  it('matches case-insensitively without spaces, _, - and .', () => {
    expect(normaliseHeader(' Specimen_Date ')).toBe('specimendate');
    const r = resolveHeaders(
      [
        'PATIENT_ID',
        'Specimen date',
        'spec-type',
        'M.O.',
        'Gender',
        'date of admission',
        'Country_A',
        'Institut',
      ],
      headerIndex,
    );
    expect(r.canonical).toEqual({
      patient_id: 0,
      specimen_date: 1,
      specimen_type: 2,
      organism: 3,
      sex: 4,
      admission_date: 5,
      country: 6,
      laboratory: 7,
    });
  });

  it('recognises antibiotic columns: WHONET pattern, bare code, name, ATC', () => {
    const r = resolveHeaders(
      [
        'AMP_ND10',
        'CIP_NM',
        'CRO_EE',
        'GEN',
        'ceftriaxone',
        'Cipro',
        'J01MA02',
        'J01EE',
        'XYZ_ND10',
        'AMP_QQ',
      ],
      headerIndex,
    );
    expect(r.roles.map((x) => (x.kind === 'antibiotic' ? `${x.code}:${x.via}` : x.kind))).toEqual([
      'AMP:whonet',
      'CIP:whonet',
      'CRO:whonet',
      'GEN:code',
      'CRO:name',
      'CIP:name',
      'CIP:atc',
      'SXT:atc',
      'unmapped',
      'unmapped',
    ]);
    expect(r.antibiotics.get('CIP')).toEqual([1, 5, 6]);
    expect(r.unmapped).toEqual(['XYZ_ND10', 'AMP_QQ']);
  });

  it('lists a second header for the same canonical column as unmapped', () => {
    const r = resolveHeaders(['patient', 'patid'], headerIndex);
    expect(r.canonical.patient_id).toBe(0);
    expect(r.unmapped).toEqual(['patid']);
  });
});

describe('value dictionaries', () => {
  it.each([
    ['eco', 'ESCCOL'],
    ['E. coli', 'ESCCOL'],
    ['ESCCOL', 'ESCCOL'],
    ['Escherichia  coli', 'ESCCOL'],
    ['kpn', 'KLEPNE'],
    ['sau', 'STAAUR'],
    ['spn', 'STRPNE'],
    ['Acinetobacter baumannii', 'ACISPP'],
    ['Acinetobacter lwoffii', 'ACISPP'],
    ['Salmonella enterica serovar Typhimurium', 'SALSPP'],
    ['Salmonella Enteritidis', 'SALSPP'],
    ['Shigella sonnei', 'SHISPP'],
    ['SHISPP', 'SHISPP'],
    ['N. gonorrhoeae', 'NEIGON'],
  ])('organism %s → %s', (raw, code) => {
    expect(mapOrganism(raw, DEFAULT_TABLES)).toEqual({ kind: 'pathogen', code });
  });

  it('organism: no growth, unknown, empty', () => {
    expect(mapOrganism('No growth', DEFAULT_TABLES).kind).toBe('no_growth');
    expect(mapOrganism('Unidentified organism XYZ', DEFAULT_TABLES).kind).toBe('unknown');
    expect(mapOrganism('  ', DEFAULT_TABLES).kind).toBe('empty');
  });

  it.each([
    ['blood culture', 'BLOOD'],
    ['MSU', 'URINE'],
    ['faeces', 'STOOL'],
    ['Urethral swab', 'GENITAL'],
    ['cervical swab', 'GENITAL'],
    ['sputum', 'OTHER'],
  ])('specimen %s → %s', (raw, code) => {
    expect(mapSpecimen(raw, DEFAULT_TABLES)).toBe(code);
  });

  it('results: words, letters, not tested, digits, numbers, unreadable', () => {
    const c = (v: string) => classifyResult(v, resultIndex);
    for (const v of ['S', 's', 'sens', 'Susceptible', 'sensitive', 'sus', 'U'])
      expect(c(v)).toEqual({ kind: 'interpreted', value: 'S' });
    for (const v of ['R', 'res', 'Resistant'])
      expect(c(v)).toEqual({ kind: 'interpreted', value: 'R' });
    for (const v of ['I', 'int', 'Intermediate'])
      expect(c(v)).toEqual({ kind: 'interpreted', value: 'I' });
    for (const v of ['SDD', 'D', 'H', 'susceptible dose dependent'])
      expect(c(v)).toEqual({ kind: 'interpreted', value: 'SDD' });
    expect(c('NS')).toEqual({ kind: 'interpreted', value: 'NS' });
    for (const v of ['N', 'NI', 'V']) expect(c(v)).toEqual({ kind: 'interpreted', value: 'NI' });
    for (const v of ['', ' - ', 'NA', 'NULL']) expect(c(v)).toEqual({ kind: 'not_tested' });
    expect(c('2')).toEqual({ kind: 'digit', digit: '2' });
    expect(c('16')).toEqual({ kind: 'numeric', raw: '16' });
    expect(c('<=0.5')).toEqual({ kind: 'numeric', raw: '<=0.5' });
    expect(c('?')).toEqual({ kind: 'unreadable', raw: '?' });
  });
});

describe('dates and ages', () => {
  it('parses ISO, slash (by column order), dd-Mon-yy and Excel serials', () => {
    const iso = (raw: string, order: 'DMY' | 'MDY' = 'DMY') => {
      const days = shapeToDays(dateShape(raw), order);
      return days === undefined ? undefined : daysToIso(days);
    };
    expect(iso('2024-02-29')).toBe('2024-02-29');
    expect(iso('2023-02-29')).toBeUndefined();
    expect(iso('03/04/2024')).toBe('2024-04-03');
    expect(iso('03/04/2024', 'MDY')).toBe('2024-03-04');
    expect(iso('13/13/2024')).toBeUndefined();
    expect(iso('7-Jan-24')).toBe('2024-01-07');
    expect(iso('07-January-2024')).toBe('2024-01-07');
    expect(iso('45292')).toBe('2024-01-01');
    expect(iso('n/a')).toBeUndefined();
  });

  it('parses ages with units and newborns', () => {
    expect(parseAge('42')).toEqual({ ok: true, years: 42 });
    expect(parseAge('NB')).toEqual({ ok: true, years: 0 });
    expect(parseAge('2w')).toEqual({ ok: true, years: 0 });
    expect(parseAge('18m')).toEqual({ ok: true, years: 1 });
    expect(parseAge('400d')).toEqual({ ok: true, years: 1 });
    expect(parseAge('3y')).toEqual({ ok: true, years: 3 });
    expect(parseAge('')).toEqual({ ok: false, empty: true });
    expect(parseAge('old')).toEqual({ ok: false, empty: false });
  });

  it.each([
    [0, '<1'],
    [1, '01<04'],
    [4, '01<04'],
    [5, '05<14'],
    [14, '05<14'],
    [15, '15<24'],
    [84, '75<84'],
    [85, '85<'],
    [120, '85<'],
    [121, 'UNK'],
    [null, 'UNK'],
  ] as const)('age %s → %s', (age, group) => {
    expect(ageGroup(age, DEFAULT_TABLES)).toBe(group);
  });
});
