import { mkdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import {
  type AdvanceResult,
  advanceScope,
  type Blocker,
  type CheckResult,
  cutoverStatus,
  type GateEvaluation,
  loadHistory,
  parsePhase,
  parseScopeName,
  planGate,
  type RollbackResult,
  type Rollout,
  recordObservationsFromInventory,
  rollbackScope,
  rolloutFor,
  statusJson,
  storeEdges,
  transitionJson,
} from '../../cutover/index.js';
import { writeFileAtomic } from '../../devca/files.js';
import { parseEdges } from '../../dual-trust/edges.js';
import { parseDuration } from '../../spiffe/duration.js';
import type { Clock } from '../../spiffe/errors.js';
import { openStore, type Store } from '../../store/index.js';
import { type CommandContext, UsageError } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { clockAt, readInputFile } from '../inputs.js';
import { fail, type Output, pass, table } from '../output.js';
import type { Registrar } from '../program.js';

interface CommonOptions {
  at?: string;
  overlap?: string;
}

interface GateOptions extends CommonOptions {
  edges?: string;
}

interface AdvanceOptions extends GateOptions {
  to?: string;
  dryRun?: boolean;
  out?: string;
  by?: string;
}

interface RollbackOptions extends CommonOptions {
  reason: string;
  by?: string;
  out?: string;
  dryRun?: boolean;
}

/** Blockers listed per check for people; --json lists every one. */
const MAX_BLOCKER_LINES = 20;

const EXIT_STATUS = `
Exit status: 0 the transition happened, 1 a gate refused it (the blockers are printed,
or in --json) or someone else changed the scope meanwhile (CUTOVER_CONFLICT), 2 usage
error, 3 store unavailable.`;

export function registerCutoverCommands(program: Command, r: Registrar): void {
  const cutover = program
    .command('cutover')
    .description(
      'move each scope (mesh, cluster, namespace) through the migration phases, one gated step at a time',
    );

  cutover
    .command('status')
    .description('every scope with its phase, workloads on SPIRE, and the next gate with its blockers')
    .option(
      '--scope <scope>',
      'only this scope and the scopes inside it (istio, istio/east, istio/east/payments)',
    )
    .option('--at <iso>', 'judge at this instant instead of now')
    .option('--overlap <duration>', 'the planned overlap window (default 30d)')
    .addHelpText(
      'after',
      `
Phases: inventoried -> dual-trust -> dual-issue -> spiffe-only -> retired (a whole mesh).
Progress (ON SPIRE) comes from observations: imports and broker authentications.

Examples:
  $ meshbridge cutover status
  $ meshbridge cutover status --scope istio/east --json

Exit status: 0 shown, 2 usage error, 3 store unavailable.`,
    )
    .action(r.action((ctx, opts: CommonOptions & { scope?: string }) => runStatus(ctx, opts)));

  cutover
    .command('plan')
    .description("the gate of a scope's next phase: each named check, ✓ or × with its blockers")
    .argument('<scope>', 'istio, istio/east or istio/east/payments')
    .option(
      '--edges <file>',
      'who talks to whom (YAML/JSON/CSV, Kiali graph, Prometheus result); kept as the edge list in force',
    )
    .option('--at <iso>', 'judge at this instant instead of now')
    .option('--overlap <duration>', 'the planned overlap window (default 30d)')
    .addHelpText(
      'after',
      `
Example:
  $ meshbridge cutover plan istio/east/payments --edges kiali-graph.json

Exit status: 0 the gate passes, 1 it does not, 2 usage error, 3 store unavailable.`,
    )
    .action(r.action((ctx, scope: string, opts: GateOptions) => runPlan(ctx, scope, opts)));

  cutover
    .command('advance')
    .description('enter the next phase when its gate passes; prints (and with --out writes) what to roll out')
    .argument('<scope>', 'istio, istio/east or istio/east/payments')
    .option('--to <phase>', 'the phase you mean to enter (refused if it is not the next one)')
    .option('--dry-run', 'judge the gate and show the rollout, change nothing')
    .option('--out <dir>', 'write the rollout artifacts (bundle files, SPIRE entries) into DIR')
    .option('--by <name>', 'who advances (default: the OS user)')
    .option('--edges <file>', 'who talks to whom; kept as the edge list in force (not with --dry-run)')
    .option('--at <iso>', 'judge at this instant instead of now')
    .option('--overlap <duration>', 'the planned overlap window (default 30d)')
    .addHelpText(
      'after',
      `
Scopes inside the scope that are one phase behind come along (each gets its own history
row). A scope leads its parent by one phase at most.

Examples:
  $ meshbridge cutover advance istio/east/payments --to dual-trust --out rollout/
  $ meshbridge cutover advance istio --dry-run --json
${EXIT_STATUS}`,
    )
    .action(r.action((ctx, scope: string, opts: AdvanceOptions) => runAdvance(ctx, scope, opts)));

  cutover
    .command('rollback')
    .description('go back one phase, with a reason kept in the history')
    .argument('<scope>', 'istio, istio/east or istio/east/payments')
    .requiredOption('--reason <text>', 'why (required)')
    .option('--by <name>', 'who rolls back (default: the OS user)')
    .option('--out <dir>', 'write what to roll out again into DIR')
    .option('--dry-run', 'show what would happen, change nothing')
    .option('--at <iso>', 'record at this instant instead of now')
    .addHelpText(
      'after',
      `
Ancestors in the same phase follow the scope back; refused while a scope inside would then
lead its parent by two phases (roll that one back first).

Example:
  $ meshbridge cutover rollback istio/east/payments --reason "ledger cannot reach the bank gateway"
${EXIT_STATUS}`,
    )
    .action(r.action((ctx, scope: string, opts: RollbackOptions) => runRollback(ctx, scope, opts)));

  cutover
    .command('history')
    .description('every transition: who, when, from, to, and the gate evidence or the reason')
    .option('--scope <scope>', 'only this scope and the scopes inside it')
    .addHelpText(
      'after',
      `
Example:
  $ meshbridge cutover history --scope istio/east --json

Exit status: 0 shown, 2 usage error, 3 store unavailable.`,
    )
    .action(r.action((ctx, opts: { scope?: string }) => runHistory(ctx, opts)));
}

// ---------------------------------------------------------------- helpers

async function withStore<T>(ctx: CommandContext, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(ctx.globals.db, { env: ctx.io.env, cwd: ctx.io.cwd });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

function overlapOf(text: string | undefined): number | undefined {
  return text === undefined ? undefined : parseDuration(text, '--overlap');
}

function whoOf(ctx: CommandContext, by: string | undefined): string {
  if (by !== undefined) {
    if (by.trim() === '') throw new UsageError('--by must name someone', 'USAGE_BY_EMPTY');
    return by.trim();
  }
  try {
    return userInfo().username;
  } catch {
    return ctx.io.env.USER ?? ctx.io.env.USERNAME ?? 'unknown';
  }
}

function edgesOf(ctx: CommandContext, file: string | undefined) {
  if (file === undefined) return null;
  return { list: parseEdges(readInputFile(ctx.io.cwd, file, 'edge list'), file), name: file };
}

function clockOf(at: string | undefined): Clock | undefined {
  return clockAt(at);
}

function writeRollout(ctx: CommandContext, rollout: Rollout, out: string | undefined): string[] {
  if (out === undefined) return [];
  const dir = resolve(ctx.io.cwd, out);
  const written: string[] = [];
  for (const a of rollout.artifacts) {
    const path = resolve(dir, ...a.path.split('/'));
    mkdirSync(dirname(path), { recursive: true });
    writeFileAtomic(path, a.content);
    written.push(path);
  }
  return written;
}

function rolloutJson(rollout: Rollout, written: string[]) {
  return {
    phase: rollout.phase,
    steps: rollout.steps,
    artifacts: rollout.artifacts.map((a) => ({ path: a.path, description: a.description })),
    notes: rollout.notes,
    written,
  };
}

function gateJson(g: GateEvaluation) {
  return {
    scope: g.scope,
    from: g.from,
    to: g.to,
    version: g.version,
    evaluatedAt: g.evaluatedAt,
    ready: g.ready,
    checks: g.checks.map((c) => ({
      id: c.id,
      title: c.title,
      passed: c.passed,
      hint: c.hint,
      blockers: c.blockers,
      evidence: c.evidence,
    })),
    blockers: g.blockers,
    cascade: g.cascade,
  };
}

function blockerLine(b: Blocker): string {
  return `${b.message} [${b.code}]`;
}

function printChecks(o: Output, checks: CheckResult[]): void {
  for (const c of checks) {
    o.out(`${c.passed ? pass(o) : fail(o)} ${c.title}  (${c.id})`);
    if (c.passed) continue;
    for (const b of c.blockers.slice(0, MAX_BLOCKER_LINES)) o.out(`    ${blockerLine(b)}`);
    if (c.blockers.length > MAX_BLOCKER_LINES)
      o.out(`    ... and ${c.blockers.length - MAX_BLOCKER_LINES} more (--json lists every one)`);
    o.out(`    hint: ${c.hint}`);
  }
}

function printGate(o: Output, g: GateEvaluation): void {
  o.out(`${g.scope}: ${g.from} -> ${g.to}`);
  o.out('-'.repeat(g.scope.length + g.from.length + g.to.length + 6));
  printChecks(o, g.checks);
  o.out('');
  const failed = g.checks.filter((c) => !c.passed).length;
  o.out(
    g.ready
      ? `Gate into ${g.to}: ${pass(o)} every check passed`
      : `Gate into ${g.to}: ${fail(o)} ${failed} of ${g.checks.length} checks failed, ${g.blockers.length} blocker(s)`,
  );
}

function printRollout(o: Output, rollout: Rollout, written: string[], out: string | undefined): void {
  if (rollout.steps.length === 0 && rollout.artifacts.length === 0) return;
  o.out('');
  o.out(`Roll out (${rollout.phase}):`);
  for (const [i, s] of rollout.steps.entries()) o.out(`  ${i + 1}. ${s}`);
  if (rollout.artifacts.length > 0) {
    o.out('');
    o.out(
      table(
        ['FILE', 'WHAT'],
        rollout.artifacts.map((a) => [a.path, a.description]),
      ),
    );
  }
  for (const n of rollout.notes) o.out(`  note: ${n}`);
  if (rollout.artifacts.length > 0) {
    o.out(
      out === undefined
        ? '(write these files with --out DIR)'
        : `wrote ${written.length} file(s) into ${out}`,
    );
  }
}

// ---------------------------------------------------------------- commands

async function runStatus(ctx: CommandContext, opts: CommonOptions & { scope?: string }): Promise<void> {
  const clock = clockOf(opts.at);
  const overlapSeconds = overlapOf(opts.overlap);
  if (opts.scope !== undefined) parseScopeName(opts.scope);
  const report = await withStore(ctx, (store) =>
    cutoverStatus(store, {
      ...(opts.scope === undefined ? {} : { scope: opts.scope }),
      ...(clock ? { clock } : {}),
      ...(overlapSeconds === undefined ? {} : { overlapSeconds }),
    }),
  );
  if (ctx.out.json) {
    ctx.out.printJson(statusJson(report));
    return;
  }
  if (report.scopes.length === 0) {
    ctx.out.out('no scope yet: import a mesh first (`meshbridge import ...`)');
    return;
  }
  const o = ctx.out;
  o.out(
    table(
      ['SCOPE', 'PHASE', 'WORKLOADS', 'ON SPIRE', 'NEXT', 'GATE'],
      report.scopes.map((s) => [
        s.scope,
        s.phase,
        String(s.workloads),
        `${s.onSpire} (${s.workloads === 0 ? 0 : Math.round((100 * s.onSpire) / s.workloads)}%)`,
        s.next?.phase ?? '-',
        s.next === null
          ? '-'
          : s.next.ready
            ? `${pass(o)} ready`
            : `${fail(o)} ${s.next.blockers.length} blocker(s)`,
      ]),
    ),
  );
  const blocked = report.scopes.filter((s) => s.next !== null && !s.next.ready);
  if (blocked.length > 0) {
    o.out('');
    for (const s of blocked) {
      o.out(`${s.scope} -> ${s.next!.phase}:`);
      for (const b of s.next!.blockers.slice(0, 5)) o.out(`    ${blockerLine(b)}`);
      if (s.next!.blockers.length > 5)
        o.out(`    ... run \`meshbridge cutover plan ${s.scope}\` for all ${s.next!.blockers.length}`);
    }
  }
}

async function runPlan(ctx: CommandContext, scope: string, opts: GateOptions): Promise<void> {
  const clock = clockOf(opts.at);
  const overlapSeconds = overlapOf(opts.overlap);
  const edges = edgesOf(ctx, opts.edges);
  const gate = await withStore(ctx, async (store) => {
    await recordObservationsFromInventory(store, clock ? { clock } : {});
    if (edges !== null) await storeEdges(store, edges.list, edges.name, clock ? { clock } : {});
    return planGate(store, scope, {
      ...(clock ? { clock } : {}),
      ...(overlapSeconds === undefined ? {} : { overlapSeconds }),
    });
  });
  ctx.exitCode = gate.ready ? EXIT.ok : EXIT.negative;
  if (ctx.out.json) {
    ctx.out.printJson(gateJson(gate));
    return;
  }
  printGate(ctx.out, gate);
  if (gate.cascade.length > 0) ctx.out.out(`Coming along: ${gate.cascade.join(', ')}`);
}

async function runAdvance(ctx: CommandContext, scope: string, opts: AdvanceOptions): Promise<void> {
  const to = opts.to === undefined ? undefined : parsePhase(opts.to);
  const clock = clockOf(opts.at);
  const overlapSeconds = overlapOf(opts.overlap);
  const by = whoOf(ctx, opts.by);
  const edges = edgesOf(ctx, opts.edges);
  const { result, rollout } = await withStore(ctx, async (store) => {
    const res: AdvanceResult = await advanceScope(store, scope, {
      by,
      ...(to === undefined ? {} : { to }),
      ...(clock ? { clock } : {}),
      ...(overlapSeconds === undefined ? {} : { overlapSeconds }),
      dryRun: Boolean(opts.dryRun),
      edges,
    });
    const ro =
      res.advanced || (res.dryRun && res.gate.ready)
        ? await rolloutFor(store, res.scope, res.to, {
            direction: 'advance',
            ...(clock ? { clock } : {}),
            ...(overlapSeconds === undefined ? {} : { overlapSeconds }),
          })
        : null;
    return { result: res, rollout: ro };
  });
  const written = rollout !== null && result.advanced ? writeRollout(ctx, rollout, opts.out) : [];
  ctx.exitCode = result.advanced || (result.dryRun && result.gate.ready) ? EXIT.ok : EXIT.negative;
  if (ctx.out.json) {
    ctx.out.printJson({
      scope: result.scope,
      from: result.from,
      to: result.to,
      advanced: result.advanced,
      dryRun: result.dryRun,
      version: result.version,
      at: result.at,
      by: result.by,
      evidenceId: result.evidenceId,
      cascade: result.cascade,
      ready: result.gate.ready,
      blockers: result.gate.blockers,
      checks: gateJson(result.gate).checks,
      rollout: rollout === null ? null : rolloutJson(rollout, written),
    });
    return;
  }
  const o = ctx.out;
  printGate(o, result.gate);
  o.out('');
  if (result.advanced) {
    o.out(
      `${pass(o)} ${result.scope} is now in ${result.to} (version ${result.version}), by ${result.by} at ${result.at}`,
    );
    for (const c of result.cascade) o.out(`  ${c.scope} came along: ${c.from} -> ${c.to}`);
  } else if (result.dryRun) {
    o.out(
      result.gate.ready
        ? `dry run: ${result.scope} would enter ${result.to}; nothing was changed`
        : `dry run: refused; nothing was changed`,
    );
    for (const c of result.cascade) o.out(`  ${c.scope} would come along: ${c.from} -> ${c.to}`);
  } else {
    o.out(`${fail(o)} refused: ${result.scope} stays in ${result.from}`);
  }
  if (rollout !== null) printRollout(o, rollout, written, opts.out);
}

async function runRollback(ctx: CommandContext, scope: string, opts: RollbackOptions): Promise<void> {
  if (opts.reason.trim() === '')
    throw new UsageError('--reason must say why: it is kept in the history', 'CUTOVER_REASON_REQUIRED');
  const clock = clockOf(opts.at);
  const by = whoOf(ctx, opts.by);
  const { result, rollout } = await withStore(ctx, async (store) => {
    const res: RollbackResult = await rollbackScope(store, scope, {
      reason: opts.reason,
      by,
      ...(clock ? { clock } : {}),
      dryRun: Boolean(opts.dryRun),
    });
    const ro =
      res.rolledBack || (res.dryRun && res.blockers.length === 0)
        ? await rolloutFor(store, res.scope, res.to, { direction: 'rollback', ...(clock ? { clock } : {}) })
        : null;
    return { result: res, rollout: ro };
  });
  const written = rollout !== null && result.rolledBack ? writeRollout(ctx, rollout, opts.out) : [];
  ctx.exitCode =
    result.rolledBack || (result.dryRun && result.blockers.length === 0) ? EXIT.ok : EXIT.negative;
  if (ctx.out.json) {
    ctx.out.printJson({
      scope: result.scope,
      from: result.from,
      to: result.to,
      rolledBack: result.rolledBack,
      dryRun: result.dryRun,
      reason: result.reason,
      version: result.version,
      at: result.at,
      by: result.by,
      followers: result.followers,
      blockers: result.blockers,
      rollout: rollout === null ? null : rolloutJson(rollout, written),
    });
    return;
  }
  const o = ctx.out;
  if (result.rolledBack) {
    o.out(
      `${pass(o)} ${result.scope} rolled back: ${result.from} -> ${result.to} (version ${result.version}), by ${result.by}: ${result.reason}`,
    );
    for (const f of result.followers) o.out(`  ${f.scope} followed: ${f.from} -> ${f.to}`);
  } else if (result.dryRun && result.blockers.length === 0) {
    o.out(`dry run: ${result.scope} would go back ${result.from} -> ${result.to}; nothing was changed`);
    for (const f of result.followers) o.out(`  ${f.scope} would follow: ${f.from} -> ${f.to}`);
  } else {
    o.out(`${fail(o)} refused: ${result.scope} stays in ${result.from}`);
    for (const b of result.blockers) o.out(`    ${blockerLine(b)}`);
  }
  if (rollout !== null) printRollout(o, rollout, written, opts.out);
}

async function runHistory(ctx: CommandContext, opts: { scope?: string }): Promise<void> {
  const history = await withStore(ctx, (store) =>
    loadHistory(store, {
      ...(opts.scope === undefined ? {} : { scope: opts.scope }),
      withoutEvidence: !ctx.out.json,
    }),
  );
  if (ctx.out.json) {
    ctx.out.printJson({ transitions: history.map(transitionJson) });
    return;
  }
  if (history.length === 0) {
    ctx.out.out('no transition yet');
    return;
  }
  ctx.out.out(
    table(
      ['AT', 'SCOPE', 'FROM', 'TO', 'BY', 'WHY'],
      history.map((t) => [
        t.at,
        t.scope,
        t.from,
        t.to,
        t.by,
        t.reason !== null
          ? `rollback: ${t.reason}`
          : t.via !== null
            ? `with ${t.via} (gate evidence)`
            : 'gate passed (evidence recorded)',
      ]),
    ),
  );
}
