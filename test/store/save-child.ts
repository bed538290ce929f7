/**
 * Child process for the kill test: opens the store named in argv, starts a large
 * saveImport, prints `MID <n>` once that many certificates are written inside the open
 * transaction, and then either holds the transaction open (`hold`) or keeps writing
 * (`run`) until the parent SIGKILLs it. Prints `DONE` if it ever finishes.
 *
 *   node --import tsx test/store/save-child.ts TARGET COUNT hold|run
 */
import { sql } from 'kysely';
import { openStore, saveImport } from '../../src/store/index.js';
import { bulkImport } from './rows.js';

const [target, countArg, mode] = process.argv.slice(2);
if (!target || !countArg || (mode !== 'hold' && mode !== 'run')) {
  process.stderr.write('usage: save-child.ts TARGET COUNT hold|run\n');
  process.exit(2);
}
const store = await openStore(target);
if (store.dialect === 'sqlite') {
  // A small page cache makes SQLite spill the open transaction's pages into the WAL file,
  // so the kill leaves uncommitted data on disk rather than only in memory.
  await sql`PRAGMA cache_size = 200`.execute(store.db);
}
const input = bulkImport(Number(countArg), 'killed');
let told = false;
await saveImport(store, input, {
  batchRows: 500,
  onProgress: async (p) => {
    if (!told && p.stage === 'certificates' && p.done >= 2000) {
      told = true;
      process.stdout.write(`MID ${p.done}\n`);
      if (mode === 'hold') {
        // Keep the event loop alive and the transaction open until the parent kills us.
        await new Promise<never>(() => setInterval(() => undefined, 1000));
      }
    }
  },
});
process.stdout.write('DONE\n');
await store.close();
