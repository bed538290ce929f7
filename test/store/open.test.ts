import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultTarget, openStore, parseTarget, StoreError } from '../../src/store/index.js';
import { counts, PG_SKIPPED, postgresCase, rejection, sqliteCase, TARGETS, testPgUrl } from './targets.js';

const SECRET = 'Sup3r-Secret-Pw-9f2c';

function expectNoSecret(err: unknown, secret: string): void {
  expect(err).toBeInstanceOf(StoreError);
  const e = err as StoreError;
  expect(e.message).not.toContain(secret);
  expect(String(e.stack)).not.toContain(secret);
  expect(JSON.stringify(e)).not.toContain(secret);
  expect(JSON.stringify(e.details ?? {})).not.toContain(secret);
}

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 1;
      srv.close(() => resolve(port));
    });
  });
}

describe('targets', () => {
  it('classifies file paths, :memory: and postgres URLs, hiding the password', () => {
    expect(parseTarget(':memory:')).toMatchObject({ dialect: 'sqlite', path: ':memory:' });
    expect(parseTarget('state/x.db', '/srv')).toMatchObject({ dialect: 'sqlite', path: '/srv/state/x.db' });
    const pg = parseTarget(`postgresql://ops:${SECRET}@db.internal:6543/mesh?sslmode=require`);
    expect(pg).toMatchObject({ dialect: 'postgres', password: SECRET });
    expect(pg.display).toBe('postgresql://ops@db.internal:6543/mesh?sslmode=require');
    expect(parseTarget('postgres:///mesh?host=/run/postgresql')).toMatchObject({ dialect: 'postgres' });
    const q = parseTarget(`postgres://ops@db/mesh?password=${SECRET}`);
    expect(q.display).not.toContain(SECRET);
    expect(q.display).toContain('password=***');
  });

  it('refuses a bad URL with STORE_URL_INVALID, without the password', () => {
    for (const bad of [
      `postgres://ops:${SECRET}@[::1/db`,
      `postgres://ops:${SECRET}@:5432/db`,
      'mysql://x/y',
      ' ',
    ]) {
      let err: unknown;
      try {
        parseTarget(bad);
      } catch (e) {
        err = e;
      }
      expect((err as StoreError).code, bad).toBe('STORE_URL_INVALID');
      expect((err as StoreError).category).toBe('input');
      expectNoSecret(err, SECRET);
    }
  });

  it('defaults to MESHBRIDGE_DB, then a postgres DATABASE_URL, then meshbridge.db', () => {
    expect(defaultTarget({ MESHBRIDGE_DB: '/x.db', DATABASE_URL: 'postgres://h/d' })).toBe('/x.db');
    expect(defaultTarget({ DATABASE_URL: 'postgres://h/d' })).toBe('postgres://h/d');
    expect(defaultTarget({ DATABASE_URL: 'mysql://h/d' })).toBe('meshbridge.db');
    expect(defaultTarget({})).toBe('meshbridge.db');
  });

  it('opens meshbridge.db in the working directory when nothing is given', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshbridge-cwd-'));
    try {
      const store = await openStore(undefined, { cwd: dir, env: {} });
      expect(store.dialect).toBe('sqlite');
      expect(store.target).toBe(join(dir, 'meshbridge.db'));
      await store.close();
      expect(existsSync(join(dir, 'meshbridge.db'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('opens :memory: with the schema in place', async () => {
    const store = await openStore(':memory:');
    expect(await counts(store)).toMatchObject({ certificates: 0 });
    await store.close();
    await store.close();
  });
});

describe('unreachable stores', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('PostgreSQL on a closed port: STORE_UNAVAILABLE naming the target, never the password', async () => {
    const port = await closedPort();
    const err = await rejection(
      openStore(`postgres://meshbridge:${SECRET}@127.0.0.1:${port}/meshbridge`, { connectTimeoutMs: 3000 }),
    );
    expect(err.code).toBe('STORE_UNAVAILABLE');
    expect(err.category).toBe('unavailable');
    expect(err.message).toContain(`postgres://meshbridge@127.0.0.1:${port}/meshbridge`);
    expect(err.message).toMatch(/ECONNREFUSED/);
    expectNoSecret(err, SECRET);
  });

  it('SQLite in a missing folder, or a file that is not a database: STORE_UNAVAILABLE', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshbridge-bad-'));
    dirs.push(dir);
    const missing = await rejection(openStore(join(dir, 'no', 'such', 'dir', 'x.db')));
    expect(missing.code).toBe('STORE_UNAVAILABLE');
    expect(missing.message).toContain(join(dir, 'no', 'such', 'dir', 'x.db'));
    const junk = join(dir, 'junk.db');
    writeFileSync(junk, 'this is not a sqlite database, just some text that is long enough '.repeat(20));
    const notDb = await rejection(openStore(junk));
    expect(notDb.code).toBe('STORE_UNAVAILABLE');
  });

  const pgUrl = testPgUrl();
  it.skipIf(pgUrl === null)(
    'PostgreSQL with a wrong password or a missing database: STORE_UNAVAILABLE',
    async () => {
      const url = new URL(pgUrl!);
      url.password = SECRET;
      const auth = await rejection(openStore(url.href));
      expect(auth.code).toBe('STORE_UNAVAILABLE');
      expect(auth.message).toMatch(/password authentication failed/);
      expectNoSecret(auth, SECRET);

      const nodb = new URL(pgUrl!);
      nodb.pathname = '/no_such_database';
      const missing = await rejection(openStore(nodb.href));
      expect(missing.code).toBe('STORE_UNAVAILABLE');
      expect(missing.message).toMatch(/no_such_database/);
      expectNoSecret(missing, decodeURIComponent(new URL(pgUrl!).password));
    },
  );
});

describe.each(TARGETS)('store on $name', (tc) => {
  it('commits a transaction that resolves and rolls back one that throws', async () => {
    const fresh = await tc.fresh();
    const store = await openStore(fresh.target);
    try {
      const row = {
        id: 'i1',
        started_at: '2026-01-01T00:00:00.000Z',
        finished_at: '2026-01-01T00:00:00.000Z',
        mesh: null,
        cluster: null,
        status: 'complete' as const,
        summary: '{}',
      };
      await store.transaction((trx) => trx.insertInto('imports').values(row).execute());
      await expect(
        store.transaction(async (trx) => {
          await trx
            .insertInto('imports')
            .values({ ...row, id: 'i2' })
            .execute();
          throw new Error('changed my mind');
        }),
      ).rejects.toThrow('changed my mind');
      const ids = await store.db.selectFrom('imports').select('id').execute();
      expect(ids.map((r) => r.id)).toEqual(['i1']);
      const one = await sql<{ one: number }>`SELECT 1 AS one`.execute(store.db);
      expect(one.rows[0]?.one).toBe(1);
    } finally {
      await store.close();
      await fresh.cleanup();
    }
  });
});

describe('driver failures inside a transaction', () => {
  it('sqlite: a writer locked out past the busy timeout gets STORE_BUSY', async () => {
    const fresh = await sqliteCase.fresh();
    const a = await openStore(fresh.target);
    const b = await openStore(fresh.target, { busyTimeoutMs: 100 });
    try {
      let release!: () => void;
      const held = new Promise<void>((r) => {
        release = r;
      });
      const holder = a.transaction(async () => {
        await held;
      });
      await new Promise((r) => setTimeout(r, 20));
      const err = await rejection(b.transaction(async () => undefined));
      expect(err).toMatchObject({ code: 'STORE_BUSY', category: 'unavailable' });
      release();
      await holder;
      await b.transaction(async () => undefined);
    } finally {
      await a.close();
      await b.close();
      await fresh.cleanup();
    }
  });

  const pgUrl = testPgUrl();
  it.skipIf(pgUrl === null)(
    'postgres: a connection killed mid-transaction gets STORE_UNAVAILABLE',
    async () => {
      const fresh = await postgresCase(pgUrl!).fresh();
      const store = await openStore(fresh.target);
      try {
        const err = await rejection(
          store.transaction(async (trx) => {
            await sql`SELECT pg_terminate_backend(pg_backend_pid())`.execute(trx);
          }),
        );
        expect(err.code).toBe('STORE_UNAVAILABLE');
        expect(err.message).toContain(store.target);
        expectNoSecret(err, decodeURIComponent(new URL(pgUrl!).password));
        // The pool recovers with a new connection.
        expect((await counts(store)).imports).toBe(0);
      } finally {
        await store.close();
        await fresh.cleanup();
      }
    },
  );
});

if (PG_SKIPPED !== null) {
  describe.skip(`store on postgres — SKIPPED: ${PG_SKIPPED}`, () => {
    it('needs a PostgreSQL server', () => {});
  });
}
