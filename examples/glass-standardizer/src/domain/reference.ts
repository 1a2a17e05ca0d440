// GLASS reference tables as data (SPEC §1, §2): edit these, not the code, when a manual edition changes.

export type Canonical =
  | 'patient_id'
  | 'specimen_date'
  | 'specimen_type'
  | 'organism'
  | 'sex'
  | 'age'
  | 'date_of_birth'
  | 'admission_date'
  | 'origin'
  | 'country'
  | 'laboratory'
  | 'ward';

export const REQUIRED_COLUMNS: readonly Canonical[] = [
  'patient_id',
  'specimen_date',
  'specimen_type',
  'organism',
];

/** Accepted header names per canonical column; compared after `normaliseHeader`. */
export const HEADER_ALIASES: Readonly<Record<Canonical, readonly string[]>> = {
  patient_id: ['patient', 'patient_id', 'patid', 'identification number', 'mrn'],
  specimen_date: ['date', 'spec_date', 'specimen date', 'sample_date', 'collection_date'],
  specimen_type: ['specimen', 'spec_type', 'specimen type', 'sample_type', 'source'],
  organism: ['organism', 'bacteria', 'mo', 'pathogen', 'microorganism'],
  sex: ['sex', 'gender'],
  age: ['age'],
  date_of_birth: ['date_of_birth', 'dob', 'birth_date'],
  admission_date: ['date_admis', 'date of admission', 'admission_date'],
  origin: ['origin', 'infection_origin'],
  country: ['country', 'country_a'],
  laboratory: ['laboratory', 'institut'],
  ward: ['ward'],
};

/** Specimen dictionary: normalised raw value → GLASS specimen. Anything else → OTHER. */
export const SPECIMENS: Readonly<Record<string, string>> = {
  blood: 'BLOOD',
  'blood culture': 'BLOOD',
  'blood cultures': 'BLOOD',
  hemoculture: 'BLOOD',
  haemoculture: 'BLOOD',
  bc: 'BLOOD',
  urine: 'URINE',
  msu: 'URINE',
  'mid-stream urine': 'URINE',
  'midstream urine': 'URINE',
  csu: 'URINE',
  'catheter urine': 'URINE',
  'urine culture': 'URINE',
  stool: 'STOOL',
  faeces: 'STOOL',
  feces: 'STOOL',
  'rectal swab': 'STOOL',
  genital: 'GENITAL',
  'urethral swab': 'GENITAL',
  'cervical swab': 'GENITAL',
  'urogenital swab': 'GENITAL',
  'endocervical swab': 'GENITAL',
  'vaginal swab': 'GENITAL',
};
export const SPECIMEN_OTHER = 'OTHER';

/** Organism dictionary: normalised raw value → GLASS pathogen code. */
export const ORGANISMS: Readonly<Record<string, string>> = {
  // Escherichia coli
  'escherichia coli': 'ESCCOL',
  'e. coli': 'ESCCOL',
  'e.coli': 'ESCCOL',
  'e coli': 'ESCCOL',
  eco: 'ESCCOL',
  esccol: 'ESCCOL',
  // Klebsiella pneumoniae
  'klebsiella pneumoniae': 'KLEPNE',
  'k. pneumoniae': 'KLEPNE',
  'k.pneumoniae': 'KLEPNE',
  kpn: 'KLEPNE',
  klepne: 'KLEPNE',
  // Acinetobacter (genus-level code)
  'acinetobacter spp.': 'ACISPP',
  'acinetobacter spp': 'ACISPP',
  'acinetobacter sp.': 'ACISPP',
  acinetobacter: 'ACISPP',
  'a. baumannii': 'ACISPP',
  aba: 'ACISPP',
  'ac-': 'ACISPP',
  acispp: 'ACISPP',
  // Staphylococcus aureus
  'staphylococcus aureus': 'STAAUR',
  's. aureus': 'STAAUR',
  's.aureus': 'STAAUR',
  sau: 'STAAUR',
  mrsa: 'STAAUR',
  staaur: 'STAAUR',
  // Streptococcus pneumoniae
  'streptococcus pneumoniae': 'STRPNE',
  's. pneumoniae': 'STRPNE',
  's.pneumoniae': 'STRPNE',
  spn: 'STRPNE',
  pneumococcus: 'STRPNE',
  strpne: 'STRPNE',
  // Salmonella (genus-level code)
  'salmonella spp.': 'SALSPP',
  'salmonella spp': 'SALSPP',
  salmonella: 'SALSPP',
  sal: 'SALSPP',
  sty: 'SALSPP',
  spa: 'SALSPP',
  's. typhi': 'SALSPP',
  's. paratyphi': 'SALSPP',
  salspp: 'SALSPP',
  // Shigella (genus-level code)
  'shigella spp.': 'SHISPP',
  'shigella spp': 'SHISPP',
  shigella: 'SHISPP',
  shi: 'SHISPP',
  sso: 'SHISPP',
  sfl: 'SHISPP',
  sdy: 'SHISPP',
  sbo: 'SHISPP',
  shispp: 'SHISPP',
  // Neisseria gonorrhoeae
  'neisseria gonorrhoeae': 'NEIGON',
  'n. gonorrhoeae': 'NEIGON',
  'n.gonorrhoeae': 'NEIGON',
  gonococcus: 'NEIGON',
  ngo: 'NEIGON',
  neigon: 'NEIGON',
};

