import { resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import {
  CompiledQuery,
  type DatabaseConnection,
  Kysely,
  PostgresDialect,
  SqliteDialect,
  SqliteDriver,
  type Transaction,
} from 'kysely';
import pg from 'pg';
import { driverMessage, isUnavailableError, mapDriverError, scrub } from './driver-errors.js';
import { StoreError } from './errors.js';
import { findMigrationsDir, runMigrations } from './migrate.js';
import type { Database } from './schema.js';
import { ChangeCountMismatch, type SqliteWrite, SqliteWriterThread, sqliteRunner } from './sqlite-writer.js';
import { attachNative, type BatchStatement, type NativeHandle, type Store } from './store.js';

export const DEFAULT_DB_FILE = 'meshbridge.db';

export interface OpenStoreOptions {
  /** Apply pending migrations on open (default true). */
  migrate?: boolean;
  /** Folder of the migrations (default: `MESHBRIDGE_MIGRATIONS_DIR` or the package's `migrations/`). */
  migrationsDir?: string;
  /** SQLite: how long a writer waits for another process's lock (default 5000 ms). */
  busyTimeoutMs?: number;
  /** PostgreSQL: pool size (default 10). */
  poolMax?: number;
  /** PostgreSQL: how long to wait for a connection (default 10000 ms). */
  connectTimeoutMs?: number;
  /** Where the default target is read from (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Base for relative file paths (default `process.cwd()`). */
  cwd?: string;
}

export type StoreTarget =
  | { dialect: 'sqlite'; path: string; display: string }
  | { dialect: 'postgres'; url: string; display: string; password: string | null };

/**
 * The target when none is given: `MESHBRIDGE_DB`, else `DATABASE_URL` when it is a
 * postgres:// URL (the name the architecture gives for production), else `meshbridge.db`.
 */
export function defaultTarget(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MESHBRIDGE_DB) return env.MESHBRIDGE_DB;
  if (env.DATABASE_URL && /^postgres(ql)?:\/\//i.test(env.DATABASE_URL)) return env.DATABASE_URL;
  return DEFAULT_DB_FILE;
}

const SECRET_PARAMS = ['password', 'sslpassword', 'sslkey'];

/** Hides the password of something that looks like a URL even when it does not parse. */
function redactRaw(raw: string): string {
  return raw
    .replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/@]*)@/i, (_m, scheme: string, userinfo: string) => {
      const user = userinfo.split(':')[0] ?? '';
      return `${scheme}${user}${userinfo.includes(':') ? ':***' : ''}@`;
    })
    .replace(/([?&](?:password|sslpassword|sslkey)=)[^&]*/gi, '$1***');
}

/** Classifies and validates a target; the password never reaches `display`. */
export function parseTarget(target: string, cwd: string = process.cwd()): StoreTarget {
  const trimmed = target.trim();
  if (trimmed === '') {
    throw new StoreError(
      'STORE_URL_INVALID',
      'input',
      'the store target is empty: give a file path or postgres:// URL',
    );
  }
  if (trimmed === ':memory:') return { dialect: 'sqlite', path: ':memory:', display: ':memory:' };
  if (/^postgres(ql)?:/i.test(trimmed)) {
    let url: URL;
    try {
      url = new URL(trimmed);
    } catch {
      throw new StoreError(
        'STORE_URL_INVALID',
        'input',
        `${redactRaw(trimmed)} is not a valid PostgreSQL URL: expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`,
      );
    }
    // An empty host is fine only when a `host` parameter names one (e.g. a unix socket folder).
    if (!trimmed.includes('://') || (url.hostname === '' && !url.searchParams.get('host'))) {
      throw new StoreError(
        'STORE_URL_INVALID',
        'input',
        `${redactRaw(trimmed)} names no host: expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`,
      );
    }
    const secrets: string[] = [];
    if (url.password) secrets.push(decodeURIComponent(url.password));
    const shown = new URL(url.href);
    shown.password = '';
    for (const key of SECRET_PARAMS) {
      const value = url.searchParams.get(key);
      if (value !== null) {
        if (value) secrets.push(value);
        shown.searchParams.set(key, '***');
      }
    }
    return {
      dialect: 'postgres',
      url: trimmed,
      display: shown.href.replace('%2A%2A%2A', '***'),
      password: secrets[0] ?? null,
    };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    throw new StoreError(
      'STORE_URL_INVALID',
      'input',
      `unsupported store URL ${redactRaw(trimmed)}: use a SQLite file path, :memory:, or postgres://...`,
    );
  }
  const path = resolve(cwd, trimmed);
  return { dialect: 'sqlite', path, display: path };
}

