#!/usr/bin/env node
import { once } from 'node:events';
// Writes a large, messy isolate-level CSV in the styles of the two sample exports, deterministic per seed.
// Usage: npm run generate -w examples/glass-standardizer -- --rows N --seed S [--out FILE] [--style a|b]
import { createWriteStream } from 'node:fs';
import { parseArgs } from 'node:util';

const USAGE = 'usage: generate --rows N [--seed S] [--out FILE] [--style a|b]';

function fail(message) {
  process.stderr.write(`generate: ${message}\n${USAGE}\n`);
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    options: {
      rows: { type: 'string' },
      seed: { type: 'string', default: '1' },
      out: { type: 'string' },
      style: { type: 'string', default: 'a' },
      help: { type: 'boolean', default: false },
    },
  }).values;
} catch (err) {
  fail(err.message);
}
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const rows = Number(args.rows);
const seed = Number(args.seed);
if (!Number.isInteger(rows) || rows < 0)
  fail(`--rows must be a non-negative integer, got ${JSON.stringify(args.rows)}`);
if (!Number.isInteger(seed)) fail(`--seed must be an integer, got ${JSON.stringify(args.seed)}`);
if (args.style !== 'a' && args.style !== 'b')
  fail(`--style must be "a" or "b", got ${JSON.stringify(args.style)}`);

// mulberry32: small, fast, deterministic.
function rng(s) {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(seed);
const pick = (list) => list[Math.floor(random() * list.length)];
const chance = (p) => random() < p;

const ANTIBIOTICS = [
  'AMK',
  'AMP',
  'AZM',
  'CAZ',
  'CFM',
  'CIP',
  'COL',
  'CRO',
  'CTX',
  'DOR',
  'FEP',
  'FOX',
  'GEN',
  'IPM',
  'LVX',
  'MEM',
  'MNO',
  'OXA',
  'PEN',
  'SPT',
  'SXT',
];
const WHONET = { AMP: 'AMP_ND10', CIP: 'CIP_ND10', GEN: 'GEN_ND10' };
const ORGANISMS = [
  {
    names: ['escherichia coli', 'Escherichia coli', 'E. coli', 'eco', 'ESCCOL'],
    specimens: ['urine', 'Urine', 'MSU', 'blood culture', 'BLOOD'],
    w: 40,
  },
  {
    names: ['Klebsiella pneumoniae', 'K. pneumoniae', 'kpn', 'KLEPNE'],
    specimens: ['urine', 'MSU', 'Blood', 'blood culture'],
    w: 15,
  },
  {
    names: ['Staphylococcus aureus', 'S. aureus', 'sau'],
    specimens: ['Blood', 'blood culture', 'BLOOD'],
    w: 12,
  },
  {
    names: ['Streptococcus pneumoniae', 'S. pneumoniae', 'spn'],
    specimens: ['Blood', 'BLOOD'],
    w: 6,
  },
  {
    names: ['Acinetobacter baumannii', 'Acinetobacter spp.', 'ACISPP'],
    specimens: ['Blood', 'blood culture'],
    w: 8,
  },
  {
    names: ['Salmonella enterica', 'Salmonella spp.', 'SALSPP', 'Salmonella Typhimurium'],
    specimens: ['STOOL', 'Stool', 'faeces', 'Blood'],
    w: 6,
  },
  {
    names: ['Shigella sonnei', 'Shigella flexneri', 'Shigella spp.'],
    specimens: ['STOOL', 'faeces'],
    w: 5,
  },
  {
    names: ['Neisseria gonorrhoeae', 'N. gonorrhoeae', 'NEIGON'],
    specimens: ['Urethral swab', 'cervical swab', 'Genital'],
    w: 3,
  },
];
const TOTAL_W = ORGANISMS.reduce((s, o) => s + o.w, 0);
function organism() {
  let r = random() * TOTAL_W;
  for (const o of ORGANISMS) {
    r -= o.w;
    if (r < 0) return o;
  }
  return ORGANISMS[0];
}
const S = ['S', 's', 'sens', 'Susceptible'];
const R = ['R', 'r', 'res', 'Resistant'];
const I = ['I', 'Intermediate', 'SDD'];
const NOT = ['', '', '', '-', 'NA'];
function result() {
  const x = random();
  if (x < 0.45) return pick(NOT);
  if (x < 0.75) return pick(S);
  if (x < 0.93) return pick(R);
  if (x < 0.97) return pick(I);
  if (x < 0.985) return pick(['16', '0.5', '2']);
  if (x < 0.995) return 'V';
  return '?';
}
const pad = (n) => String(n).padStart(2, '0');
function csv(v) {
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

const style = args.style;
const header =
  style === 'a'
    ? [
        'PATIENT_ID',
        'SEX',
        'AGE',
        'DATE_ADMIS',
        'SPEC_DATE',
        'SPEC_TYPE',
        'ORGANISM',
        ...ANTIBIOTICS.map((a) => WHONET[a] ?? `${a}_NM`),
      ]
    : [
        'Patient',
        'Gender',
        'Age',
        'Origin',
        'Specimen date',
        'Specimen type',
        'Organism',
        ...ANTIBIOTICS,
      ];
const patients = Math.max(1, Math.floor(rows / 3));
const prefix = style === 'a' ? 'P011' : 'P012';
const YEAR_START = Date.UTC(2024, 0, 1) / 86_400_000;

const out = args.out ? createWriteStream(args.out) : process.stdout;
let buffer = `${header.join(',')}\n`;
let previous = '';
for (let i = 0; i < rows; i++) {
  let line;
  if (previous && chance(0.005)) {
    line = previous; // exact duplicate row
  } else {
    const o = organism();
    const pid = chance(0.001)
      ? pick(['0', '7777777', 'unknown'])
      : `${prefix}${String(Math.floor(random() * patients)).padStart(6, '0')}`;
    const sex = chance(0.05) ? pick(['', 'U']) : pick(['M', 'm', 'male', 'F', 'f', 'female']);
    const age = chance(0.02) ? pick(['', 'NB', '2w', '6m']) : String(Math.floor(random() * 96));
    const day = YEAR_START + Math.floor(random() * 366);
    const d = new Date(day * 86_400_000);
    const adm = new Date((day - Math.floor(random() * 12)) * 86_400_000);
    const dmy = (x) => `${pad(x.getUTCDate())}/${pad(x.getUTCMonth() + 1)}/${x.getUTCFullYear()}`;
    const iso = (x) => x.toISOString().slice(0, 10);
    const org = chance(0.002)
      ? 'Unidentified organism XYZ'
      : chance(0.01)
        ? 'no growth'
        : pick(o.names);
    const spec = pick(o.specimens);
    const results = ANTIBIOTICS.map(result);
    const cells =
      style === 'a'
        ? [pid, sex, age, chance(0.1) ? '' : dmy(adm), dmy(d), spec, org, ...results]
        : [
            pid,
            sex,
            age,
            pick(['community', 'hospital', 'HO', 'CO', 'H', 'C', '']),
            iso(d),
            spec,
            org,
            ...results,
          ];
    line = cells.map(csv).join(',');
  }
  previous = line;
  buffer += `${line}\n`;
  if (buffer.length > 1 << 16) {
    if (!out.write(buffer)) await once(out, 'drain');
    buffer = '';
  }
}
out.write(buffer);
if (args.out) {
  out.end();
  await once(out, 'finish');
}
