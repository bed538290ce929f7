import { appendFileSync, cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import {
  findMigrationsDir,
  loadMigrations,
  migrate,
  migrationStatus,
  openStore,
  type Store,
  StoreError,
} from '../../src/store/index.js';
import { repoRoot } from '../helpers/fixtures.js';
import { PG_SKIPPED, TARGETS } from './targets.js';

const tmpDirs: string[] = [];
afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

/** A migrations folder holding only the first real migration, so the runner is tested on a known list. */
function copyMigrations(): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshbridge-migrations-'));
  tmpDirs.push(dir);
  for (const f of readdirSync(join(repoRoot, 'migrations')).filter((f) => f.startsWith('0001_'))) {
    cpSync(join(repoRoot, 'migrations', f), join(dir, f));
  }
  return dir;
}

const shippedMigrations = [
  ...new Set(
    readdirSync(join(repoRoot, 'migrations')).map((f) => f.replace(/\.(postgres|sqlite)?\.?sql$/, '')),
  ),
].sort();

async function tableExists(store: Store, name: string): Promise<boolean> {
  const tables = await store.db.introspection.getTables();
  return tables.some((t) => t.name === name);
}

describe('migration files', () => {
  it('finds migrations/ from the module, and picks dialect overrides', () => {
    expect(findMigrationsDir({})).toBe(join(repoRoot, 'migrations'));
    const dir = copyMigrations();
    writeFileSync(join(dir, '0002_extra.sql'), 'CREATE TABLE extra (id TEXT PRIMARY KEY);\n');
    writeFileSync(
      join(dir, '0002_extra.postgres.sql'),
      'CREATE TABLE extra (id TEXT PRIMARY KEY, pg INTEGER);\n',
    );
    expect(loadMigrations(dir, 'sqlite').map((m) => m.file)).toEqual([
      '0001_inventory.sql',
      '0002_extra.sql',
    ]);
    expect(loadMigrations(dir, 'postgres').map((m) => m.file)).toEqual([
      '0001_inventory.sql',
      '0002_extra.postgres.sql',
    ]);
  });

  it('refuses badly named files, clashing versions, and a migration missing for a dialect', () => {
    const bad = (setup: (dir: string) => void, dialect: 'sqlite' | 'postgres' = 'sqlite') => {
      const dir = copyMigrations();
      setup(dir);
      try {
        loadMigrations(dir, dialect);
      } catch (err) {
        return (err as StoreError).code;
      }
      return 'no error';
    };
    expect(bad((d) => writeFileSync(join(d, '2_oops.sql'), ''))).toBe('STORE_MIGRATION_INVALID');
    expect(bad((d) => writeFileSync(join(d, '0001_other.sql'), ''))).toBe('STORE_MIGRATION_INVALID');
    expect(bad((d) => writeFileSync(join(d, '0002_pg_only.postgres.sql'), ''), 'sqlite')).toBe(
      'STORE_MIGRATION_INVALID',
    );
  });
});