/** Genus-level codes: any species or serovar of the genus maps to the genus code. */
export const GENUS_CODES: Readonly<Record<string, string>> = {
  acinetobacter: 'ACISPP',
  salmonella: 'SALSPP',
  shigella: 'SHISPP',
};

/** Values meaning a culture-negative sample (used for the SAMPLE file). */
export const NO_GROWTH: readonly string[] = [
  'no growth',
  'nogrowth',
  'no growth detected',
  'culture negative',
  'negative',
  'sterile',
  'xxx',
];

export const PATHOGEN_OTHER = 'OTHER';

export interface AntibioticDef {
  readonly code: string;
  readonly names: readonly string[];
  readonly atc: readonly string[];
}

/** WHONET 3-letter antibiotic codes with names, common abbreviations and ATC codes. */
export const ANTIBIOTICS: readonly AntibioticDef[] = [
  { code: 'AMK', names: ['amikacin', 'amika'], atc: ['J01GB06'] },
  {
    code: 'AMC',
    names: ['amoxicillin/clavulanic acid', 'co-amoxiclav', 'augmentin'],
    atc: ['J01CR02'],
  },
  { code: 'AMP', names: ['ampicillin', 'ampi', 'amp'], atc: ['J01CA01'] },
  { code: 'AMX', names: ['amoxicillin', 'amoxi'], atc: ['J01CA04'] },
  { code: 'AZM', names: ['azithromycin', 'azithro'], atc: ['J01FA10'] },
  { code: 'CAZ', names: ['ceftazidime', 'cefta'], atc: ['J01DD02'] },
  { code: 'CFM', names: ['cefixime'], atc: ['J01DD08'] },
  { code: 'CHL', names: ['chloramphenicol', 'chloram'], atc: ['J01BA01'] },
  { code: 'CIP', names: ['ciprofloxacin', 'cipro'], atc: ['J01MA02'] },
  { code: 'CLI', names: ['clindamycin', 'clinda'], atc: ['J01FF01'] },
  { code: 'COL', names: ['colistin', 'polymyxin e'], atc: ['J01XB01'] },
  { code: 'CRO', names: ['ceftriaxone', 'ceftri'], atc: ['J01DD04'] },
  { code: 'CTX', names: ['cefotaxime', 'cefotax'], atc: ['J01DD01'] },
  { code: 'DOR', names: ['doripenem'], atc: ['J01DH04'] },
  { code: 'ERY', names: ['erythromycin', 'ery'], atc: ['J01FA01'] },
  { code: 'ETP', names: ['ertapenem'], atc: ['J01DH03'] },
  { code: 'FEP', names: ['cefepime'], atc: ['J01DE01'] },
  { code: 'FOS', names: ['fosfomycin'], atc: ['J01XX01'] },
  { code: 'FOX', names: ['cefoxitin'], atc: ['J01DC01'] },
  { code: 'GEN', names: ['gentamicin', 'genta'], atc: ['J01GB03'] },
  { code: 'IPM', names: ['imipenem', 'imi'], atc: ['J01DH51'] },
  { code: 'LNZ', names: ['linezolid'], atc: ['J01XX08'] },
  { code: 'LVX', names: ['levofloxacin', 'levo'], atc: ['J01MA12'] },
  { code: 'MEM', names: ['meropenem', 'mero'], atc: ['J01DH02'] },
  { code: 'MNO', names: ['minocycline', 'mino'], atc: ['J01AA08'] },
  { code: 'NAL', names: ['nalidixic acid'], atc: ['J01MB02'] },
  { code: 'NIT', names: ['nitrofurantoin'], atc: ['J01XE01'] },
  { code: 'OXA', names: ['oxacillin'], atc: ['J01CF04'] },
  { code: 'PEN', names: ['penicillin', 'penicillin g', 'benzylpenicillin'], atc: ['J01CE01'] },
  { code: 'SPT', names: ['spectinomycin'], atc: ['J01XX04'] },
  {
    code: 'SXT',
    names: [
      'trimethoprim/sulfamethoxazole',
      'trimethoprim-sulfamethoxazole',
      'co-trimoxazole',
      'cotrimoxazole',
    ],
    atc: ['J01EE01', 'J01EE'],
  },
  { code: 'TCY', names: ['tetracycline'], atc: ['J01AA07'] },
  { code: 'TGC', names: ['tigecycline'], atc: ['J01AA12'] },
  { code: 'TZP', names: ['piperacillin/tazobactam', 'pip-tazo'], atc: ['J01CR05'] },
  { code: 'VAN', names: ['vancomycin', 'vanco'], atc: ['J01XA01'] },
];

