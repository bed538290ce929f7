/**
 * How a SQLite store runs a batch of writes (`store.batch`): one IMMEDIATE transaction,
 * statements prepared once per SQL text, row inserts through one single-row statement.
 *
 * On a file the batch runs on a writer thread with its own connection (WAL; the file's
 * locks order it against the main connection and other processes, as for any second
 * writer). better-sqlite3 is synchronous: on the main thread every insert and fsync of a
 * busy broker would stall request handling; here the main thread only posts the rows.
 * An in-memory database cannot be shared with a second connection, so it runs the same
 * code on its own connection.
 *
 * The runner is plain JavaScript kept as source text: the worker evaluates it as
 * CommonJS (so it runs the same under tsx, vitest and the built package, with
 * better-sqlite3 resolved here and handed over by path), and the in-memory path compiles
 * the same text, so there is one implementation.
 */
import { createRequire } from 'node:module';
import { serialize } from 'node:v8';
import { Worker } from 'node:worker_threads';
import type BetterSqlite3 from 'better-sqlite3';
import type { BatchInsert } from './store.js';

/** One write of a batch as the runner takes it (structured-cloneable). */
export type SqliteWrite =
  | {
      sql: string;
      params: readonly unknown[];
      /** Roll the batch back unless the statement changed exactly this many rows. */
      expectChanges?: number;
    }
  | BatchInsert;

/** Thrown when a write with `expectChanges` changed another number of rows (the batch rolled back). */
export class ChangeCountMismatch extends Error {
  constructor(readonly index: number) {
    super(`write ${index} of the batch changed an unexpected number of rows`);
    this.name = 'ChangeCountMismatch';
  }
}

