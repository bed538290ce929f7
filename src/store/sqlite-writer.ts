/**
 * A SQLite write connection on its own thread, for the store's group-commit batches.
 * better-sqlite3 is synchronous: run on the main thread, every insert and every fsync of a
 * busy broker stalls request handling. Here the batch runs in a worker with its own
 * connection to the same file (WAL; the file's locks order it against the main
 * connection and other processes, as for any second writer), and the main thread only
 * posts the compiled statements.
 *
 * The worker is plain CommonJS evaluated from a string, so it runs the same under tsx,
 * vitest and the built package; better-sqlite3 is resolved here and handed over by path.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export interface SqliteWrite {
  sql: string;
  params: readonly unknown[];
  /** Roll the batch back unless the statement changed exactly this many rows. */
  expectChanges?: number;
}

/** What the worker sends back when a batch failed: enough to rebuild the driver error. */
interface WorkerFailure {
  message: string;
  code?: string;
  /** Index of the statement whose change count was not the expected one. */
  mismatch?: number;
}

type Reply = { id: number; changes: number[] } | { id: number; error: WorkerFailure };

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
let db;
let openError;
try {
  db = new Database(workerData.path, { timeout: workerData.busyTimeoutMs });
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
} catch (e) {
  openError = e;
}
const prepared = new Map();
function statement(sql) {
  let s = prepared.get(sql);
  if (s === undefined) {
    if (prepared.size >= 512) prepared.clear();
    s = db.prepare(sql);
    prepared.set(sql, s);
  }
  return s;
}
const run = db === undefined ? undefined : db.transaction((list) => {
  const changes = new Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const w = list[i];
    const n = statement(w.sql).run(...w.params).changes;
    if (w.expectChanges !== undefined && n !== w.expectChanges) {
      const e = new Error('unexpected change count');
      e.mismatch = i;
      throw e;
    }
    changes[i] = n;
  }
  return changes;
});
parentPort.on('message', (m) => {
  if (m.close) {
    if (db !== undefined) db.close();
    parentPort.close();
    return;
  }
  try {
    if (openError !== undefined) throw openError;
    parentPort.postMessage({ id: m.id, changes: run.immediate(m.writes) });
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: { message: String(e && e.message), code: e && typeof e.code === 'string' ? e.code : undefined, mismatch: e && e.mismatch } });
  }
});
`;

/** Thrown when a statement with `expectChanges` changed another number of rows (the batch rolled back). */
export class ChangeCountMismatch extends Error {
  constructor(readonly index: number) {
    super(`statement ${index} of the batch changed an unexpected number of rows`);
    this.name = 'ChangeCountMismatch';
  }
}

export class SqliteWriterThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<
    number,
    { resolve: (c: number[]) => void; reject: (e: Error) => void }
  >();
  private nextId = 0;
  private failure: Error | undefined;

  constructor(
    private readonly path: string,
    private readonly busyTimeoutMs: number,
  ) {}

  /** Runs `writes` in one IMMEDIATE transaction on the writer thread; resolves with each one's changes. */
  run(writes: readonly SqliteWrite[]): Promise<number[]> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const worker = this.start();
    const id = this.nextId++;
    return new Promise<number[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Referenced only while a batch is out, so a CLI command that wrote can still exit.
      if (this.pending.size === 1) worker.ref();
      worker.postMessage({ id, writes });
    });
  }

  /** Lets the batches in flight finish, then stops the thread. */
  async close(): Promise<void> {
    const worker = this.worker;
    if (worker === undefined) return;
    this.worker = undefined;
    this.failure ??= new Error('the SQLite writer thread is closed');
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
      },
    });
    worker.on('message', (m: Reply) => this.settle(m));
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => {
      if (code !== 0) this.fail(new Error(`the SQLite writer thread exited with code ${code}`));
      else this.fail(new Error('the SQLite writer thread is closed'));
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

  private fail(err: Error): void {
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
