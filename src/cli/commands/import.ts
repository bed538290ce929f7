import type { Command } from 'commander';
import {
  type CheckResult,
  checksPassed,
  ImportError,
  InventoryBuilder,
  type InventoryJson,
  listInputFiles,
  MESHES,
  type Mesh,
  readInputFiles,
  runChecks,
  storedInventoryJson,
  toImportRecord,
  toInventoryJson,
  type WorkloadJson,
} from '../../mesh-import/index.js';
import { loadInventory, openStore, type Store, saveImport } from '../../store/index.js';
import { type CommandContext, UsageError } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { clockAt } from '../inputs.js';
import { fail, type Output, pass, table, warnMark } from '../output.js';
import type { Registrar } from '../program.js';
import { progress } from '../progress.js';

interface ImportOptions {
  mesh?: string;
  cluster?: string;
  at?: string;
}

interface InventoryOptions {
  problems?: boolean;
  expiring?: string;
  at?: string;
}

/** Workloads listed one by one in the table for people; above this, per namespace only. */
const MAX_WORKLOAD_ROWS = 100;
/** Problems shown under one check in `--problems`. */
const MAX_PROBLEM_LINES = 20;

export function registerImportCommands(program: Command, r: Registrar): void {
  program
    .command('import')
    .description(
      "read a mesh's CA material into the inventory: trust anchors, issuers, workload certificates, problems",
    )
    .argument(
      '<paths...>',
      'files or folders: PEM/DER, kubectl -o yaml|json (Secrets, ConfigMaps, Lists), Linkerd values, Envoy/istioctl/ztunnel dumps',
    )
    .option(
      '--mesh <mesh>',
      "take every source as this mesh's (istio|linkerd); default: detected from the content",
    )
    .option('--cluster <name>', 'the cluster the material comes from')
    .option('--at <iso>', 'judge validity at this instant instead of now')
    .addHelpText(
      'after',
      `
Shapes are detected from the content, not the file name. Private keys are never
stored: only their type and whether they match their certificate.

Examples:
  $ kubectl get secret cacerts -n istio-system -o yaml > cacerts.yaml
  $ kubectl get configmap istio-ca-root-cert -n default -o yaml > root.yaml
  $ meshbridge import cacerts.yaml root.yaml --cluster prod-eu
  $ meshbridge import ./linkerd-export/ --mesh linkerd --json
  $ istioctl proxy-config secret deploy/web -o json > web-secrets.json && meshbridge import web-secrets.json

Exit status: 0 imported (problems are findings, see inventory --problems), 2 unreadable
input (nothing is saved), 3 store unavailable.`,
    )
    .action(r.action((ctx, paths: string[], opts: ImportOptions) => runImport(ctx, paths, opts)));

  program
    .command('inventory')
    .description('show the stored inventory: anchors, issuers, workloads per namespace, problems')
    .option('--problems', 'run the named checks over the problems, like `linkerd check`')
    .option('--expiring <window>', 'only certificates that expire within this window (e.g. 30d, 12h, 2w)')
    .option('--at <iso>', 'judge validity at this instant instead of now')
    .addHelpText(
      'after',
      `
Examples:
  $ meshbridge inventory
  $ meshbridge inventory --problems
  $ meshbridge inventory --expiring 30d --json
  $ meshbridge --db postgres://meshbridge@db:5432/meshbridge inventory --json

Exit status: 0 shown (with --problems: every check passed or only warned), 1 a check
failed (--problems), 2 usage error, 3 store unavailable.`,
    )
    .action(r.action((ctx, opts: InventoryOptions) => runInventory(ctx, opts)));
}

function meshOption(value: string | undefined): Mesh | null {
  if (value === undefined) return null;
  const m = value.toLowerCase();
  if (!(MESHES as readonly string[]).includes(m)) {
    throw new UsageError(`--mesh must be one of ${MESHES.join(', ')}, got "${value}"`, 'USAGE_MESH_INVALID');
  }
  return m as Mesh;
}