const RUNNER_SOURCE = `
function makeRunner(db) {
  'use strict';
  const prepared = new Map();
  const statement = (sql) => {
    let s = prepared.get(sql);
    if (s === undefined) {
      if (prepared.size >= 256) prepared.clear();
      s = db.prepare(sql);
      prepared.set(sql, s);
    }
    return s;
  };
  const insertSql = (w) =>
    'INSERT INTO ' + w.into + ' (' + w.columns.join(', ') + ') VALUES (' +
    w.columns.map(() => '?').join(', ') + ')' + (w.suffix ? ' ' + w.suffix : '');
  const run = db.transaction((writes) => {
    const changes = new Array(writes.length);
    for (let i = 0; i < writes.length; i++) {
      const w = writes[i];
      let n = 0;
      if (w.insert !== undefined) {
        const s = statement(insertSql(w.insert));
        for (const row of w.insert.rows) n += s.run(row).changes;
      } else {
        n = statement(w.sql).run(w.params).changes;
        if (w.expectChanges !== undefined && n !== w.expectChanges) {
          const e = new Error('unexpected change count');
          e.mismatch = i;
          throw e;
        }
      }
      changes[i] = n;
    }
    return changes;
  });
  return (writes) => run.immediate(writes);
}
`;

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { deserialize } = require('node:v8');
// Linux: setpriority(0) sets the calling thread's nice value. Below the event loop's, a
// woken writer does not preempt the thread that woke it: on a busy machine waking it at
// equal priority cost the event loop hundreds of microseconds per batch. It still runs
// whenever the event loop waits (which it does for the commit) or a core is free.
if (workerData.nice !== 0) {
  try {
    require('node:os').setPriority(0, workerData.nice);
  } catch {}
}
${RUNNER_SOURCE}
let run;
let db;
// Opened on the first batch, and again after a failed open: a store that was briefly
// unreachable recovers without a restart.
function open() {
  const Database = require(workerData.driver);
  const conn = new Database(workerData.path, { timeout: workerData.busyTimeoutMs });
  try {
    conn.pragma('journal_mode = WAL');
    conn.pragma('foreign_keys = ON');
    run = makeRunner(conn);
    db = conn;
  } catch (e) {
    conn.close();
    throw e;
  }
}
parentPort.once('close', () => db && db.close());
parentPort.on('message', (m) => {
  if (m.close) {
    parentPort.close();
    return;
  }
  try {
    if (run === undefined) open();
    parentPort.postMessage({ id: m.id, changes: run(m.json !== undefined ? JSON.parse(m.json) : deserialize(new Uint8Array(m.writes))) });
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: { message: String(e && e.message), code: e && typeof e.code === 'string' ? e.code : undefined, mismatch: e && e.mismatch } });
  }
});
`;

/** The writer thread's nice value on Linux (the event loop keeps the process's). */
export const WRITER_NICE = 10;

type Runner = (writes: readonly SqliteWrite[]) => number[];

/** The runner on a connection of this thread (in-memory databases). */
export function sqliteRunner(db: BetterSqlite3.Database): (writes: readonly SqliteWrite[]) => number[] {
  const make = new Function(`${RUNNER_SOURCE}; return makeRunner;`)() as (db: unknown) => Runner;
  const run = make(db);
  return (writes) => {
    try {
      return run(writes);
    } catch (err) {
      const mismatch = (err as { mismatch?: number }).mismatch;
      throw mismatch === undefined ? err : new ChangeCountMismatch(mismatch);
    }
  };
}

/** Whether every value survives a JSON round trip unchanged (strings, finite numbers, booleans, null). */
export function jsonSafe(writes: readonly SqliteWrite[]): boolean {
  for (const w of writes) {
    if ('insert' in w) {
      for (const row of w.insert.rows) if (!plainValues(row)) return false;
    } else if (!plainValues(w.params)) return false;
  }
  return true;
}

function plainValues(values: readonly unknown[]): boolean {
  for (const v of values) {
    if (v === null || typeof v === 'string' || typeof v === 'boolean') continue;
    if (typeof v === 'number' && Number.isFinite(v)) continue;
    return false;
  }
  return true;
}

/** What the worker sends back when a batch failed: enough to rebuild the driver error. */
interface WorkerFailure {
  message: string;
  code?: string;
  mismatch?: number;
}

type Reply = { id: number; changes: number[] } | { id: number; error: WorkerFailure };

export class SqliteWriterThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<
    number,
    { resolve: (c: number[]) => void; reject: (e: Error) => void }
  >();
  private nextId = 0;
  private closed = false;

  constructor(
    private readonly path: string,
    private readonly busyTimeoutMs: number,
  ) {}

  /** Runs `writes` in one IMMEDIATE transaction on the writer thread; resolves with each one's changes. */
  run(writes: readonly SqliteWrite[]): Promise<number[]> {
    if (this.closed) return Promise.reject(new Error('the SQLite writer thread is closed'));
    const worker = this.start();
    const id = this.nextId++;
    return new Promise<number[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Referenced only while a batch is out, so a CLI command that wrote can still exit.
      if (this.pending.size === 1) worker.ref();
      // Plain values (the common case) cross as one JSON string: measured under load, cheaper
      // on both threads than the structured serializer, which carries everything else.
      if (jsonSafe(writes)) {
        worker.postMessage({ id, json: JSON.stringify(writes) });
        return;
      }
      // Serialized here and the bytes handed over (not copied): cheaper than postMessage's own clone.
      const bytes = serialize(writes);
      const owned =
        bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
          ? bytes.buffer
          : new Uint8Array(bytes).buffer;
      worker.postMessage({ id, writes: owned }, [owned]);
    });
  }

  /** Lets the batches in flight finish, then stops the thread. */
  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    if (worker === undefined) return;
    const exited = new Promise<void>((done) => worker.once('exit', () => done()));
    worker.ref();
    worker.postMessage({ close: true });
    await exited;
  }

  private start(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        driver: createRequire(import.meta.url).resolve('better-sqlite3'),
        path: this.path,
        busyTimeoutMs: this.busyTimeoutMs,
        // Elsewhere setpriority(0) would lower the whole process.
        nice: process.platform === 'linux' ? WRITER_NICE : 0,
      },
    });
    worker.on('message', (m: Reply) => this.settle(m));
    let crash: Error | undefined;
    worker.on('error', (err) => {
      crash = err;
    });
    // A thread that died takes its batches in flight with it (they fail, nothing of them
    // committed); the next batch starts a new one.
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = undefined;
      this.failPending(
        crash ??
          new Error(
            code === 0
              ? 'the SQLite writer thread is closed'
              : `the SQLite writer thread exited with code ${code}`,
          ),
      );
    });
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private settle(m: Reply): void {
    const p = this.pending.get(m.id);
    if (p === undefined) return;
    this.pending.delete(m.id);
    if (this.pending.size === 0) this.worker?.unref();
    if ('changes' in m) p.resolve(m.changes);
    else if (m.error.mismatch !== undefined) p.reject(new ChangeCountMismatch(m.error.mismatch));
    else
      p.reject(
        Object.assign(new Error(m.error.message), m.error.code === undefined ? {} : { code: m.error.code }),
      );
  }

  private failPending(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