/** SQLite transactions take the write lock up front, so cross-process writers queue on the busy timeout. */
class ImmediateSqliteDriver extends SqliteDriver {
  readonly #native: BetterSqlite3.Database;

  constructor(config: ConstructorParameters<typeof SqliteDriver>[0], native: BetterSqlite3.Database) {
    super(config);
    this.#native = native;
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }

  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    // SQLite rolls back by itself on some errors (SQLITE_FULL, IOERR); a second rollback would mask them.
    if (this.#native.inTransaction) await connection.executeQuery(CompiledQuery.raw('rollback'));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: ConstructorParameters<typeof SqliteDialect>[0];
  readonly #native: BetterSqlite3.Database;

  constructor(native: BetterSqlite3.Database) {
    const config = { database: native };
    super(config);
    this.#config = config;
    this.#native = native;
  }

  override createDriver(): SqliteDriver {
    return new ImmediateSqliteDriver(this.#config, this.#native);
  }
}

function unavailable(t: StoreTarget, err: unknown): StoreError {
  const secret = t.dialect === 'postgres' ? t.password : null;
  const what = t.dialect === 'postgres' ? 'the PostgreSQL store at' : 'the SQLite store';
  const hint =
    t.dialect === 'postgres'
      ? 'check that the server runs and the URL (--db / MESHBRIDGE_DB) is right'
      : 'check that the folder exists, is writable, and the file is a meshbridge SQLite database';
  return new StoreError(
    'STORE_UNAVAILABLE',
    'unavailable',
    scrub(`cannot open ${what} ${t.display}: ${driverMessage(err)}; ${hint}`, secret),
    {
      cause: err,
    },
  );
}

function openSqlite(
  t: Extract<StoreTarget, { dialect: 'sqlite' }>,
  opts: OpenStoreOptions,
): BetterSqlite3.Database {
  let native: BetterSqlite3.Database | undefined;
  try {
    native = new BetterSqlite3(t.path, { timeout: opts.busyTimeoutMs ?? 5000 });
    native.pragma('journal_mode = WAL');
    native.pragma('foreign_keys = ON');
    // 64 MiB of page cache: a 100k-certificate import updates its indexes in random order,
    // and a small cache spills dirty pages to the WAL mid-transaction.
    native.pragma('cache_size = -65536');
    // Reading the schema proves the file is a database (SQLITE_NOTADB surfaces here, not at open).
    native.prepare('SELECT count(*) FROM sqlite_master').get();
    return native;
  } catch (err) {
    native?.close();
    throw unavailable(t, err);
  }
}

/** A batch in the SQLite runner's form (compiled queries by text and parameters, inserts as they are). */
function sqliteWrites(statements: readonly BatchStatement[]): SqliteWrite[] {
  return statements.map((s) =>
    'insert' in s
      ? { insert: s.insert }
      : {
          sql: s.query.sql,
          params: s.query.parameters,
          ...(s.expectChanges === undefined ? {} : { expectChanges: s.expectChanges }),
        },
  );
}

/** PostgreSQL binds at most 65535 parameters per statement. */
const PG_MAX_PARAMETERS = 60_000;

async function postgresBatch(
  trx: Transaction<Database>,
  statements: readonly BatchStatement[],
): Promise<number[]> {
  const changed: number[] = [];
  for (const s of statements) {
    if ('insert' in s) {
      const { into, columns, rows, suffix } = s.insert;
      const perStatement = Math.max(1, Math.floor(PG_MAX_PARAMETERS / columns.length));
      let n = 0;
      for (let i = 0; i < rows.length; i += perStatement) {
        const chunk = rows.slice(i, i + perStatement);
        const parameters: unknown[] = [];
        const tuples = chunk.map((row) => {
          const first = parameters.length;
          for (const v of row) parameters.push(v);
          return `(${columns.map((_, c) => `$${first + c + 1}`).join(', ')})`;
        });
        const text = `INSERT INTO ${into} (${columns.join(', ')}) VALUES ${tuples.join(', ')}${suffix ? ` ${suffix}` : ''}`;
        const r = await trx.executeQuery(CompiledQuery.raw(text, parameters));
        n += Number(r.numAffectedRows ?? 0n);
      }
      changed.push(n);
    } else {
      const r = await trx.executeQuery(s.query);
      const n = Number(r.numAffectedRows ?? 0n);
      if (s.expectChanges !== undefined && n !== s.expectChanges) throw conflict(s);
      changed.push(n);
    }
  }
  return changed;
}

function conflict(s: BatchStatement | undefined): StoreError {
  return new StoreError(
    'STORE_CONFLICT',
    'conflict',
    (s !== undefined && 'query' in s ? s.conflict : undefined) ??
      'a write changed another number of rows than expected; nothing of the batch was written',
  );
}

function closedStore(target: string): StoreError {
  return new StoreError('STORE_UNAVAILABLE', 'unavailable', `the store ${target} is closed`);
}

const INT8_OID = 20;
const NUMERIC_OID = 1700;

function openPostgres(t: Extract<StoreTarget, { dialect: 'postgres' }>, opts: OpenStoreOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: t.url,
    max: opts.poolMax ?? 10,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
    idleTimeoutMillis: 30_000,
    allowExitOnIdle: true,
    application_name: 'meshbridge',
    types: {
      // BIGINT counters and count(*) come back as numbers, as they do from SQLite.
      getTypeParser: ((oid: number, format?: string) => {
        if (oid === INT8_OID || oid === NUMERIC_OID) return (v: string) => Number(v);
        return pg.types.getTypeParser(oid, format as 'text');
      }) as typeof pg.types.getTypeParser,
    },
  });
  // A client losing its server must not crash the process (pg emits 'error' on idle AND on
  // checked-out clients); the query in flight, or the next one, reports it as STORE_UNAVAILABLE.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  return pool;
}

