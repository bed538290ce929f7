/**
 * A worker thread that owns the SQLite writes of the broker. better-sqlite3 is
 * synchronous: a commit (with its fsync) run on the main thread stops every request
 * for its duration. Here the commits run beside the event loop, still grouped, and
 * each request still waits until its rows are durable.
 *
 * Main side: `ThreadedWriter` (same `write`/`flush` as BatchWriter). Worker side:
 * this module run as the thread's entry opens its own connection to the store file.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { openStore } from '../store/index.js';
import { BatchWriter, type Writer, type WriteSet } from './writer.js';

const THREAD_KEY = 'meshbridgeBrokerWriterTarget';

interface Request {
  id: number;
  set: WriteSet;
}

interface Reply {
  id: number;
  error?: { message: string; code?: string; category?: string };
}

/** An error from the writer thread, carrying the store error's code and category. */
export class WriterThreadError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly category: string | undefined,
  ) {
    super(message);
  }
}

export class ThreadedWriter implements Writer {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private next = 1;
  private failed: Error | undefined;
  private idleWaiters: (() => void)[] = [];

  private constructor(worker: Worker) {
    this.worker = worker;
    worker.on('message', (m: Reply) => {
      const p = this.pending.get(m.id);
      if (p === undefined) return;
      this.pending.delete(m.id);
      if (m.error === undefined) p.resolve();
      else p.reject(new WriterThreadError(m.error.message, m.error.code, m.error.category));
      if (this.pending.size === 0) for (const w of this.idleWaiters.splice(0)) w();
    });
    const fail = (err: Error) => {
      this.failed = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      for (const w of this.idleWaiters.splice(0)) w();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the broker's store writer thread stopped (exit ${code})`)));
  }

  /** Starts the thread on the SQLite file `target`; resolves once its connection is open. */
  static async start(target: string): Promise<ThreadedWriter> {
    const worker = spawnWriter(target);
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: unknown) => {
        if (m === 'ready') {
          worker.off('error', onError);
          resolve();
        }
      };
      const onError = (err: Error) => {
        worker.off('message', onMessage);
        reject(err);
      };
      worker.once('message', onMessage);
      worker.once('error', onError);
    });
    return new ThreadedWriter(worker);
  }

  write(set: WriteSet): Promise<void> {
    if (this.failed !== undefined) return Promise.reject(this.failed);
    const id = this.next++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, set } satisfies Request);
    });
  }

  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    await this.flush();
    this.worker.postMessage('close');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        void this.worker.terminate().then(() => resolve());
      }, 5000);
      this.worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/**
 * From compiled JavaScript the thread runs this file; from TypeScript sources (tests,
 * `tsx`) it first registers tsx in the thread, which does not inherit the loader.
 */
function spawnWriter(target: string): Worker {
  const self = import.meta.url;
  if (self.endsWith('.js')) return new Worker(new URL(self), { workerData: { [THREAD_KEY]: target } });
  const tsx = pathToFileURL(createRequire(self).resolve('tsx/esm/api')).href;
  const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(self)}); })`;
  return new Worker(code, { eval: true, workerData: { [THREAD_KEY]: target } });
}

// ---------------------------------------------------------------- the thread

async function runThread(target: string): Promise<void> {
  const port = parentPort!;
  const store = await openStore(target, { migrate: false });
  const writer = new BatchWriter(store);
  port.on('message', (m: Request | 'close') => {
    if (m === 'close') {
      void writer
        .flush()
        .then(() => store.close())
        .finally(() => process.exit(0));
      return;
    }
    writer.write(m.set).then(
      () => port.postMessage({ id: m.id } satisfies Reply),
      (err: Error & { code?: unknown; category?: unknown }) =>
        port.postMessage({
          id: m.id,
          error: {
            message: err.message,
            ...(typeof err.code === 'string' ? { code: err.code } : {}),
            ...(typeof err.category === 'string' ? { category: err.category } : {}),
          },
        } satisfies Reply),
    );
  });
  port.postMessage('ready');
}

const threadTarget = isMainThread ? undefined : (workerData as Record<string, unknown> | null)?.[THREAD_KEY];
if (typeof threadTarget === 'string' && parentPort !== null) await runThread(threadTarget);