describe.each(TARGETS)('migrations on $name', (tc) => {
  it('apply once: opening twice changes nothing and status lists them applied', async () => {
    const fresh = await tc.fresh();
    try {
      const first = await openStore(fresh.target);
      const s1 = await migrationStatus(first);
      await first.close();
      const second = await openStore(fresh.target);
      const s2 = await migrationStatus(second);
      expect(await migrate(second)).toEqual([]);
      const files = readdirSync(join(repoRoot, 'migrations')).filter((f) => /^\d{4}_/.test(f));
      expect(s2.applied.map((a) => a.name)).toEqual([...new Set(files.map((f) => f.split('.')[0]))].sort());
      expect(s2.pending).toEqual([]);
      expect(s2.changed).toEqual([]);
      expect(s2.dialect).toBe(tc.name);
      expect(s2.applied).toEqual(s1.applied);
      for (const a of s2.applied) {
        expect(a.checksum).toMatch(/^[0-9a-f]{64}$/);
        expect(a.checksum).toBe(a.currentChecksum);
        expect(a.appliedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      }
      const rows = await second.db.selectFrom('schema_migrations').selectAll().execute();
      expect(rows).toHaveLength(s2.applied.length);
      expect(await tableExists(second, 'certificates')).toBe(true);
      await second.close();
    } finally {
      await fresh.cleanup();
    }
  });

  it('reports pending migrations, applies a new one, and records the dialect file used', async () => {
    const fresh = await tc.fresh();
    const dir = copyMigrations();
    try {
      await (await openStore(fresh.target, { migrationsDir: dir })).close();
      writeFileSync(join(dir, '0002_extra.sql'), 'CREATE TABLE extra (id TEXT PRIMARY KEY);\n');
      writeFileSync(
        join(dir, `0002_extra.${tc.name}.sql`),
        'CREATE TABLE extra (id TEXT PRIMARY KEY, n BIGINT);\n',
      );
      const bare = await openStore(fresh.target, { migrationsDir: dir, migrate: false });
      const before = await migrationStatus(bare);
      expect(before.pending.map((p) => p.file)).toEqual([`0002_extra.${tc.name}.sql`]);
      expect(await migrate(bare)).toEqual(['0002_extra']);
      const after = await migrationStatus(bare);
      expect(after.pending).toEqual([]);
      expect(after.applied.find((a) => a.version === '0002')?.file).toBe(`0002_extra.${tc.name}.sql`);
      await bare.db
        .insertInto('extra' as never)
        .values({ id: 'x', n: 2 ** 40 } as never)
        .execute();
      const n = await sql<{ n: number }>`SELECT n FROM extra`.execute(bare.db);
      expect(n.rows[0]?.n).toBe(2 ** 40);
      await bare.close();
    } finally {
      await fresh.cleanup();
    }
  });

  it('detects an applied migration that was edited: STORE_MIGRATION_CHANGED', async () => {
    const fresh = await tc.fresh();
    const dir = copyMigrations();
    try {
      await (await openStore(fresh.target, { migrationsDir: dir })).close();
      appendFileSync(join(dir, '0001_inventory.sql'), '\nCREATE INDEX sneaky ON certificates (serial);\n');
      await expect(openStore(fresh.target, { migrationsDir: dir })).rejects.toMatchObject({
        code: 'STORE_MIGRATION_CHANGED',
        category: 'conflict',
      });
      const bare = await openStore(fresh.target, { migrationsDir: dir, migrate: false });
      const status = await migrationStatus(bare);
      expect(status.changed).toEqual(['0001_inventory']);
      expect(status.applied[0]).toMatchObject({ changed: true });
      await expect(migrate(bare)).rejects.toMatchObject({ code: 'STORE_MIGRATION_CHANGED' });
      await bare.close();
    } finally {
      await fresh.cleanup();
    }
  });

  it('a failing migration applies nothing of itself: STORE_MIGRATION_FAILED', async () => {
    const fresh = await tc.fresh();
    const dir = copyMigrations();
    try {
      writeFileSync(
        join(dir, '0002_broken.sql'),
        'CREATE TABLE half_done (id TEXT PRIMARY KEY);\nINSERT INTO no_such_table VALUES (1);\n',
      );
      const err = await openStore(fresh.target, { migrationsDir: dir }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect(err).toMatchObject({ code: 'STORE_MIGRATION_FAILED' });
      expect((err as StoreError).message).toContain('0002_broken.sql');
      const bare = await openStore(fresh.target, { migrationsDir: dir, migrate: false });
      const status = await migrationStatus(bare);
      expect(status.applied.map((a) => a.name)).toEqual(['0001_inventory']);
      expect(status.pending.map((p) => p.name)).toEqual(['0002_broken']);
      expect(await tableExists(bare, 'half_done')).toBe(false);
      expect(await tableExists(bare, 'certificates')).toBe(true);
      await bare.close();
    } finally {
      await fresh.cleanup();
    }
  });

  it('parallel opens of a fresh database migrate exactly once', async () => {
    const fresh = await tc.fresh();
    try {
      const stores = await Promise.all(
        Array.from({ length: 8 }, () => openStore(fresh.target, { poolMax: 2 })),
      );
      const rows = await stores[0]!.db.selectFrom('schema_migrations').selectAll().execute();
      expect(rows.map((r) => r.name)).toEqual(shippedMigrations);
      for (const s of stores) expect((await migrationStatus(s)).pending).toEqual([]);
      await Promise.all(stores.map((s) => s.close()));
    } finally {
      await fresh.cleanup();
    }
  });
});

if (PG_SKIPPED !== null) {
  describe.skip(`migrations on postgres — SKIPPED: ${PG_SKIPPED}`, () => {
    it('needs a PostgreSQL server', () => {});
  });
}