/** The canonical per-cell interpretations. */
export type Interpretation = 'S' | 'SDD' | 'I' | 'R' | 'NS' | 'NI';

/** Result vocabulary: normalised (lower-case, trimmed) cell value → interpretation. */
export const RESULT_VALUES: Readonly<Record<string, Interpretation>> = {
  s: 'S',
  u: 'S',
  susceptible: 'S',
  sus: 'S',
  sensitive: 'S',
  sens: 'S',
  i: 'I',
  int: 'I',
  intermediate: 'I',
  r: 'R',
  res: 'R',
  resistant: 'R',
  sdd: 'SDD',
  d: 'SDD',
  h: 'SDD',
  'susceptible dose dependent': 'SDD',
  'susceptible dose-dependent': 'SDD',
  'susceptible-dose dependent': 'SDD',
  ns: 'NS',
  'non-susceptible': 'NS',
  'non susceptible': 'NS',
  nonsusceptible: 'NS',
  n: 'NI',
  ni: 'NI',
  v: 'NI',
};

/** Cell values meaning "not tested". */
export const NOT_TESTED: readonly string[] = ['', '-', 'na', 'n/a', 'null', 'nt'];

/** Whole-column digit coding, used only when a column holds nothing else. */
export const DIGIT_RESULTS: Readonly<Record<string, Interpretation>> = {
  '1': 'S',
  '2': 'I',
  '3': 'R',
};

export const SEX_VALUES: Readonly<Record<string, 'M' | 'F'>> = {
  m: 'M',
  male: 'M',
  man: 'M',
  f: 'F',
  female: 'F',
  woman: 'F',
};

export const ORIGIN_VALUES: Readonly<Record<string, 'CO' | 'HO'>> = {
  co: 'CO',
  c: 'CO',
  community: 'CO',
  'community-onset': 'CO',
  ho: 'HO',
  h: 'HO',
  hospital: 'HO',
  'hospital-onset': 'HO',
};

/** Patient ids that are placeholders, not people (SPEC §1). */
export const PLACEHOLDER_PATIENT_IDS: readonly string[] = ['0', '7777777', 'unknown'];

export interface AgeGroupDef {
  readonly label: string;
  /** Inclusive lower bound in completed years. */
  readonly min: number;
  /** Inclusive upper bound, or null for open-ended. */
  readonly max: number | null;
}

export const AGE_GROUPS: readonly AgeGroupDef[] = [
  { label: '<1', min: 0, max: 0 },
  { label: '01<04', min: 1, max: 4 },
  { label: '05<14', min: 5, max: 14 },
  { label: '15<24', min: 15, max: 24 },
  { label: '25<34', min: 25, max: 34 },
  { label: '35<44', min: 35, max: 44 },
  { label: '45<54', min: 45, max: 54 },
  { label: '55<64', min: 55, max: 64 },
  { label: '65<74', min: 65, max: 74 },
  { label: '75<84', min: 75, max: 84 },
  { label: '85<', min: 85, max: null },
];
export const AGE_GROUP_UNKNOWN = 'UNK';

