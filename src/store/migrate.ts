import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type BetterSqlite3 from 'better-sqlite3';
import type pg from 'pg';
import { driverMessage, isUnavailableError, scrub } from './driver-errors.js';
import { StoreError } from './errors.js';
import type { Dialect, NativeHandle, Store } from './store.js';
import { nativeOf } from './store.js';

/**
 * A tiny migration runner over `migrations/NNNN_name.sql`.
 *
 * - `NNNN_name.sql` is portable SQL both databases accept; `NNNN_name.postgres.sql` or
 *   `NNNN_name.sqlite.sql` replaces it for that dialect. Every migration needs a file for
 *   both dialects (an override may be an empty file with a comment).
 * - Each migration runs in its own transaction together with its `schema_migrations` row,
 *   so it is applied whole or not at all. Migration files hold no BEGIN/COMMIT of their own.
 * - The checksum (sha256 of the file, CRLF normalised) is recorded; an applied migration
 *   whose file changed afterwards stops the store from opening (STORE_MIGRATION_CHANGED).
 * - PostgreSQL: the whole run holds a session advisory lock, so concurrent opens serialise.
 *   SQLite: each migration re-checks under BEGIN IMMEDIATE (the write lock), same effect.
 */

export const MIGRATION_FILE = /^(\d{4})_([a-z0-9][a-z0-9_]*?)(?:\.(postgres|sqlite))?\.sql$/;

/** Advisory lock keys (two-int form) used by meshbridge on PostgreSQL: [namespace, key]. */
export const ADVISORY_LOCK_NAMESPACE = 0x6d657368; // 'mesh'
export const MIGRATION_LOCK_KEY = 1;

export interface Migration {
  /** `0001` */
  version: string;
  /** `0001_inventory` */
  name: string;
  /** File chosen for the dialect: `0001_inventory.sql` or `0001_inventory.postgres.sql`. */
  file: string;
  sql: string;
  checksum: string;
}

export interface AppliedMigration {
  version: string;
  name: string;
  file: string;
  checksum: string;
  appliedAt: string;
  /** The file on disk now has another checksum than the one applied. */
  changed: boolean;
  /** Applied in the database but no file for it here (a newer meshbridge migrated this store). */
  unknown: boolean;
  /** Checksum of the file on disk now, or null when there is none. */
  currentChecksum: string | null;
}

export interface MigrationStatus {
  dialect: Dialect;
  directory: string;
  applied: AppliedMigration[];
  pending: Migration[];
  /** Names of applied migrations whose files were edited since. */
  changed: string[];
}

