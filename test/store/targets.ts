import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, inject } from 'vitest';
import { type Store, StoreError } from '../../src/store/index.js';
import { createTestDatabase, PG_URL_ENV } from '../setup/postgres.js';

export interface FreshTarget {
  /** What to pass to openStore. */
  target: string;
  cleanup(): Promise<void>;
}

export interface TargetCase {
  name: 'sqlite' | 'postgres';
  /** A new, empty database (a SQLite file in a temp folder, or a new PostgreSQL database). */
  fresh(): Promise<FreshTarget>;
}

/** The run's PostgreSQL URL (from the global setup), or null when it was skipped. */
export function testPgUrl(): string | null {
  let provided: string | null | undefined;
  try {
    provided = inject('meshbridgeTestPgUrl');
  } catch {
    provided = undefined;
  }
  return provided ?? process.env[PG_URL_ENV] ?? null;
}

export function pgSkipReason(): string {
  try {
    return inject('meshbridgeTestPgSkipped') ?? 'PostgreSQL not started';
  } catch {
    return 'PostgreSQL not started';
  }
}

export const sqliteCase: TargetCase = {
  name: 'sqlite',
  async fresh() {
    const dir = mkdtempSync(join(tmpdir(), 'meshbridge-store-'));
    return {
      target: join(dir, 'store.db'),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
};

export function postgresCase(url: string): TargetCase {
  return {
    name: 'postgres',
    async fresh() {
      const db = await createTestDatabase(url);
      return { target: db.url, cleanup: db.drop };
    },
  };
}

const pgUrl = testPgUrl();
/** sqlite always; postgres when the run has one. */
export const TARGETS: TargetCase[] = pgUrl === null ? [sqliteCase] : [sqliteCase, postgresCase(pgUrl)];
/** Non-null when PostgreSQL is not part of this run: say so in the report with a skipped suite. */
export const PG_SKIPPED: string | null = pgUrl === null ? pgSkipReason() : null;

/** Every row of every inventory table, in a stable order: equal snapshots mean an unchanged store. */
export async function snapshot(store: Store): Promise<string> {
  const db = store.db;
  const parts = {
    imports: await db.selectFrom('imports').selectAll().orderBy('id').execute(),
    sources: await db.selectFrom('sources').selectAll().orderBy('id').execute(),
    certificates: await db
      .selectFrom('certificates')
      .select(['fingerprint', 'role', 'mesh', 'cluster', 'anchor_fingerprint', 'first_seen', 'last_seen'])
      .orderBy('fingerprint')
      .execute(),
    certificate_sources: await db
      .selectFrom('certificate_sources')
      .selectAll()
      .orderBy('fingerprint')
      .orderBy('source_id')
      .execute(),
    problems: await db.selectFrom('problems').selectAll().orderBy('id').execute(),
    private_keys_seen: await db.selectFrom('private_keys_seen').selectAll().orderBy('id').execute(),
  };
  return JSON.stringify(parts);
}

export async function counts(store: Store): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of [
    'imports',
    'sources',
    'certificates',
    'certificate_sources',
    'problems',
    'private_keys_seen',
  ] as const) {
    const row = await store.db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    out[table] = Number(row.n);
  }
  return out;
}

/** The StoreError `p` rejects with (fails the test when it resolves or rejects otherwise). */
export async function rejection(p: Promise<unknown>): Promise<StoreError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(StoreError);
    return err as StoreError;
  }
  throw new Error('expected a rejection');
}
