import pg from 'pg';
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

/** The part of a `pg.Pool` this storage uses. */
export interface PgPoolLike {
  query(text: string, values?: unknown[]): Promise<{ rows: Row[]; rowCount: number | null }>;
  connect(): Promise<{
    query(text: string, values?: unknown[]): Promise<{ rows: Row[]; rowCount: number | null }>;
    release(err?: Error | boolean): void;
    on?(event: 'error', listener: (err: Error) => void): unknown;
    off?(event: 'error', listener: (err: Error) => void): unknown;
  }>;
  end(): Promise<void>;
  on?(event: 'error', listener: (err: Error) => void): unknown;
}

export interface PostgresStorageOptions {
  /** `postgres://…`; used to create a pool when `pool` is not given. */
  readonly connectionString?: string;
  /** An existing pool; the storage does not end it on close(). */
  readonly pool?: PgPoolLike;
  /** Schema holding the tables; created when missing. @default 'public' */
  readonly schema?: string;
  /** Isolates per multi-row INSERT statement (19 parameters each). @default 500 */
  readonly insertChunk?: number;
  /**
   * Receives errors of idle pooled connections (a server restart terminates them) and of
   * checked-out ones between queries. They are expected during an outage: the next query fails
   * and the service answers 503 until the server is back. @default ignored
   */
  readonly onConnectionError?: (err: Error) => void;
}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

const AGGREGATE_FIELDS = [
  'isolate_id',
  'first_glass',
  'first_episode',
  'pathogen',
  'specimen',
  'sex',
  'age_group',
  'origin',
  'year',
  'ward',
  'laboratory',
  'results',
] as const;
const AGGREGATE_COLUMNS = AGGREGATE_FIELDS.join(', ');

