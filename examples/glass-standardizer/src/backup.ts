#!/usr/bin/env node
// Backup and restore of a DATA_DIR (SQLite database + stored uploads), as a module and a CLI.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, realpathSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';

/** Version of the backup layout written in `manifest.json`. */
export const BACKUP_FORMAT = 1;
const SQLITE_FILE = 'glass.sqlite';
const UPLOADS = 'uploads';
const MANIFEST = 'manifest.json';

export interface BackupFile {
  /** Path relative to the backup directory. */
  readonly file: string;
  readonly bytes: number;
  readonly sha256: string;
}

export interface BackupManifest {
  readonly format: number;
  readonly createdAt: string;
  /** `sqlite`: the database is in the backup; `postgres`: only the uploads are (use pg_dump). */
  readonly storage: 'sqlite' | 'postgres';
  /** The DATA_DIR the backup was taken from (restore rewrites upload paths to the new one). */
  readonly dataDir: string;
  readonly database?: BackupFile;
  readonly datasets?: number;
  readonly uploads: readonly BackupFile[];
  /**
   * Uploads the database snapshot refers to that were gone when they were copied (their dataset
   * was deleted meanwhile). Only a dataset still `queued`/`processing` needs its upload.
   */
  readonly missingUploads: readonly string[];
}

export interface BackupOptions {
  /** The service's DATA_DIR. */
  readonly dataDir: string;
  /** Directory to create; must not exist yet. */
  readonly dest: string;
  /** Set when the service stores its data in PostgreSQL: then only the uploads are copied. */
  readonly databaseUrl?: string | undefined;
}

export interface RestoreOptions {
  /** The DATA_DIR to restore into (stop the service that uses it first). */
  readonly dataDir: string;
  /** A directory written by `backup()`. */
  readonly from: string;
  /** Replace an existing database and uploads in `dataDir`. @default false */
  readonly force?: boolean;
}

export interface RestoreReport {
  readonly storage: 'sqlite' | 'postgres';
  readonly datasets: number | undefined;
  readonly uploads: number;
}

export class BackupError extends Error {
  override readonly name = 'BackupError';
}

async function digest(path: string): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

/** Every stored upload the database refers to, by its (absolute) path. */
function uploadPathsOf(db: Database.Database): string[] {
  return (
    db.prepare('SELECT upload_path FROM datasets WHERE upload_path IS NOT NULL').all() as {
      upload_path: string;
    }[]
  ).map((r) => r.upload_path);
}

/**
 * Copies a live DATA_DIR into `dest`. The database is copied with SQLite's online backup API
 * (better-sqlite3 `db.backup()`): a consistent snapshot taken while the service keeps reading and
 * writing. The uploads that snapshot refers to are copied after it; uploads are never changed once
 * stored, so the pair is consistent (an upload whose dataset was deleted meanwhile is listed in
 * `missingUploads`). The backup is written to a temporary directory and renamed into place last,
 * so `dest` exists only when it is complete.
 */
