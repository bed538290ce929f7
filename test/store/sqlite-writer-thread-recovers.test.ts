/**
 * The SQLite writer thread behind `store.batch`: a thread that dies fails only the
 * batches it held, and the next batch runs on a new one; a database file that cannot be
 * opened fails batches until it can, then works without a restart.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteWriterThread, WRITER_NICE } from '../../src/store/sqlite-writer.js';

const insert = (name: string) => ({ insert: { into: 't', columns: ['name'], rows: [[name]] } });

let dir: string | undefined;
let thread: SqliteWriterThread | undefined;
afterEach(async () => {
  await thread?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  thread = undefined;
  dir = undefined;
});

function database(): string {
  dir = mkdtempSync(join(tmpdir(), 'meshbridge-writer-'));
  const path = join(dir, 'w.db');
  const db = new BetterSqlite3(path);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (name TEXT PRIMARY KEY)');
  db.close();
  return path;
}

function names(path: string): string[] {
  const db = new BetterSqlite3(path, { readonly: true });
  try {
    return (db.prepare('SELECT name FROM t ORDER BY name').all() as { name: string }[]).map((r) => r.name);
  } finally {
    db.close();
  }
}

describe('SqliteWriterThread', () => {
  it('starts a new thread after one died; only the batches it held fail', async () => {
    const path = database();
    thread = new SqliteWriterThread(path, 1000);
    expect(await thread.run([insert('before')])).toEqual([1]);
    const worker = (thread as unknown as { worker: Worker }).worker;
    // Another connection holds the write lock, so the batch is still in the thread when it dies.
    const blocker = new BetterSqlite3(path);
    blocker.exec('BEGIN IMMEDIATE');
    const held = thread.run([insert('held')]);
    await new Promise((r) => setTimeout(r, 50));
    const stopped = worker.terminate();
    blocker.exec('ROLLBACK');
    blocker.close();
    await stopped;
    await expect(held).rejects.toThrow(/exited|closed/);
    expect(await thread.run([insert('after')])).toEqual([1]);
    expect(names(path)).toEqual(['after', 'before']);
  });

  it('fails while the file cannot be opened, then recovers by itself', async () => {
    dir = mkdtempSync(join(tmpdir(), 'meshbridge-writer-'));
    const later = join(dir, 'not-yet', 'w.db');
    thread = new SqliteWriterThread(later, 100);
    // better-sqlite3's own words, which the store maps to STORE_UNAVAILABLE.
    await expect(thread.run([insert('x')])).rejects.toThrow(/directory does not exist/);
    mkdirSync(join(dir, 'not-yet'));
    const db = new BetterSqlite3(later);
    db.exec('CREATE TABLE t (name TEXT PRIMARY KEY)');
    db.close();
    expect(await thread.run([insert('x')])).toEqual([1]);
    expect(names(later)).toEqual(['x']);
  });

  it.runIf(process.platform === 'linux')(
    'runs below the event loop: the writer thread has a higher nice value than the process',
    async () => {
      const niceOfThreads = () =>
        readdirSync('/proc/self/task').map((tid) => {
          const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
          // Fields after the parenthesised name; nice is field 19 of stat(5).
          return { tid: Number(tid), nice: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]) };
        });
      const before = new Set(niceOfThreads().map((t) => t.tid));
      thread = new SqliteWriterThread(database(), 1000);
      await thread.run([insert('a')]);
      const started = niceOfThreads().filter((t) => !before.has(t.tid));
      expect(started.map((t) => t.nice)).toContain(WRITER_NICE);
      expect(niceOfThreads().find((t) => t.tid === process.pid)?.nice).toBeLessThan(WRITER_NICE);
    },
  );

  it('reports a failing statement with its SQLite code and commits nothing of the batch', async () => {
    const path = database();
    thread = new SqliteWriterThread(path, 1000);
    await expect(thread.run([insert('a'), insert('a')])).rejects.toMatchObject({
      code: 'SQLITE_CONSTRAINT_PRIMARYKEY',
    });
    expect(names(path)).toEqual([]);
  });
});