/** PostgreSQL storage (pg): batched multi-row inserts, one transaction per batch. */
export function createPostgresStorage(options: PostgresStorageOptions): GlassStorage {
  const schema = options.schema ?? 'public';
  if (!IDENT.test(schema)) {
    throw new Error(
      `glass-standardizer: createPostgresStorage "schema" must be a lower-case SQL identifier, got ${JSON.stringify(schema)}`,
    );
  }
  if (!options.pool && !options.connectionString) {
    throw new Error(
      'glass-standardizer: createPostgresStorage needs "connectionString" (postgres://…) or "pool"',
    );
  }
  const chunk = options.insertChunk ?? 500;
  if (!Number.isInteger(chunk) || chunk < 1 || chunk * ISOLATE_COLUMNS.length > 65_535) {
    throw new Error(
      `glass-standardizer: createPostgresStorage "insertChunk" must be an integer 1..${Math.floor(65_535 / ISOLATE_COLUMNS.length)}, got ${chunk}`,
    );
  }
  const ownsPool = !options.pool;
  const pool: PgPoolLike =
    options.pool ??
    (new pg.Pool({
      connectionString: options.connectionString,
      max: 4,
      // An unreachable server fails a request in 2 s instead of waiting for the OS's TCP timeout;
      // a refused connection (server down) fails at once.
      connectionTimeoutMillis: 2000,
      keepAlive: true,
    }) as unknown as PgPoolLike);
  const onConnectionError = options.onConnectionError ?? (() => undefined);
  // Without a listener, an idle client's error (e.g. `terminating connection due to
  // administrator command` when the server restarts) is an uncaught exception.
  if (ownsPool) pool.on?.('error', onConnectionError);
  const t = (name: string) => `"${schema}".${name}`;
  const SCHEMA_SQL = `
        CREATE TABLE IF NOT EXISTS ${t('datasets')} (
          id TEXT PRIMARY KEY,
          status TEXT NOT NULL,
          progress DOUBLE PRECISION NOT NULL,
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
          antibiotics TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS datasets_status ON ${t('datasets')} (status);
        ALTER TABLE ${t('datasets')} ADD COLUMN IF NOT EXISTS lease_owner TEXT,
          ADD COLUMN IF NOT EXISTS lease_until BIGINT,
          ADD COLUMN IF NOT EXISTS owner TEXT;
        CREATE TABLE IF NOT EXISTS ${t('isolates')} (
          dataset_id TEXT NOT NULL REFERENCES ${t('datasets')} (id) ON DELETE CASCADE,
          isolate_id INTEGER NOT NULL,
          source_row INTEGER NOT NULL,
          patient_id TEXT COLLATE "C" NOT NULL,
          specimen_date TEXT,
          date_days INTEGER,
          year INTEGER,
          sex TEXT NOT NULL,
          age_years INTEGER,
          age_group TEXT NOT NULL,
          specimen TEXT NOT NULL,
          organism_raw TEXT NOT NULL,
          pathogen TEXT COLLATE "C" NOT NULL,
          origin TEXT NOT NULL,
          ward TEXT,
          laboratory TEXT,
          first_glass SMALLINT NOT NULL,
          first_episode SMALLINT NOT NULL,
          results TEXT NOT NULL,
          PRIMARY KEY (dataset_id, isolate_id)
        );
        CREATE INDEX IF NOT EXISTS isolates_first
          ON ${t('isolates')} (dataset_id, patient_id, pathogen, date_days, source_row);
        CREATE TABLE IF NOT EXISTS ${t('analytics')} (
          dataset_id TEXT PRIMARY KEY REFERENCES ${t('datasets')} (id) ON DELETE CASCADE,
          cube TEXT NOT NULL
        );
      `;

  async function getDataset(id: string): Promise<DatasetRecord | undefined> {
    const { rows } = await pool.query(`SELECT * FROM ${t('datasets')} WHERE id = $1`, [id]);
    return rows[0] ? rowToDataset(rows[0]) : undefined;
  }

  async function inTransaction<T>(
    work: (
      q: (text: string, values?: unknown[]) => Promise<{ rows: Row[]; rowCount: number | null }>,
    ) => Promise<T>,
  ): Promise<T> {
    const client = await pool.connect();
    // A checked-out client has no pool listener: a connection lost between two queries of the
    // transaction (`read ECONNRESET`) would be an uncaught exception. The query that follows fails.
    client.on?.('error', onConnectionError);
    try {
      await client.query('BEGIN');
      const result = await work((text, values) => client.query(text, values));
      await client.query('COMMIT');
      client.off?.('error', onConnectionError);
      client.release();
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.off?.('error', onConnectionError);
      client.release(true);
      throw err;
    }
  }

  async function createTables(): Promise<void> {
    // Instances sharing a database start together; CREATE … IF NOT EXISTS alone races in the
    // catalog (duplicate key in pg_type), so one advisory lock per schema runs them in turn.
    await inTransaction(async (q) => {
      await q('SELECT pg_advisory_xact_lock(hashtext($1))', [`glass-standardizer:${schema}`]);
      await q(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await q(SCHEMA_SQL);
    });
  }

  return {
    kind: 'postgres',
    async init() {
      await createTables();
    },
    async ping() {
      try {
        await pool.query(`SELECT 1 FROM ${t('datasets')} LIMIT 1`);
      } catch (err) {
        // 42P01/3F000: the server is back but the tables (or schema) are gone, e.g. a database
        // recreated from scratch. Create them again so the service heals by itself.
        const code = (err as { code?: unknown }).code;
        if (code !== '42P01' && code !== '3F000') throw err;
        await createTables();
      }
    },
    async close() {
      if (ownsPool) await pool.end();
    },
    async createDataset(input: NewDataset) {
      const record = newDatasetRow(input, new Date().toISOString());
      const row = datasetToRow(record);
      await pool.query(
        `INSERT INTO ${t('datasets')} (${DATASET_COLUMNS.join(', ')}) VALUES (${DATASET_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`,
        DATASET_COLUMNS.map((c) => row[c]),
      );
      return record;
    },
    getDataset,
    async listDatasets(page = {}) {
      const { rows } = await pool.query(
        `SELECT * FROM ${t('datasets')} ORDER BY created_at DESC, id LIMIT $1 OFFSET $2`,
        [page.limit ?? 50, page.offset ?? 0],
      );
      const count = await pool.query(`SELECT COUNT(*)::int AS n FROM ${t('datasets')}`);
      return { items: rows.map(rowToDataset), total: Number(count.rows[0]?.n ?? 0) };
    },
    async listDatasetsByStatus(statuses: readonly DatasetStatus[]) {
      if (statuses.length === 0) return [];
      const { rows } = await pool.query(
        `SELECT * FROM ${t('datasets')} WHERE status = ANY($1::text[]) ORDER BY created_at, id`,
        [statuses],
      );
      return rows.map(rowToDataset);
    },
    async updateDataset(id: string, patch: DatasetPatch) {
      const sets = ['updated_at = $2'];
      const values: unknown[] = [id, new Date().toISOString()];
      for (const [key, value] of Object.entries(patch)) {
        const column = PATCH_COLUMNS[key];
        if (!column || value === undefined) continue;
        values.push(patchValue(key, value));
        sets.push(`${column} = $${values.length}`);
      }
      await pool.query(`UPDATE ${t('datasets')} SET ${sets.join(', ')} WHERE id = $1`, values);
      return getDataset(id);
    },
    async claimDataset(id: string, owner: string, leaseMs: number, now = Date.now()) {
      const res = await pool.query(
        `UPDATE ${t('datasets')} SET lease_owner = $2, lease_until = $3
         WHERE id = $1 AND status NOT IN ('done', 'failed')
           AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until < $4)`,
        [id, owner, now + leaseMs, now],
      );
      return res.rowCount === 1;
    },
    async releaseDataset(id: string, owner: string) {
      await pool.query(
        `UPDATE ${t('datasets')} SET lease_owner = NULL, lease_until = NULL
         WHERE id = $1 AND lease_owner = $2`,
        [id, owner],
      );
    },
    async deleteDataset(id: string) {
      return inTransaction(async (q) => {
        await q(`DELETE FROM ${t('isolates')} WHERE dataset_id = $1`, [id]);
        const res = await q(`DELETE FROM ${t('datasets')} WHERE id = $1`, [id]);
        return (res.rowCount ?? 0) > 0;
      });
    },
    async insertIsolates(datasetId: string, isolates: readonly IsolateRecord[]) {
      if (isolates.length === 0) return;
      const width = ISOLATE_COLUMNS.length;
      await inTransaction(async (q) => {
        for (let start = 0; start < isolates.length; start += chunk) {
          const part = isolates.slice(start, start + chunk);
          const values: unknown[] = [];
          const tuples: string[] = [];
          part.forEach((isolate, r) => {
            values.push(...isolateToValues(datasetId, isolate));
            tuples.push(`(${ISOLATE_COLUMNS.map((_, c) => `$${r * width + c + 1}`).join(', ')})`);
          });
          await q(
            `INSERT INTO ${t('isolates')} (${ISOLATE_COLUMNS.join(', ')}) VALUES ${tuples.join(', ')}`,
            values,
          );
        }
      });
    },
    async deleteIsolates(datasetId: string) {
      await inTransaction(async (q) => {
        await q(`DELETE FROM ${t('analytics')} WHERE dataset_id = $1`, [datasetId]);
        await q(`DELETE FROM ${t('isolates')} WHERE dataset_id = $1`, [datasetId]);
      });
    },
    async saveAnalytics(datasetId: string, cube: string) {
      await pool.query(
        `INSERT INTO ${t('analytics')} (dataset_id, cube) VALUES ($1, $2)
         ON CONFLICT (dataset_id) DO UPDATE SET cube = EXCLUDED.cube`,
        [datasetId, cube],
      );
    },
    async getAnalytics(datasetId: string) {
      const { rows } = await pool.query(
        `SELECT cube FROM ${t('analytics')} WHERE dataset_id = $1`,
        [datasetId],
      );
      return rows[0] ? String(rows[0].cube) : undefined;
    },
    async *iterateAggregateRows(datasetId: string, pageSize = 5000) {
      let after = 0;
      for (;;) {
        const { rows } = await pool.query(
          `SELECT ${AGGREGATE_COLUMNS} FROM ${t('isolates')} WHERE dataset_id = $1 AND isolate_id > $2
           ORDER BY isolate_id LIMIT $3`,
          [datasetId, after, pageSize],
        );
        if (rows.length === 0) return;
        for (const r of rows) yield rawToAggregateRow(AGGREGATE_FIELDS.map((c) => r[c]));
        after = Number(rows[rows.length - 1]?.isolate_id);
      }
    },
    async uploadPaths() {
      const { rows } = await pool.query(
        `SELECT upload_path FROM ${t('datasets')} WHERE upload_path IS NOT NULL`,
      );
      return rows.map((r) => String(r.upload_path));
    },
    async countIsolates(datasetId: string) {
      const { rows } = await pool.query(
        `SELECT COUNT(*)::int AS n FROM ${t('isolates')} WHERE dataset_id = $1`,
        [datasetId],
      );
      return Number(rows[0]?.n ?? 0);
    },
    async *iterateIsolates(datasetId: string, query: IsolateQuery = {}) {
      const values: unknown[] = [datasetId, 0, query.pageSize ?? 2000];
      const where = ['dataset_id = $1', 'isolate_id > $2'];
      if (query.firstIsolate === 'glass') where.push('first_glass = 1');
      if (query.firstIsolate === 'episode') where.push('first_episode = 1');
      if (query.pathogen !== undefined) {
        values.push(query.pathogen);
        where.push(`pathogen = $${values.length}`);
      }
      if (query.specimen !== undefined) {
        values.push(query.specimen);
        where.push(`specimen = $${values.length}`);
      }
      const text = `SELECT * FROM ${t('isolates')} WHERE ${where.join(' AND ')} ORDER BY isolate_id LIMIT $3`;
      for (;;) {
        const { rows } = await pool.query(text, values);
        if (rows.length === 0) return;
        for (const row of rows) yield rowToIsolate(row);
        values[1] = Number(rows[rows.length - 1]?.isolate_id);
      }
    },
    async *iterateFirstIsolateKeys(datasetId: string, pageSize = 5000) {
      const cols = KEY_COLUMNS;
      const order = 'ORDER BY patient_id, pathogen, date_days, source_row';
      let { rows } = await pool.query(
        `SELECT ${cols} FROM ${t('isolates')} WHERE dataset_id = $1 AND date_days IS NOT NULL ${order} LIMIT $2`,
        [datasetId, pageSize],
      );
      while (rows.length > 0) {
        for (const r of rows) yield toKey(r);
        const last = rows[rows.length - 1] as Row;
        ({ rows } = await pool.query(
          `SELECT ${cols} FROM ${t('isolates')} WHERE dataset_id = $1 AND date_days IS NOT NULL
             AND (patient_id, pathogen, date_days, source_row) > ($2, $3, $4, $5) ${order} LIMIT $6`,
          [datasetId, last.patient_id, last.pathogen, last.date_days, last.source_row, pageSize],
        ));
      }
    },
    async setFirstIsolateFlags(datasetId: string, flags: readonly FirstIsolateFlag[]) {
      if (flags.length === 0) return;
      await pool.query(
        `UPDATE ${t('isolates')} AS i SET first_glass = f.g, first_episode = f.e
         FROM (SELECT unnest($2::int[]) AS id, unnest($3::smallint[]) AS g, unnest($4::smallint[]) AS e) AS f
         WHERE i.dataset_id = $1 AND i.isolate_id = f.id`,
        [
          datasetId,
          flags.map((f) => f.isolateId),
          flags.map((f) => (f.glass ? 1 : 0)),
          flags.map((f) => (f.episode ? 1 : 0)),
        ],
      );
    },
  };
}
