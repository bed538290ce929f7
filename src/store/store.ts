import type BetterSqlite3 from 'better-sqlite3';
import type { Kysely, Transaction } from 'kysely';
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
  /** Closes the database or the pool. Safe to call twice. */
  close(): Promise<void>;
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