const CREATE_SCHEMA_MIGRATIONS = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  checksum TEXT NOT NULL,
  file TEXT NOT NULL,
  applied_at TEXT NOT NULL
)`;

interface AppliedRow {
  version: string;
  name: string;
  checksum: string;
  file: string;
  applied_at: string;
}

function isMigrationsDir(dir: string): boolean {
  try {
    if (!statSync(dir).isDirectory()) return false;
    return readdirSync(dir).some((f) => MIGRATION_FILE.test(f));
  } catch {
    return false;
  }
}

/**
 * The `migrations/` folder: `MESHBRIDGE_MIGRATIONS_DIR` if set, else the nearest
 * `migrations/` holding NNNN_*.sql files walking up from this module (works from
 * `src/store/` under tsx/vitest and from `dist/store/` or `dist/src/store/` after tsc).
 */
export function findMigrationsDir(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.MESHBRIDGE_MIGRATIONS_DIR;
  if (fromEnv) return resolve(fromEnv);
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'migrations');
    if (isMigrationsDir(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new StoreError(
    'STORE_MIGRATION_INVALID',
    'internal',
    `cannot find the migrations/ folder above ${dirname(fileURLToPath(import.meta.url))}; set MESHBRIDGE_MIGRATIONS_DIR`,
  );
}

export function checksum(sql: string): string {
  return createHash('sha256').update(sql.replace(/\r\n/g, '\n')).digest('hex');
}

/** Reads the migrations for one dialect, in version order. */
export function loadMigrations(dir: string, dialect: Dialect): Migration[] {
  if (!existsSync(dir)) {
    throw new StoreError('STORE_MIGRATION_INVALID', 'internal', `migrations folder ${dir} does not exist`);
  }
  const byName = new Map<
    string,
    { version: string; portable?: string; postgres?: string; sqlite?: string }
  >();
  const versions = new Map<string, string>();
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.sql')) continue;
    const m = MIGRATION_FILE.exec(file);
    if (!m) {
      throw new StoreError(
        'STORE_MIGRATION_INVALID',
        'internal',
        `migration file ${file} in ${dir} is not named NNNN_name.sql (or NNNN_name.postgres.sql / .sqlite.sql)`,
      );
    }
    const [, version, base, variant] = m as unknown as [string, string, string, string | undefined];
    const name = `${version}_${base}`;
    const other = versions.get(version);
    if (other !== undefined && other !== name) {
      throw new StoreError(
        'STORE_MIGRATION_INVALID',
        'internal',
        `two migrations share version ${version}: ${other} and ${name}`,
      );
    }
    versions.set(version, name);
    const entry = byName.get(name) ?? { version };
    if (variant === 'postgres') entry.postgres = file;
    else if (variant === 'sqlite') entry.sqlite = file;
    else entry.portable = file;
    byName.set(name, entry);
  }
  const out: Migration[] = [];
  for (const [name, entry] of [...byName].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const file = (dialect === 'postgres' ? entry.postgres : entry.sqlite) ?? entry.portable;
    if (file === undefined) {
      throw new StoreError(
        'STORE_MIGRATION_INVALID',
        'internal',
        `migration ${name} has no file for ${dialect}: add ${name}.sql or ${name}.${dialect}.sql`,
      );
    }
    const sql = readFileSync(join(dir, file), 'utf8');
    out.push({ version: entry.version, name, file, sql, checksum: checksum(sql) });
  }
  return out;
}

function nowIso(): string {
  return new Date().toISOString();
}

function compare(
  dialect: Dialect,
  directory: string,
  files: Migration[],
  rows: AppliedRow[],
): MigrationStatus {
  const byVersion = new Map(files.map((f) => [f.version, f]));
  const appliedVersions = new Set(rows.map((r) => r.version));
  const applied: AppliedMigration[] = rows
    .slice()
    .sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : 0))
    .map((r) => {
      const file = byVersion.get(r.version);
      return {
        version: r.version,
        name: r.name,
        file: r.file,
        checksum: r.checksum,
        appliedAt: r.applied_at,
        changed: file !== undefined && file.checksum !== r.checksum,
        unknown: file === undefined,
        currentChecksum: file?.checksum ?? null,
      };
    });
  return {
    dialect,
    directory,
    applied,
    pending: files.filter((f) => !appliedVersions.has(f.version)),
    changed: applied.filter((a) => a.changed).map((a) => a.name),
  };
}

function changedError(status: MigrationStatus, target: string): StoreError {
  const first = status.applied.find((a) => a.changed)!;
  return new StoreError(
    'STORE_MIGRATION_CHANGED',
    'conflict',
    `migration ${status.changed.join(', ')} was edited after it was applied to ${target} ` +
      `(applied checksum ${first.checksum.slice(0, 12)}, file now ${first.currentChecksum?.slice(0, 12)}); ` +
      'restore the file and add a new migration for the change',
    { details: { changed: status.changed } },
  );
}

function failedError(m: Migration, target: string, err: unknown, secret: string | null): StoreError {
  if (isUnavailableError(err)) {
    return new StoreError(
      'STORE_UNAVAILABLE',
      'unavailable',
      scrub(`lost the store ${target} while applying migration ${m.file}: ${driverMessage(err)}`, secret),
      { cause: err },
    );
  }
  return new StoreError(
    'STORE_MIGRATION_FAILED',
    'internal',
    scrub(`migration ${m.file} failed on ${target} and was not applied: ${driverMessage(err)}`, secret),
    { cause: err, details: { migration: m.name } },
  );
}

// ---------------------------------------------------------------- SQLite

function sqliteApplied(db: BetterSqlite3.Database): AppliedRow[] {
  const exists = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
    .get();
  if (!exists) return [];
  return db
    .prepare('SELECT version, name, checksum, file, applied_at FROM schema_migrations')
    .all() as AppliedRow[];
}

function sqliteMigrate(
  db: BetterSqlite3.Database,
  files: Migration[],
  dir: string,
  target: string,
): string[] {
  db.exec(CREATE_SCHEMA_MIGRATIONS);
  const status = compare('sqlite', dir, files, sqliteApplied(db));
  if (status.changed.length > 0) throw changedError(status, target);
  const done: string[] = [];
  const isApplied = db.prepare('SELECT checksum FROM schema_migrations WHERE version = ?');
  const record = db.prepare(
    'INSERT INTO schema_migrations (version, name, checksum, file, applied_at) VALUES (?, ?, ?, ?, ?)',
  );
  for (const m of status.pending) {
    const apply = db.transaction(() => {
      // Re-check under the write lock: another process may have applied it meanwhile.
      if (isApplied.get(m.version)) return false;
      db.exec(m.sql);
      record.run(m.version, m.name, m.checksum, m.file, nowIso());
      return true;
    });
    try {
      if (apply.immediate()) done.push(m.name);
    } catch (err) {
      throw failedError(m, target, err, null);
    }
  }
  return done;
}

// ---------------------------------------------------------------- PostgreSQL

async function pgApplied(client: pg.PoolClient | pg.Pool): Promise<AppliedRow[]> {
  const exists = await client.query<{ t: string | null }>(
    "SELECT to_regclass('schema_migrations')::text AS t",
  );
  if (exists.rows[0]?.t == null) return [];
  const res = await client.query<AppliedRow>(
    'SELECT version, name, checksum, file, applied_at FROM schema_migrations',
  );
  return res.rows;
}

async function pgMigrate(
  pool: pg.Pool,
  files: Migration[],
  dir: string,
  target: string,
  secret: string | null,
): Promise<string[]> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('SELECT pg_advisory_lock($1, $2)', [ADVISORY_LOCK_NAMESPACE, MIGRATION_LOCK_KEY]);
    try {
      await client.query(CREATE_SCHEMA_MIGRATIONS);
      const status = compare('postgres', dir, files, await pgApplied(client));
      if (status.changed.length > 0) throw changedError(status, target);
      const done: string[] = [];
      for (const m of status.pending) {
        try {
          await client.query('BEGIN');
          // A simple-protocol query (no parameters) may hold several statements.
          await client.query(m.sql);
          await client.query(
            'INSERT INTO schema_migrations (version, name, checksum, file, applied_at) VALUES ($1, $2, $3, $4, $5)',
            [m.version, m.name, m.checksum, m.file, nowIso()],
          );
          await client.query('COMMIT');
          done.push(m.name);
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw failedError(m, target, err, secret);
        }
      }
      return done;
    } finally {
      await client
        .query('SELECT pg_advisory_unlock($1, $2)', [ADVISORY_LOCK_NAMESPACE, MIGRATION_LOCK_KEY])
        .catch((err: Error) => {
          broken = err;
        });
    }
  } finally {
    // A connection whose unlock failed may still hold the lock: destroy it rather than pool it.
    client.release(broken);
  }
}

// ---------------------------------------------------------------- public

export interface MigrateOptions {
  /** Folder of the migrations; default: findMigrationsDir(). */
  directory?: string;
}

/** Applies what is pending. Returns the names applied now (empty when up to date). */
export async function migrate(store: Store, opts: MigrateOptions = {}): Promise<string[]> {
  const native = nativeOf(store);
  return runMigrations(native, store.target, opts.directory ?? native.migrationsDir ?? findMigrationsDir());
}

/** @internal Used by openStore before the Store object exists. */
export async function runMigrations(
  native: NativeHandle,
  target: string,
  directory: string,
): Promise<string[]> {
  const files = loadMigrations(directory, native.dialect);
  if (native.dialect === 'sqlite') return sqliteMigrate(native.db, files, directory, target);
  return pgMigrate(native.pool, files, directory, target, native.password);
}

/** What is applied (with checksums, flagging edited files) and what is pending. Changes nothing. */
export async function migrationStatus(store: Store, opts: MigrateOptions = {}): Promise<MigrationStatus> {
  const native = nativeOf(store);
  const directory = opts.directory ?? native.migrationsDir ?? findMigrationsDir();
  const files = loadMigrations(directory, native.dialect);
  const rows = native.dialect === 'sqlite' ? sqliteApplied(native.db) : await pgApplied(native.pool);
  return compare(native.dialect, directory, files, rows);
}

/** Throws STORE_MIGRATION_CHANGED if an applied migration's file was edited. */
export async function assertMigrationsUnchanged(store: Store, opts: MigrateOptions = {}): Promise<void> {
  const status = await migrationStatus(store, opts);
  if (status.changed.length > 0) throw changedError(status, store.target);
}
