import type BetterSqlite3 from 'better-sqlite3';
import type { CompiledQuery, Kysely, Transaction } from 'kysely';
import type pg from 'pg';
import type { Database } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';

/** An open state store: one Kysely over SQLite or PostgreSQL, migrated. */
export interface Store {
  /** Query builder over the schema in `migrations/`. */
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  /** The target as it may be shown to people: a resolved file path, `:memory:`, or a URL without its password. */
  readonly target: string;
  /**
   * Runs `fn` in one transaction: it commits when `fn` resolves and rolls back when it throws.
   * On SQLite the transaction takes the write lock up front (BEGIN IMMEDIATE), so writers in
   * other processes wait up to the busy timeout instead of failing on a read-to-write upgrade.
   * Connection loss and lock time-outs come out as StoreError (STORE_UNAVAILABLE, STORE_BUSY);
   * anything `fn` throws comes out unchanged.
   */
  transaction<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T>;
  /**
   * Runs compiled write statements in one transaction and returns the rows each changed.
   * The group-commit path: on a SQLite file the batch runs on a writer thread with its own
   * connection (statements prepared once), so inserts and fsyncs do not stall the event
   * loop; on PostgreSQL it is one transaction on the pool. A statement changing another
   * number of rows than its `expectChanges` rolls the whole batch back (STORE_CONFLICT).
   * Other errors as for {@link transaction}.
   */
  batch(statements: readonly BatchStatement[]): Promise<number[]>;
  /** Closes the database or the pool. Safe to call twice. */
  close(): Promise<void>;
}

/** One write of a {@link Store.batch}: a compiled statement, or rows for one table. */
export type BatchStatement = BatchQuery | BatchInsert;

export interface BatchQuery {
  /** A write (INSERT/UPDATE/DELETE without RETURNING), compiled for the store's dialect. */
  query: CompiledQuery;
  /** Roll the batch back unless the statement changed exactly this many rows. */
  expectChanges?: number;
  /** The STORE_CONFLICT message when it did not. */
  conflict?: string;
}

export interface BatchInsert {
  /**
   * Rows for `into`, values in `columns` order, inserted the dialect's cheapest way (a
   * prepared single-row statement on SQLite, multi-row statements on PostgreSQL).
   * `into`, `columns` and `suffix` (e.g. `ON CONFLICT ... DO UPDATE ...`, written for both
   * dialects) are SQL text: code constants only, never input.
   */
  insert: {
    into: string;
    columns: readonly string[];
    rows: readonly (readonly unknown[])[];
    suffix?: string;
  };
}

/** The driver object under a store, for the migration runner only. */
export type NativeHandle = (
  | { dialect: 'sqlite'; db: BetterSqlite3.Database }
  | { dialect: 'postgres'; pool: pg.Pool; password: string | null }
) & {
  /** The migrations folder the store was opened with (null: the default one). */
  migrationsDir: string | null;
};

const natives = new WeakMap<Store, NativeHandle>();

export function attachNative(store: Store, handle: NativeHandle): void {
  natives.set(store, handle);
}

export function nativeOf(store: Store): NativeHandle {
  const handle = natives.get(store);
  if (handle === undefined) throw new TypeError('not a store returned by openStore()');
  return handle;
}