async function withStore<T>(ctx: CommandContext, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(ctx.globals.db, { env: ctx.io.env, cwd: ctx.io.cwd });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

async function runImport(ctx: CommandContext, paths: string[], opts: ImportOptions): Promise<void> {
  const mesh = meshOption(opts.mesh);
  const clock = clockAt(opts.at);
  const startedAt = new Date().toISOString();
  const stderr = ctx.io.stderr as NodeJS.WriteStream;

  const files = await listInputFiles(paths, { cwd: ctx.io.cwd });
  const reading = progress(ctx.out, 'reading', files.length, stderr);
  const builder = new InventoryBuilder({
    mesh,
    cluster: opts.cluster ?? null,
    ...(clock ? { clock } : {}),
  });
  let keys = 0;
  try {
    for await (const ex of readInputFiles(files, { cwd: ctx.io.cwd, mesh })) {
      builder.add(ex);
      await builder.ready();
      keys += ex.keys.length;
      reading.tick();
    }
  } finally {
    reading.done();
  }
  if (builder.size === 0 && keys === 0) {
    throw new ImportError(
      'INPUT_NO_CERTIFICATES',
      `no certificate or private key found in ${paths.join(', ')}; nothing was imported`,
    );
  }
  const inv = await builder.finish();
  const record = toImportRecord(inv, { startedAt });

  const saving = progress(ctx.out, 'saving', record.certificates.length, stderr);
  let saved = 0;
  let target = '';
  const result = await withStore(ctx, (store) => {
    target = store.target; // never the raw --db: it may hold a password
    return saveImport(store, record, {
      onProgress: (p) => {
        if (p.stage !== 'certificates') return;
        saving.tick(p.done - saved);
        saved = p.done;
      },
    });
  }).finally(() => saving.done());

  if (ctx.out.json) {
    ctx.out.printJson(toInventoryJson(inv));
    return;
  }
  const o = ctx.out;
  o.out(
    `imported ${result.certificates.total} certificate(s) from ${inv.stats.files - inv.stats.skippedFiles} file(s) into ${target}: ${inv.anchors.length} trust anchor(s), ${inv.intermediates.length} intermediate(s), ${inv.workloads.length} workload(s); ${
      result.certificates.added
    } new, ${result.certificates.updated} seen before`,
  );
  if (inv.stats.skippedFiles > 0)
    o.out(`skipped ${inv.stats.skippedFiles} file(s) holding no certificate source`);
  if (inv.keys.length > 0) {
    const matched = inv.keys.filter((k) => k.matchesFingerprint !== null).length;
    o.out(
      `saw ${inv.keys.length} private key(s), ${matched} matching an imported certificate (keys are never stored)`,
    );
  }
  printTables(o, toInventoryJson(inv));
}

async function runInventory(ctx: CommandContext, opts: InventoryOptions): Promise<void> {
  const clock = clockAt(opts.at);
  const now = (clock ?? (() => new Date()))();
  const windowMs = opts.expiring === undefined ? undefined : parseWindow(opts.expiring);
  const filter =
    windowMs === undefined ? {} : { expiringBefore: new Date(now.getTime() + windowMs).toISOString() };
  const loaded = await withStore(ctx, (store) => loadInventory(store, filter));
  const view = storedInventoryJson(loaded, { nowMs: now.getTime() });
  const checks = runChecks(view.problems);

  if (opts.problems) {
    ctx.exitCode = checksPassed(checks) ? EXIT.ok : EXIT.negative;
    if (ctx.out.json) ctx.out.printJson({ checks, problems: view.problems });
    else printChecks(ctx.out, checks);
    return;
  }
  if (ctx.out.json) {
    ctx.out.printJson(view);
    return;
  }
  const total = view.anchors.length + view.intermediates.length + view.workloads.length;
  if (total === 0) {
    ctx.out.out(
      windowMs === undefined
        ? 'the inventory is empty: run `meshbridge import <paths...>` first'
        : `no certificate expires within ${opts.expiring}`,
    );
    return;
  }
  printTables(ctx.out, view);
}

/** `30d`, `12h`, `90m`, `2w`; a bare number is days. */
export function parseWindow(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(w|d|h|m|s)?\s*$/i.exec(text);
  if (m === null) {
    throw new UsageError(
      `--expiring takes a window such as 30d, 12h or 2w, got "${text}"`,
      'USAGE_WINDOW_INVALID',
    );
  }
  const unit = (m[2] ?? 'd').toLowerCase();
  const ms = { w: 604_800_000, d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 }[unit]!;
  return Number(m[1]) * ms;
}

// ---------------------------------------------------------------- rendering

const short = (fp: string | null): string => (fp === null ? '-' : fp.slice(0, 12));
const day = (iso: string): string => iso.slice(0, 10);

function printTables(o: Output, view: InventoryJson): void {
  const anchorRows = (list: InventoryJson['anchors']) =>
    list.map((a) => [
      short(a.fingerprint),
      a.subject || '(empty)',
      day(a.notAfter),
      a.keyAlgorithm,
      a.mesh ?? '-',
      String(a.sources.length),
    ]);
  o.out('');
  o.out(`Trust anchors (${view.anchors.length})`);
  if (view.anchors.length > 0) {
    o.out(table(['FINGERPRINT', 'SUBJECT', 'NOT AFTER', 'KEY', 'MESH', 'SOURCES'], anchorRows(view.anchors)));
  }
  o.out('');
  o.out(`Intermediates and issuers (${view.intermediates.length})`);
  if (view.intermediates.length > 0) {
    o.out(
      table(
        ['FINGERPRINT', 'SUBJECT', 'NOT AFTER', 'KEY', 'MESH', 'SOURCES'],
        anchorRows(view.intermediates),
      ),
    );
  }
  o.out('');
  o.out(`Workloads (${view.workloads.length})`);
  if (view.workloads.length > 0) {
    const byNs = new Map<string, WorkloadJson[]>();
    for (const w of view.workloads) {
      const ns = w.namespace ?? '(none)';
      const list = byNs.get(ns);
      if (list === undefined) byNs.set(ns, [w]);
      else list.push(w);
    }
    const nsRows = [...byNs.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([ns, list]) => [
        ns,
        String(list.length),
        String(new Set(list.map((w) => w.meshIdentity ?? w.fingerprint)).size),
        day(list[0]!.notAfter),
        String(list.filter((w) => w.anchor === null).length),
      ]);
    o.out(table(['NAMESPACE', 'CERTIFICATES', 'IDENTITIES', 'FIRST EXPIRY', 'NO ANCHOR'], nsRows));
    if (view.workloads.length <= MAX_WORKLOAD_ROWS) {
      o.out('');
      o.out(
        table(
          ['NAMESPACE', 'IDENTITY', 'NOT AFTER', 'MESH', 'CLUSTER', 'ANCHOR'],
          view.workloads.map((w) => [
            w.namespace ?? '-',
            w.meshIdentity ?? w.spiffeId ?? `(no identity) ${short(w.fingerprint)}`,
            day(w.notAfter),
            w.mesh ?? '-',
            w.cluster ?? '-',
            short(w.anchor),
          ]),
        ),
      );
    } else {
      o.out(`(${view.workloads.length} workloads: use --json for each one)`);
    }
  }
  o.out('');
  if (view.problems.length === 0) {
    o.out(`${pass(o)} no problems`);
    return;
  }
  const byCode = new Map<string, number>();
  for (const p of view.problems) byCode.set(p.code, (byCode.get(p.code) ?? 0) + 1);
  o.out(`Problems (${view.problems.length})`);
  o.out(
    table(
      ['CODE', 'COUNT'],
      [...byCode.entries()].map(([c, n]) => [c, String(n)]),
    ),
  );
  o.out('run `meshbridge inventory --problems` for the checks and hints');
}

function printChecks(o: Output, checks: CheckResult[]): void {
  o.out('meshbridge inventory');
  o.out('--------------------');
  for (const c of checks) {
    const mark = c.status === 'pass' ? pass(o) : c.status === 'warn' ? warnMark(o) : fail(o);
    o.out(`${mark} ${c.name}`);
    if (c.status === 'pass') continue;
    for (const p of c.problems.slice(0, MAX_PROBLEM_LINES)) {
      o.out(`    ${p.message} [${p.code}]`);
      o.out(`      source: ${p.source}`);
    }
    if (c.problems.length > MAX_PROBLEM_LINES)
      o.out(`    ... and ${c.problems.length - MAX_PROBLEM_LINES} more (--json lists all)`);
    o.out(`    hint: ${c.hint}`);
  }
  o.out('');
  const failed = checks.filter((c) => c.status === 'fail').length;
  const warned = checks.filter((c) => c.status === 'warn').length;
  o.out(
    failed > 0
      ? `Status check results are ${fail(o)} (${failed} failed${warned > 0 ? `, ${warned} warned` : ''})`
      : `Status check results are ${pass(o)}${warned > 0 ? ` (${warned} warned)` : ''}`,
  );
}