export interface PanelDef {
  readonly pathogen: string;
  readonly specimens: readonly string[];
  readonly antibiotics: readonly string[];
}

/** Specimen–pathogen–antibiotic panels (SPEC §2). */
export const PANELS: readonly PanelDef[] = [
  {
    pathogen: 'ESCCOL',
    specimens: ['BLOOD', 'URINE'],
    antibiotics: [
      'AMP',
      'CAZ',
      'CIP',
      'COL',
      'CRO',
      'CTX',
      'DOR',
      'FEP',
      'IPM',
      'SXT',
      'LVX',
      'MEM',
    ],
  },
  {
    pathogen: 'KLEPNE',
    specimens: ['BLOOD', 'URINE'],
    antibiotics: ['CAZ', 'CIP', 'COL', 'CRO', 'CTX', 'DOR', 'FEP', 'IPM', 'SXT', 'LVX', 'MEM'],
  },
  {
    pathogen: 'ACISPP',
    specimens: ['BLOOD'],
    antibiotics: ['AMK', 'COL', 'DOR', 'IPM', 'MEM', 'MNO'],
  },
  { pathogen: 'STAAUR', specimens: ['BLOOD'], antibiotics: ['OXA', 'FOX'] },
  { pathogen: 'STRPNE', specimens: ['BLOOD'], antibiotics: ['CRO', 'CTX', 'SXT', 'OXA', 'PEN'] },
  {
    pathogen: 'SALSPP',
    specimens: ['BLOOD', 'STOOL'],
    antibiotics: ['CAZ', 'CIP', 'CRO', 'CTX', 'DOR', 'IPM', 'LVX', 'MEM'],
  },
  { pathogen: 'SHISPP', specimens: ['STOOL'], antibiotics: ['CAZ', 'CIP', 'CRO', 'CTX', 'LVX'] },
  { pathogen: 'NEIGON', specimens: ['GENITAL'], antibiotics: ['AZM', 'CFM', 'CIP', 'CRO', 'SPT'] },
];

export const RIS_HEADER = [
  'COUNTRY',
  'YEAR',
  'SPECIMEN',
  'PATHOGEN',
  'GENDER',
  'ORIGIN',
  'AGEGROUP',
  'ANTIBIOTIC',
  'RESISTANT',
  'INTERMEDIATE',
  'NONSUSCEPTIBLE',
  'SUSCEPTIBLE',
  'UNKNOWN_NO_AST',
  'UNKNOWN_NO_BREAKPOINTS',
  'BATCHID',
] as const;

export const SAMPLE_HEADER = [
  'COUNTRY',
  'YEAR',
  'SPECIMEN',
  'GENDER',
  'ORIGIN',
  'AGEGROUP',
  'NUMSAMPLEDPATIENTS',
  'BATCHID',
] as const;

/** The reference tables, bundled so a caller can override any of them. */
export interface ReferenceTables {
  readonly headerAliases: Readonly<Record<Canonical, readonly string[]>>;
  readonly specimens: Readonly<Record<string, string>>;
  readonly organisms: Readonly<Record<string, string>>;
  readonly genusCodes: Readonly<Record<string, string>>;
  readonly noGrowth: readonly string[];
  readonly antibiotics: readonly AntibioticDef[];
  readonly resultValues: Readonly<Record<string, Interpretation>>;
  readonly notTested: readonly string[];
  readonly sexValues: Readonly<Record<string, 'M' | 'F'>>;
  readonly originValues: Readonly<Record<string, 'CO' | 'HO'>>;
  readonly placeholderPatientIds: readonly string[];
  readonly ageGroups: readonly AgeGroupDef[];
  readonly panels: readonly PanelDef[];
}

export const DEFAULT_TABLES: ReferenceTables = {
  headerAliases: HEADER_ALIASES,
  specimens: SPECIMENS,
  organisms: ORGANISMS,
  genusCodes: GENUS_CODES,
  noGrowth: NO_GROWTH,
  antibiotics: ANTIBIOTICS,
  resultValues: RESULT_VALUES,
  notTested: NOT_TESTED,
  sexValues: SEX_VALUES,
  originValues: ORIGIN_VALUES,
  placeholderPatientIds: PLACEHOLDER_PATIENT_IDS,
  ageGroups: AGE_GROUPS,
  panels: PANELS,
};
