import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type {
  DatasetPatch,
  DatasetRecord,
  DatasetStatus,
  FirstIsolateFlag,
  GlassStorage,
  IsolateQuery,
  IsolateRecord,
  NewDataset,
} from '../types.js';
import {
  DATASET_COLUMNS,
  datasetToRow,
  ISOLATE_COLUMNS,
  isolateToValues,
  KEY_COLUMNS,
  newDatasetRow,
  PATCH_COLUMNS,
  patchValue,
  type Row,
  rawToAggregateRow,
  rowToDataset,
  rowToIsolate,
  toKey,
} from './common.js';

export interface SqliteStorageOptions {
  /** Database file path, or `:memory:`. */
  readonly filename: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS datasets (
  id TEXT PRIMARY KEY,
  status TEXT NOT NULL,
  progress REAL NOT NULL,
  country TEXT NOT NULL,
  year INTEGER NOT NULL,
  batch_id TEXT NOT NULL,
  format TEXT NOT NULL,
  date_format TEXT,
  filename TEXT,
  upload_path TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  started_at TEXT,
  finished_at TEXT,
  error TEXT,
  counts TEXT,
  quality TEXT,
  ris TEXT,
  sample TEXT,
  antibiotics TEXT NOT NULL,
  owner TEXT
);
CREATE INDEX IF NOT EXISTS datasets_status ON datasets (status);
CREATE TABLE IF NOT EXISTS isolates (
  dataset_id TEXT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
  isolate_id INTEGER NOT NULL,
  source_row INTEGER NOT NULL,
  patient_id TEXT NOT NULL,
  specimen_date TEXT,
  date_days INTEGER,
  year INTEGER,
  sex TEXT NOT NULL,
  age_years INTEGER,
  age_group TEXT NOT NULL,
  specimen TEXT NOT NULL,
  organism_raw TEXT NOT NULL,
  pathogen TEXT NOT NULL,
  origin TEXT NOT NULL,
  ward TEXT,
  laboratory TEXT,
  first_glass INTEGER NOT NULL,
  first_episode INTEGER NOT NULL,
  results TEXT NOT NULL,
  PRIMARY KEY (dataset_id, isolate_id)
) WITHOUT ROWID;
DROP INDEX IF EXISTS isolates_first;
CREATE TABLE IF NOT EXISTS analytics (
  dataset_id TEXT PRIMARY KEY REFERENCES datasets (id) ON DELETE CASCADE,
  cube TEXT NOT NULL
);
`;
// No secondary index on isolates: keeping one in patient order during the bulk load cost more
// than sorting a dataset's keys once when its first isolates are computed.

const FIRST_KEY_ORDER = 'patient_id, pathogen, date_days, source_row, isolate_id';

// Isolate ids per delete transaction: a few milliseconds each, so the writer lock is held only
// briefly (the other thread's writes wait on it) and the event loop gets a turn between chunks.
const DELETE_CHUNK = 5000;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

const AGGREGATE_COLUMNS =
  'isolate_id, first_glass, first_episode, pathogen, specimen, sex, age_group, origin, year, ward, laboratory, results';

/** SQLite storage (better-sqlite3, WAL). Calls are synchronous underneath; batches are transactions. */
export function createSqliteStorage(options: SqliteStorageOptions): GlassStorage {
  if (typeof options?.filename !== 'string' || options.filename === '') {
    throw new Error(
      `glass-standardizer: createSqliteStorage "filename" must be a path or ":memory:", got ${JSON.stringify(options?.filename)}`,
    );
  }
  let db: Database.Database | undefined;
  // Names the temporary key tables of concurrent first-isolate passes on this connection.
  let keyTables = 0;

  function open(): Database.Database {
    if (db) return db;
    if (options.filename !== ':memory:') mkdirSync(dirname(options.filename), { recursive: true });
    const opened = new Database(options.filename);
    opened.pragma('journal_mode = WAL');
    opened.pragma('synchronous = NORMAL');
    opened.pragma('foreign_keys = ON');
    opened.pragma('busy_timeout = 5000');
    // 8 MiB: with no secondary index and first-isolate flags written in id order the writes are
    // appends and sequential, so a bigger cache bought no speed (32 MiB measured the same CPU on
    // 500k rows) but ~25-35 MB of RSS. It also bounds the sorter's memory for the key sort.
    opened.pragma('cache_size = -8192');
    opened.exec(SCHEMA);
    // Columns added to databases created before processing leases and owners existed.
    const columns = new Set(
      (opened.prepare('PRAGMA table_info(datasets)').all() as { name: string }[]).map(
        (c) => c.name,
      ),
    );
    if (!columns.has('lease_owner'))
      opened.exec('ALTER TABLE datasets ADD COLUMN lease_owner TEXT');
    if (!columns.has('lease_until'))
      opened.exec('ALTER TABLE datasets ADD COLUMN lease_until INTEGER');
    if (!columns.has('owner')) opened.exec('ALTER TABLE datasets ADD COLUMN owner TEXT');
    db = opened;
    return opened;
  }

  const insertDataset = () =>
    open().prepare(
      `INSERT INTO datasets (${DATASET_COLUMNS.join(', ')}) VALUES (${DATASET_COLUMNS.map((c) => `@${c}`).join(', ')})`,
    );

  let insertIsolateStmt: Database.Statement | undefined;
  let setFlagsStmt: Database.Statement | undefined;
  function insertIsolate(): Database.Statement {
    insertIsolateStmt ??= open().prepare(
      `INSERT INTO isolates (${ISOLATE_COLUMNS.join(', ')}) VALUES (${ISOLATE_COLUMNS.map(() => '?').join(', ')})`,
    );
    return insertIsolateStmt;
  }

  async function getDataset(id: string): Promise<DatasetRecord | undefined> {
    const row = open().prepare('SELECT * FROM datasets WHERE id = ?').get(id) as Row | undefined;
    return row ? rowToDataset(row) : undefined;
  }

  async function deleteIsolates(datasetId: string): Promise<void> {
    const conn = open();
    conn.prepare('DELETE FROM analytics WHERE dataset_id = ?').run(datasetId);
    const { max } = conn
      .prepare('SELECT MAX(isolate_id) AS max FROM isolates WHERE dataset_id = ?')
      .get(datasetId) as { max: number | null };
    const range = conn.prepare(
      'DELETE FROM isolates WHERE dataset_id = ? AND isolate_id > ? AND isolate_id <= ?',
    );
    for (let low = 0; max !== null && low < max; low += DELETE_CHUNK) {
      range.run(datasetId, low, low + DELETE_CHUNK);
      if (low + DELETE_CHUNK < max) await nextTurn();
    }
  }

  return {
    kind: 'sqlite',
    async init() {
      open();
    },
    async ping() {
      open().prepare('SELECT 1 FROM datasets LIMIT 1').get();
    },
    async close() {
      db?.close();
      db = undefined;
      insertIsolateStmt = undefined;
      setFlagsStmt = undefined;
    },
    async createDataset(input: NewDataset) {
      const record = newDatasetRow(input, new Date().toISOString());
      insertDataset().run(datasetToRow(record));
      return record;
    },
    getDataset,
    async listDatasets(page = {}) {
      const limit = page.limit ?? 50;
      const offset = page.offset ?? 0;
      const rows = open()
        .prepare('SELECT * FROM datasets ORDER BY created_at DESC, id LIMIT ? OFFSET ?')
        .all(limit, offset) as Row[];
      const total = (open().prepare('SELECT COUNT(*) AS n FROM datasets').get() as { n: number }).n;
      return { items: rows.map(rowToDataset), total };
    },
    async listDatasetsByStatus(statuses: readonly DatasetStatus[]) {
      if (statuses.length === 0) return [];
      const rows = open()
        .prepare(
          `SELECT * FROM datasets WHERE status IN (${statuses.map(() => '?').join(', ')}) ORDER BY created_at, id`,
        )
        .all(...statuses) as Row[];
      return rows.map(rowToDataset);
    },
    async updateDataset(id: string, patch: DatasetPatch) {
      const sets: string[] = ['updated_at = @updated_at'];
      const values: Row = { id, updated_at: new Date().toISOString() };
      for (const [key, value] of Object.entries(patch)) {
        const column = PATCH_COLUMNS[key];
        if (!column || value === undefined) continue;
        sets.push(`${column} = @${column}`);
        values[column] = patchValue(key, value);
      }
      open()
        .prepare(`UPDATE datasets SET ${sets.join(', ')} WHERE id = @id`)
        .run(values);
      return getDataset(id);
    },
    async claimDataset(id: string, owner: string, leaseMs: number, now = Date.now()) {
      const claimed = open()
        .prepare(
          `UPDATE datasets SET lease_owner = @owner, lease_until = @until
           WHERE id = @id AND status NOT IN ('done', 'failed')
             AND (lease_owner IS NULL OR lease_owner = @owner OR lease_until < @now)`,
        )
        .run({ id, owner, until: now + leaseMs, now });
      return claimed.changes === 1;
    },
    async releaseDataset(id: string, owner: string) {
      open()
        .prepare(
          'UPDATE datasets SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?',
        )
        .run(id, owner);
    },
    async deleteDataset(id: string) {
      await deleteIsolates(id);
      return open().prepare('DELETE FROM datasets WHERE id = ?').run(id).changes > 0;
    },
    async uploadPaths() {
      const rows = open()
        .prepare('SELECT upload_path FROM datasets WHERE upload_path IS NOT NULL')
        .all() as { upload_path: string }[];
      return rows.map((r) => r.upload_path);
    },
    async insertIsolates(datasetId: string, isolates: readonly IsolateRecord[]) {
      if (isolates.length === 0) return;
      const stmt = insertIsolate();
      const run = open().transaction((items: readonly IsolateRecord[]) => {
        for (const isolate of items) stmt.run(isolateToValues(datasetId, isolate));
      });
      run(isolates);
    },
    deleteIsolates,
    async saveAnalytics(datasetId: string, cube: string) {
      open()
        .prepare(
          'INSERT INTO analytics (dataset_id, cube) VALUES (?, ?) ON CONFLICT (dataset_id) DO UPDATE SET cube = excluded.cube',
        )
        .run(datasetId, cube);
    },
    async getAnalytics(datasetId: string) {
      const row = open()
        .prepare('SELECT cube FROM analytics WHERE dataset_id = ?')
        .get(datasetId) as { cube: string } | undefined;
      return row?.cube;
    },
    async *iterateAggregateRows(datasetId: string, pageSize = 5000) {
      const stmt = open()
        .prepare(
          `SELECT ${AGGREGATE_COLUMNS} FROM isolates WHERE dataset_id = ? AND isolate_id > ? ORDER BY isolate_id LIMIT ?`,
        )
        .raw(true);
      let after = 0;
      for (;;) {
        const rows = stmt.all(datasetId, after, pageSize) as unknown[][];
        if (rows.length === 0) return;
        for (const r of rows) yield rawToAggregateRow(r);
        after = Number((rows[rows.length - 1] as unknown[])[0]);
      }
    },
    async countIsolates(datasetId: string) {
      return (
        open()
          .prepare('SELECT COUNT(*) AS n FROM isolates WHERE dataset_id = ?')
          .get(datasetId) as {
          n: number;
        }
      ).n;
    },
    async *iterateIsolates(datasetId: string, query: IsolateQuery = {}) {
      const where = ['dataset_id = @datasetId', 'isolate_id > @after'];
      if (query.firstIsolate === 'glass') where.push('first_glass = 1');
      if (query.firstIsolate === 'episode') where.push('first_episode = 1');
      if (query.pathogen !== undefined) where.push('pathogen = @pathogen');
      if (query.specimen !== undefined) where.push('specimen = @specimen');
      const stmt = open().prepare(
        `SELECT * FROM isolates WHERE ${where.join(' AND ')} ORDER BY isolate_id LIMIT @limit`,
      );
      const params: Row = {
        datasetId,
        after: 0,
        limit: query.pageSize ?? 2000,
        pathogen: query.pathogen,
        specimen: query.specimen,
      };
      if (query.pathogen === undefined) delete params.pathogen;
      if (query.specimen === undefined) delete params.specimen;
      for (;;) {
        const rows = stmt.all(params) as Row[];
        if (rows.length === 0) return;
        for (const row of rows) yield rowToIsolate(row);
        params.after = Number(rows[rows.length - 1]?.isolate_id);
      }
    },
    async *iterateFirstIsolateKeys(datasetId: string, pageSize = 5000) {
      // The keys are sorted once into a temporary table whose primary key is the order, then read
      // page by page: no statement stays open while the caller awaits between pages.
      const conn = open();
      const table = `temp.first_keys_${++keyTables}`;
      conn.exec(
        `CREATE TABLE ${table} (isolate_id INTEGER NOT NULL, source_row INTEGER NOT NULL,
           patient_id TEXT NOT NULL, pathogen TEXT NOT NULL, specimen TEXT NOT NULL,
           date_days INTEGER NOT NULL, year INTEGER, first_glass INTEGER NOT NULL,
           first_episode INTEGER NOT NULL, PRIMARY KEY (${FIRST_KEY_ORDER})) WITHOUT ROWID`,
      );
      try {
        conn
          .prepare(
            `INSERT INTO ${table} (${KEY_COLUMNS}) SELECT ${KEY_COLUMNS} FROM isolates
             WHERE dataset_id = ? AND date_days IS NOT NULL ORDER BY ${FIRST_KEY_ORDER}`,
          )
          .run(datasetId);
        const first = conn.prepare(
          `SELECT ${KEY_COLUMNS} FROM ${table} ORDER BY ${FIRST_KEY_ORDER} LIMIT ?`,
        );
        const next = conn.prepare(
          `SELECT ${KEY_COLUMNS} FROM ${table} WHERE (${FIRST_KEY_ORDER}) > (?, ?, ?, ?, ?)
           ORDER BY ${FIRST_KEY_ORDER} LIMIT ?`,
        );
        let rows = first.all(pageSize) as Row[];
        while (rows.length > 0) {
          for (const r of rows) yield toKey(r);
          const last = rows[rows.length - 1] as Row;
          rows = next.all(
            last.patient_id,
            last.pathogen,
            last.date_days,
            last.source_row,
            last.isolate_id,
            pageSize,
          ) as Row[];
        }
      } finally {
        db?.exec(`DROP TABLE IF EXISTS ${table}`);
      }
    },
    async setFirstIsolateFlags(datasetId: string, flags: readonly FirstIsolateFlag[]) {
      if (flags.length === 0) return;
      const conn = open();
      setFlagsStmt ??= conn.prepare(
        'UPDATE isolates SET first_glass = ?, first_episode = ? WHERE dataset_id = ? AND isolate_id = ?',
      );
      const stmt = setFlagsStmt;
      conn.transaction(() => {
        for (const f of flags) stmt.run(f.glass ? 1 : 0, f.episode ? 1 : 0, datasetId, f.isolateId);
      })();
    },
  };
}