export async function backup(options: BackupOptions): Promise<BackupManifest> {
  const dataDir = resolve(options.dataDir);
  const dest = resolve(options.dest);
  if (existsSync(dest)) throw new BackupError(`${dest} already exists; give a new directory`);
  const work = `${dest}.partial-${process.pid}`;
  await rm(work, { recursive: true, force: true });
  await mkdir(join(work, UPLOADS), { recursive: true });
  try {
    let database: BackupFile | undefined;
    let datasets: number | undefined;
    let referenced: string[];
    if (options.databaseUrl) {
      // PostgreSQL holds the rows (back them up with pg_dump); every stored upload is copied.
      const dir = join(dataDir, UPLOADS);
      referenced = existsSync(dir)
        ? (await readdir(dir, { withFileTypes: true }))
            .filter((e) => e.isFile())
            .map((e) => join(dir, e.name))
        : [];
    } else {
      const source = join(dataDir, SQLITE_FILE);
      if (!existsSync(source))
        throw new BackupError(`no database at ${source} (is DATA_DIR=${dataDir} right?)`);
      const target = join(work, SQLITE_FILE);
      const live = new Database(source, { fileMustExist: true });
      try {
        live.pragma('busy_timeout = 5000');
        await live.backup(target);
      } finally {
        live.close();
      }
      const copy = new Database(target);
      try {
        const check = copy.pragma('integrity_check', { simple: true });
        if (check !== 'ok') throw new BackupError(`the database copy is damaged: ${String(check)}`);
        // One self-contained file (no -wal/-shm beside it); the service turns WAL on again.
        copy.pragma('journal_mode = DELETE');
        referenced = uploadPathsOf(copy);
        datasets = (copy.prepare('SELECT COUNT(*) AS n FROM datasets').get() as { n: number }).n;
      } finally {
        copy.close();
      }
      database = { file: SQLITE_FILE, ...(await digest(target)) };
    }

    const uploads: BackupFile[] = [];
    const missingUploads: string[] = [];
    for (const path of referenced) {
      const name = basename(path);
      // The recorded path, else the same name under this DATA_DIR (the directory was moved).
      const candidates = [path, join(dataDir, UPLOADS, name)];
      const file = join(UPLOADS, name);
      let copied = false;
      for (const candidate of candidates) {
        try {
          await copyFile(candidate, join(work, file));
          copied = true;
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
      if (copied) uploads.push({ file, ...(await digest(join(work, file))) });
      else missingUploads.push(name);
    }

    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      createdAt: new Date().toISOString(),
      storage: options.databaseUrl ? 'postgres' : 'sqlite',
      dataDir,
      ...(database && datasets !== undefined ? { database, datasets } : {}),
      uploads,
      missingUploads,
    };
    await writeFile(join(work, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    await rename(work, dest);
    return manifest;
  } catch (err) {
    await rm(work, { recursive: true, force: true });
    throw err;
  }
}

/** Reads and checks a backup: its manifest and the size and SHA-256 of every file it lists. */
export async function verifyBackup(from: string): Promise<BackupManifest> {
  const dir = resolve(from);
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')) as BackupManifest;
  } catch (err) {
    throw new BackupError(`${dir} is not a backup: ${(err as Error).message}`);
  }
  if (manifest.format !== BACKUP_FORMAT)
    throw new BackupError(`unknown backup format ${String(manifest.format)} in ${dir}`);
  const files = [...(manifest.database ? [manifest.database] : []), ...manifest.uploads];
  for (const f of files) {
    if (f.file.includes('..') || f.file.startsWith('/'))
      throw new BackupError(`unsafe path ${JSON.stringify(f.file)} in the manifest`);
    const actual = await digest(join(dir, f.file)).catch(() => undefined);
    if (!actual || actual.sha256 !== f.sha256 || actual.bytes !== f.bytes)
      throw new BackupError(`${f.file} is missing or differs from the manifest (damaged backup)`);
  }
  return manifest;
}

/**
 * Restores a backup into `dataDir` (stop the service that uses it first). The uploads are copied
 * under `dataDir/uploads` and the restored database's upload paths are rewritten to point there,
 * so the database may be restored into another directory than the one it came from.
 */
export async function restore(options: RestoreOptions): Promise<RestoreReport> {
  const dataDir = resolve(options.dataDir);
  const from = resolve(options.from);
  const manifest = await verifyBackup(from);
  const dbFile = join(dataDir, SQLITE_FILE);
  const uploadDir = join(dataDir, UPLOADS);
  if (!options.force) {
    if (manifest.storage === 'sqlite' && existsSync(dbFile))
      throw new BackupError(`${dbFile} exists; restore into a fresh DATA_DIR or pass --force`);
    const present = existsSync(uploadDir) ? await readdir(uploadDir) : [];
    if (present.length > 0)
      throw new BackupError(`${uploadDir} is not empty; restore into a fresh DATA_DIR or --force`);
  }
  await mkdir(uploadDir, { recursive: true });
  for (const f of manifest.uploads) await copyFile(join(from, f.file), join(dataDir, f.file));

  let datasets: number | undefined;
  if (manifest.database) {
    const incoming = `${dbFile}.restore-${process.pid}`;
    await copyFile(join(from, manifest.database.file), incoming);
    const db = new Database(incoming, { fileMustExist: true });
    try {
      const update = db.prepare('UPDATE datasets SET upload_path = ? WHERE upload_path = ?');
      db.transaction(() => {
        for (const path of uploadPathsOf(db)) update.run(join(uploadDir, basename(path)), path);
      })();
      // No process owns a dataset of a restored database: a lease copied from the running
      // service would hold an unfinished dataset back for a lease period (30 s).
      const columns = (db.prepare('PRAGMA table_info(datasets)').all() as { name: string }[]).map(
        (c) => c.name,
      );
      if (columns.includes('lease_owner') && columns.includes('lease_until'))
        db.prepare('UPDATE datasets SET lease_owner = NULL, lease_until = NULL').run();
      datasets = (db.prepare('SELECT COUNT(*) AS n FROM datasets').get() as { n: number }).n;
    } finally {
      db.close();
    }
    // A WAL left by an older database would be replayed onto the restored file.
    await rm(`${dbFile}-wal`, { force: true });
    await rm(`${dbFile}-shm`, { force: true });
    await rename(incoming, dbFile);
  }
  return { storage: manifest.storage, datasets, uploads: manifest.uploads.length };
}

const USAGE = `usage: glass-standardizer-backup backup <dir> [--data-dir <path>]
       glass-standardizer-backup restore <dir> [--data-dir <path>] [--force]

backup   copies DATA_DIR (the SQLite database, with SQLite's online backup API, and the stored
         uploads) into <dir>, a new directory; safe while the service runs. With DATABASE_URL
         set only the uploads are copied: back up PostgreSQL with pg_dump (docs/deploy.md).
restore  checks the backup's checksums and restores it into DATA_DIR; stop the service first.
         Refuses a DATA_DIR that holds data unless --force.
DATA_DIR and DATABASE_URL are read like the service reads them (environment, .env files).`;

async function cli(argv: readonly string[]): Promise<number> {
  const [command, dir, ...rest] = argv;
  let dataDir: string | undefined;
  let force = false;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--force') force = true;
    else if (rest[i] === '--data-dir' && rest[i + 1] !== undefined) dataDir = rest[++i];
    else {
      process.stderr.write(`glass-standardizer-backup: unknown argument ${rest[i]}\n${USAGE}\n`);
      return 64;
    }
  }
  if ((command !== 'backup' && command !== 'restore') || !dir) {
    process.stderr.write(`${USAGE}\n`);
    return 64;
  }
  // Only the settings a backup needs, read like the service reads them (no ADMIN_TOKEN needed).
  const { loadConfigOrExit } = await import('@shipshape/config');
  const { schema } = await import('./config.js');
  const config = loadConfigOrExit({
    DATA_DIR: schema.DATA_DIR,
    DATABASE_URL: schema.DATABASE_URL,
  });
  dataDir ??= config.DATA_DIR;
  try {
    if (command === 'backup') {
      const m = await backup({ dataDir, dest: dir, databaseUrl: config.DATABASE_URL });
      process.stdout.write(
        `glass-standardizer-backup: ${m.storage === 'sqlite' ? `database (${m.datasets} datasets) and ` : ''}${m.uploads.length} uploads written to ${resolve(dir)}\n`,
      );
      if (m.storage === 'postgres')
        process.stdout.write(
          'glass-standardizer-backup: the datasets are in PostgreSQL: back them up with pg_dump (docs/deploy.md)\n',
        );
      if (m.missingUploads.length > 0)
        process.stdout.write(
          `glass-standardizer-backup: ${m.missingUploads.length} uploads were deleted while the backup ran (their datasets were deleted): ${m.missingUploads.join(', ')}\n`,
        );
    } else {
      const r = await restore({ dataDir, from: dir, force });
      process.stdout.write(
        `glass-standardizer-backup: restored ${r.storage === 'sqlite' ? `the database (${r.datasets} datasets) and ` : ''}${r.uploads} uploads into ${resolve(dataDir)}\n`,
      );
    }
    return 0;
  } catch (err) {
    process.stderr.write(
      `glass-standardizer-backup: ${command} failed: ${(err as Error).message}\n`,
    );
    return err instanceof BackupError ? 65 : 74;
  }
}

/** The CLI itself (what `glass-standardizer-backup` runs); resolves with the exit code. */
export { cli as runBackupCli };

// Run as a program (`node dist/backup.js`, or the bin through its symlink), not when imported.
const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(realpathSync(entry)).href) {
  process.exitCode = await cli(process.argv.slice(2));
}
