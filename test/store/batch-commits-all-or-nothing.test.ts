/**
 * `store.batch`, the group-commit path: every statement of a batch lands, or none does.
 * Three ways to run it are covered: a SQLite file (a writer thread with its own
 * connection), SQLite `:memory:` (the main connection), and PostgreSQL (one pool
 * transaction). Values cross to the writer thread as JSON when they can, through the
 * structured serializer otherwise; both must arrive unchanged.
 */

import Database from 'better-sqlite3';
import { CompiledQuery, type Kysely, sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import { jsonSafe } from '../../src/store/sqlite-writer.js';
import { type FreshTarget, rejection, TARGETS } from './targets.js';

const memoryCase = {
  name: 'sqlite :memory:',
  fresh: async (): Promise<FreshTarget> => ({ target: ':memory:', cleanup: async () => undefined }),
};

/** A table of the test's own, outside the store's schema type. */
type Probe = Kysely<{ probe: { name: string; holder: string } }>;
const probe = (store: Store) => store.db as unknown as Probe;

function insertLock(store: Store, name: string, holder = 'a'): CompiledQuery {
  return probe(store).insertInto('probe').values({ name, holder }).compile();
}

async function lockNames(store: Store): Promise<string[]> {
  const rows = await probe(store).selectFrom('probe').select('name').orderBy('name').execute();
  return rows.map((r) => r.name);
}

for (const c of [...TARGETS, memoryCase]) {
  describe(`store.batch on ${c.name}`, () => {
    let target: FreshTarget | undefined;
    let store: Store | undefined;
    afterEach(async () => {
      await store?.close();
      await target?.cleanup();
      store = undefined;
      target = undefined;
    });
    const open = async () => {
      target = await c.fresh();
      store = await openStore(target.target);
      await store.db.schema
        .createTable('probe')
        .addColumn('name', 'text', (col) => col.primaryKey())
        .addColumn('holder', 'text', (col) => col.notNull())
        .execute();
      return store;
    };

    it('commits every statement and reports the rows each changed', async () => {
      const s = await open();
      const changed = await s.batch([
        { query: insertLock(s, 'a') },
        { query: insertLock(s, 'b') },
        { query: probe(s).updateTable('probe').set({ holder: 'z' }).compile() },
      ]);
      expect(changed).toEqual([1, 1, 2]);
      expect(await lockNames(s)).toEqual(['a', 'b']);
    });

    it('inserts rows for one table, with an ON CONFLICT suffix written for both dialects', async () => {
      const s = await open();
      const rows = Array.from({ length: 500 }, (_, i) => [`r${String(i).padStart(3, '0')}`, 'first']);
      const upsert = 'ON CONFLICT (name) DO UPDATE SET holder = excluded.holder';
      const into = 'probe';
      const columns = ['name', 'holder'];
      expect(await s.batch([{ insert: { into, columns, rows } }])).toEqual([500]);
      const again = [
        ['r000', 'second'],
        ['new', 'second'],
      ];
      expect(await s.batch([{ insert: { into, columns, rows: again, suffix: upsert } }])).toEqual([2]);
      const names = await lockNames(s);
      expect(names).toHaveLength(501);
      const r000 = await probe(s).selectFrom('probe').select('holder').where('name', '=', 'r000').execute();
      expect(r000).toEqual([{ holder: 'second' }]);
      // Without the suffix a duplicate breaks the batch: nothing of it lands.
      await expect(
        s.batch([
          {
            insert: {
              into,
              columns,
              rows: [
                ['fresh', 'x'],
                ['r001', 'x'],
              ],
            },
          },
        ]),
      ).rejects.toThrow();
      expect(await lockNames(s)).not.toContain('fresh');
    });

    it('writes nothing when one statement fails (constraint), and stays usable', async () => {
      const s = await open();
      await s.batch([{ query: insertLock(s, 'a') }]);
      await expect(s.batch([{ query: insertLock(s, 'b') }, { query: insertLock(s, 'a') }])).rejects.toThrow();
      expect(await lockNames(s)).toEqual(['a']);
      await s.batch([{ query: insertLock(s, 'c') }]);
      expect(await lockNames(s)).toEqual(['a', 'c']);
    });

    it('rolls back with STORE_CONFLICT when a statement changes an unexpected number of rows', async () => {
      const s = await open();
      const err = await rejection(
        s.batch([
          { query: insertLock(s, 'a') },
          {
            query: probe(s).updateTable('probe').set({ holder: 'b' }).where('name', '=', 'gone').compile(),
            expectChanges: 1,
            conflict: 'lock gone was taken by someone else',
          },
        ]),
      );
      expect(err.code).toBe('STORE_CONFLICT');
      expect(err.message).toBe('lock gone was taken by someone else');
      expect(await lockNames(s)).toEqual([]);
    });

    it('serialises with builder transactions on the same store', async () => {
      const s = await open();
      // A builder transaction holds the write lock while batches are queued behind it.
      const held = s.transaction(async (trx) => {
        await (trx as unknown as Probe).insertInto('probe').values({ name: 'first', holder: 'x' }).execute();
        await new Promise((r) => setTimeout(r, 50));
        await (trx as unknown as Probe).insertInto('probe').values({ name: 'second', holder: 'x' }).execute();
      });
      const batches = Array.from({ length: 20 }, (_, i) => s.batch([{ query: insertLock(s, `b${i}`) }]));
      await Promise.all([held, ...batches]);
      expect(await lockNames(s)).toHaveLength(22);
    });

    it('answers STORE_UNAVAILABLE once the store is closed', async () => {
      const s = await open();
      await s.batch([{ query: insertLock(s, 'a') }]);
      await s.close();
      const err = await rejection(s.batch([{ query: insertLock(s, 'b') }]));
      expect(err.code).toBe('STORE_UNAVAILABLE');
    });
  });
}

describe('store.batch on a SQLite file', () => {
  it('is visible to the main connection as soon as it resolves, and to a second process-level connection', async () => {
    const t = await TARGETS[0]!.fresh();
    const a = await openStore(t.target);
    const b = await openStore(t.target, { migrate: false });
    try {
      await a.batch([{ query: CompiledQuery.raw("INSERT INTO broker_locks VALUES ('x', 'h', 'u')") }]);
      const mine = await sql<{ n: number }>`SELECT count(*) AS n FROM broker_locks`.execute(a.db);
      const theirs = await sql<{ n: number }>`SELECT count(*) AS n FROM broker_locks`.execute(b.db);
      expect(Number(mine.rows[0]?.n)).toBe(1);
      expect(Number(theirs.rows[0]?.n)).toBe(1);
    } finally {
      await a.close();
      await b.close();
      await t.cleanup();
    }
  });
});

describe('store.batch hand-off to the SQLite writer thread', () => {
  it('carries every kind of value intact, whether it crosses as JSON or through the structured serializer', async () => {
    const t = await TARGETS[0]!.fresh();
    const s = await openStore(t.target);
    try {
      await sql`CREATE TABLE kinds (k TEXT PRIMARY KEY, v ANY) STRICT`.execute(s.db);
      const values: [string, unknown][] = [
        ['text', 'quotes " \\ newline \n tab \t ü€😀'],
        ['int', 42],
        ['negative', -7],
        ['fraction', 0.1 + 0.2],
        ['max-safe', Number.MAX_SAFE_INTEGER],
        ['null', null],
        ['bytes', Buffer.from([0, 1, 2, 255])],
        ['bigint', 2n ** 62n],
      ];
      const plain = values.filter(([k]) => k !== 'bytes' && k !== 'bigint');
      expect(jsonSafe([{ insert: { into: 'kinds', columns: ['k', 'v'], rows: plain } }])).toBe(true);
      expect(jsonSafe([{ sql: 'SELECT ?', params: [Buffer.from('x')] }])).toBe(false);
      expect(jsonSafe([{ sql: 'SELECT ?', params: [1n] }])).toBe(false);
      expect(jsonSafe([{ sql: 'SELECT ?', params: [Number.NaN] }])).toBe(false);
      expect(jsonSafe([{ sql: 'SELECT ?', params: [undefined] }])).toBe(false);
      // One batch of plain values (JSON), one with bytes and a bigint (serializer).
      await s.batch([{ insert: { into: 'kinds', columns: ['k', 'v'], rows: plain } }]);
      await s.batch([
        {
          insert: {
            into: 'kinds',
            columns: ['k', 'v'],
            rows: values.filter(([k]) => k === 'bytes' || k === 'bigint'),
          },
        },
      ]);
      const reader = new Database(t.target, { readonly: true });
      const rows = reader.prepare('SELECT k, v FROM kinds').safeIntegers(true).all() as {
        k: string;
        v: unknown;
      }[];
      reader.close();
      const got = new Map(rows.map((r) => [r.k, r.v]));
      for (const [k, v] of values) {
        const stored = got.get(k);
        if (typeof v === 'number') expect(Number(stored)).toBe(v);
        else if (Buffer.isBuffer(v)) expect(Buffer.compare(stored as Buffer, v)).toBe(0);
        else expect(stored).toStrictEqual(v);
      }
    } finally {
      await s.close();
      await t.cleanup();
    }
  });
});
