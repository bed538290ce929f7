import type { Command } from 'commander';
import { prepareSpireEntrySync, type SpireDumpSummary } from '../../mapper/index.js';
import { saveSpireEntryDump } from '../../store/mapping-repo.js';
import { type CommandContext, readAll, UsageError } from '../context.js';
import { MAX_INPUT_BYTES, readInputFile } from '../inputs.js';
import { pass } from '../output.js';
import type { Registrar } from '../program.js';
import { withStore } from './map.js';
import {
  printSynced,
  type SpireBundleSyncOptions,
  type SpireBundleSyncResult,
  syncSpireBundles,
} from './spire-bundle.js';

/** What `spire sync` did, one key per source synced (`--entries` now; `--bundle` later). */
export interface SpireSyncResult {
  entries?: SpireDumpSummary & { dumpId: string; source: string; sha256: string; importedAt: string };
  /** `--bundle` / `--socket`: SPIRE and federated roots stored for the dual-trust bundles. */
  bundle?: SpireBundleSyncResult;
}

export interface SpireSyncOptions extends SpireBundleSyncOptions {
  entries?: string;
}

/**
 * `meshbridge spire`: the SPIRE side. `spire sync` is built by `registerSpireSync`, which
 * returns the command so more sources (`--bundle`, `--socket`) can be added to it; each
 * source is one optional flag and one key of `SpireSyncResult`.
 */
export function registerSpireCommands(program: Command, r: Registrar): Command {
  const spire = program
    .command('spire')
    .description('the SPIRE server side: what it holds, what meshbridge will change');
  registerSpireSync(spire, r);
  return spire;
}

export function registerSpireSync(spire: Command, r: Registrar): Command {
  return spire
    .command('sync')
    .description('store what a SPIRE server holds, so plans can be made against it')
    .option(
      '--entries <file>',
      'a `spire-server entry show -output json` dump ("-" reads stdin); the spire-entries plan of `meshbridge map` compares with it',
    )
    .option(
      '--bundle <file>',
      "SPIRE's trust bundle: PEM, SPIFFE bundle (`spire-server bundle show -format spiffe`), bundle map",
    )
    .option(
      '--socket <uri>',
      'read the bundles live from the Workload API (unix:///run/spire/sockets/agent.sock)',
    )
    .option('--watch', 'with --socket: keep the stored roots current until interrupted')
    .option(
      '--trust-domain <td>',
      'the trust domain of a --bundle file (bundles do not name theirs); filters --socket',
    )
    .option('--federated', "store the roots as a federated trust domain's rather than SPIRE's own")
    .addHelpText(
      'after',
      `
Entries whose hint is "meshbridge" or "meshbridge:<owner>" were created by meshbridge;
every other entry is foreign and is never proposed for deletion.

Examples:
  $ spire-server entry show -output json > entries.json
  $ meshbridge spire sync --entries entries.json
  $ kubectl exec -n spire spire-server-0 -- spire-server entry show -output json | meshbridge spire sync --entries -

Exit status: 0 synced (--watch: stopped by SIGINT or SIGTERM), 2 usage error or unreadable
input (nothing is stored), 3 the store or the Workload API (--socket) is unavailable.`,
    )
    .action(
      r.action(async (ctx, opts: SpireSyncOptions) => {
        await runSpireSync(ctx, opts);
      }),
    );
}

export async function runSpireSync(ctx: CommandContext, opts: SpireSyncOptions): Promise<SpireSyncResult> {
  if (opts.entries === undefined && opts.bundle === undefined && opts.socket === undefined) {
    throw new UsageError(
      'nothing to sync: give --entries FILE (a `spire-server entry show -output json` dump), --bundle FILE or --socket URI',
    );
  }
  const result: SpireSyncResult = {};
  if (opts.entries !== undefined) result.entries = await syncEntries(ctx, opts.entries);
  if (opts.bundle !== undefined || opts.socket !== undefined)
    result.bundle = await syncSpireBundles(ctx, opts);
  if (ctx.out.json) {
    ctx.out.printJson(result);
    return result;
  }
  if (result.bundle !== undefined) printSynced(ctx, result.bundle.trustDomains);
  const e = result.entries;
  if (e === undefined) return result;
  ctx.out.out(
    `${pass(ctx.out)} stored ${e.entries} SPIRE entr${e.entries === 1 ? 'y' : 'ies'} from ${e.source} (dump ${e.dumpId.slice(0, 8)})`,
  );
  ctx.out.out(
    `  ${e.meshbridgeOwned} created by meshbridge, ${e.foreign} foreign (never proposed for deletion)`,
  );
  if (e.trustDomains.length > 0) ctx.out.out(`  trust domains: ${e.trustDomains.join(', ')}`);
  if (e.owners.length > 0) ctx.out.out(`  owners: ${e.owners.join(', ')}`);
  return result;
}

/** Reads, checks and stores one `entry show -output json` dump. */
export async function syncEntries(
  ctx: CommandContext,
  file: string,
): Promise<NonNullable<SpireSyncResult['entries']>> {
  let text: string;
  if (file === '-') {
    const buf = await readAll(ctx.io.stdin);
    if (buf.length > MAX_INPUT_BYTES) {
      throw new UsageError(
        `stdin holds ${buf.length} bytes; the limit is ${MAX_INPUT_BYTES}`,
        'INPUT_TOO_LARGE',
      );
    }
    text = buf.toString('utf8');
  } else {
    text = readInputFile(ctx.io.cwd, file, 'SPIRE entries dump').toString('utf8');
  }
  const source = file === '-' ? 'stdin' : file;
  const { dump, summary } = prepareSpireEntrySync(text, source);
  const saved = await withStore(ctx, (store) =>
    saveSpireEntryDump(store, { source, sha256: dump.sha256, entries: dump.entries }),
  );
  return { dumpId: saved.dumpId, source, sha256: dump.sha256, importedAt: saved.importedAt, ...summary };
}