/**
 * Opens (and by default migrates) the state store.
 *
 * `target`: a SQLite file path (WAL, foreign keys on, busy timeout), `:memory:`, or a
 * `postgres://` / `postgresql://` URL (pg Pool). Default: see {@link defaultTarget}.
 * Errors: STORE_URL_INVALID (bad URL), STORE_UNAVAILABLE (cannot reach/open; the message
 * names the target without its password), STORE_MIGRATION_CHANGED / _INVALID / _FAILED.
 */
export async function openStore(target?: string, opts: OpenStoreOptions = {}): Promise<Store> {
  const t = parseTarget(target ?? defaultTarget(opts.env ?? process.env), opts.cwd);
  const migrationsDir = opts.migrationsDir === undefined ? null : resolve(opts.migrationsDir);

  let native: NativeHandle;
  let db: Kysely<Database>;
  let runBatch: (statements: readonly BatchStatement[]) => Promise<number[]>;
  let writer: SqliteWriterThread | undefined;
  if (t.dialect === 'sqlite') {
    const sqlite = openSqlite(t, opts);
    native = { dialect: 'sqlite', db: sqlite, migrationsDir };
    db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect(sqlite) });
    let run: (writes: readonly SqliteWrite[]) => Promise<number[]>;
    if (t.path === ':memory:') {
      // No second connection can see an in-memory database: run on this one, holding
      // kysely's connection so no builder transaction is in flight meanwhile.
      const runHere = sqliteRunner(sqlite);
      run = (writes) => db.connection().execute(async () => runHere(writes));
    } else {
      const thread = new SqliteWriterThread(t.path, opts.busyTimeoutMs ?? 5000);
      writer = thread;
      run = (writes) => thread.run(writes);
    }
    runBatch = async (statements) => {
      try {
        return await run(sqliteWrites(statements));
      } catch (err) {
        throw err instanceof ChangeCountMismatch ? conflict(statements[err.index]) : err;
      }
    };
  } else {
    const pool = openPostgres(t, opts);
    native = { dialect: 'postgres', pool, password: t.password, migrationsDir };
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    runBatch = (statements) => db.transaction().execute((trx) => postgresBatch(trx, statements));
  }
  const secret = t.dialect === 'postgres' ? t.password : null;

  let closed = false;
  const store: Store = {
    db,
    dialect: t.dialect,
    target: t.display,
    async transaction<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
      try {
        return await db.transaction().execute(fn);
      } catch (err) {
        throw mapDriverError(err, t.display, secret);
      }
    },
    async batch(statements: readonly BatchStatement[]): Promise<number[]> {
      if (closed) throw closedStore(t.display);
      try {
        return await runBatch(statements);
      } catch (err) {
        throw mapDriverError(err, t.display, secret);
      }
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await writer?.close();
      await db.destroy();
    },
  };
  attachNative(store, native);

  try {
    if (opts.migrate === false) {
      if (native.dialect === 'postgres') await native.pool.query('SELECT 1');
    } else {
      await runMigrations(native, t.display, migrationsDir ?? findMigrationsDir(opts.env ?? process.env));
    }
  } catch (err) {
    await store.close().catch(() => undefined);
    if (err instanceof StoreError) throw err;
    if (
      isUnavailableError(err) ||
      /^SQLITE_(READONLY|PERM|AUTH)/.test(String((err as { code?: unknown }).code))
    ) {
      throw unavailable(t, err);
    }
    throw new StoreError(
      'STORE_MIGRATION_FAILED',
      'internal',
      scrub(`cannot prepare the schema of ${t.display}: ${driverMessage(err)}`, secret),
      { cause: err },
    );
  }
  return store;
}
