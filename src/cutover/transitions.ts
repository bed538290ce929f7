/**
 * Advancing and rolling back a scope, with the optimistic version check: the gate is
 * judged on version N, and the transition is written only if the scope is still at N
 * when the write transaction holds the transition lock. Two operators advancing the same
 * scope at once: one writes, the other gets CUTOVER_CONFLICT and nothing of it is written.
 *
 * Every transition runs in one transaction that first updates the `transitions` row of
 * `cutover_state` (a row lock on PostgreSQL, the write lock on SQLite), so transitions
 * run one at a time, the nesting rule is checked again on what is committed, and history
 * sequence numbers never collide.
 */
import { randomUUID } from 'node:crypto';
import type { EdgeList } from '../dual-trust/edges.js';
import { type Clock, systemClock } from '../spiffe/errors.js';
import type { Store } from '../store/index.js';
import type { Blocker } from './checks.js';
import { descendantsOf, edgesOf, loadScopes, type ScopeRow, type Scopes, storeEdges } from './context.js';
import { CutoverError } from './errors.js';
import { behind, evaluateGate, type GateEvaluation, nestingBlockers, recordEvaluation } from './gates.js';
import { recordObservationsFromInventory } from './observations.js';
import { dbOf, type Trx, transact } from './schema.js';
import { ancestorsOf, type Phase, parseScopeName, phaseIndex, previousPhase } from './scope.js';

export interface TransitionRow {
  scope: string;
  from: Phase;
  to: Phase;
  version: number;
}

export interface AdvanceOptions {
  /** Guard: the phase the caller means to enter (must be the next one). */
  to?: Phase;
  /** Who: the OS user or `--by`. */
  by: string;
  clock?: Clock;
  dryRun?: boolean;
  /** A new edge list (replaces the stored one unless dry run). */
  edges?: { list: EdgeList; name: string } | null;
  overlapSeconds?: number;
  /** Called after the gate was judged, before the write (tests use it to line up two operators). */
  beforeWrite?: () => Promise<void>;
}

export interface AdvanceResult {
  scope: string;
  from: Phase;
  to: Phase;
  advanced: boolean;
  dryRun: boolean;
  gate: GateEvaluation;
  /** Scopes inside that came (or would come) along. */
  cascade: TransitionRow[];
  /** The scope's version after the transition (unchanged when nothing was written). */
  version: number;
  evidenceId: string | null;
  at: string;
  by: string;
}

export interface RollbackOptions {
  reason: string;
  by: string;
  clock?: Clock;
  dryRun?: boolean;
  beforeWrite?: () => Promise<void>;
}

export interface RollbackResult {
  scope: string;
  from: Phase;
  to: Phase;
  rolledBack: boolean;
  dryRun: boolean;
  reason: string;
  /** Ancestors that follow the scope back (their phase is a floor for what is inside). */
  followers: TransitionRow[];
  blockers: Blocker[];
  version: number;
  at: string;
  by: string;
}

function conflict(scope: string, expected: number, row: ScopeRow | undefined): CutoverError {
  return new CutoverError(
    'CUTOVER_CONFLICT',
    row === undefined
      ? `${scope} disappeared while the gate was judged; nothing was changed`
      : `${scope} changed while the gate was judged (version ${expected} -> ${row.version}, now ${row.phase}, by ${
          row.updatedBy ?? 'unknown'
        } at ${row.updatedAt}); nothing was changed: look at \`cutover status\` and try again`,
    {
      details: { scope, expectedVersion: expected, version: row?.version ?? null, phase: row?.phase ?? null },
    },
  );
}

/** Takes the transition lock and returns the next history sequence number. */
async function lockTransitions(trx: Trx): Promise<number> {
  await trx
    .updateTable('cutover_state')
    .set((eb) => ({ serial: eb('serial', '+', 0) }))
    .where('name', '=', 'transitions')
    .execute();
  const r = await trx
    .selectFrom('cutover_transitions')
    .select((eb) => eb.fn.max<number | null>('seq').as('seq'))
    .executeTakeFirst();
  return Number(r?.seq ?? 0) + 1;
}

async function bumpTransitions(trx: Trx): Promise<void> {
  await trx
    .updateTable('cutover_state')
    .set((eb) => ({ serial: eb('serial', '+', 1) }))
    .where('name', '=', 'transitions')
    .execute();
}

async function setPhase(trx: Trx, row: ScopeRow, to: Phase, at: string, by: string): Promise<number> {
  const r = await trx
    .updateTable('cutover_scopes')
    .set({ phase: to, version: row.version + 1, updated_at: at, updated_by: by })
    .where('scope', '=', row.scope)
    .where('version', '=', row.version)
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) !== 1) throw conflict(row.scope, row.version, undefined);
  return row.version + 1;
}

/**
 * Judges the gate of the next phase and, when it passes, moves the scope (and the
 * scopes inside it one phase behind) into it, recording the evidence. A refused gate is
 * a result (`advanced: false`, the blockers in `gate`), not an error; CUTOVER_CONFLICT is
 * thrown when someone else changed the scope in between.
 */
export async function advanceScope(
  store: Store,
  scope: string,
  opts: AdvanceOptions,
): Promise<AdvanceResult> {
  const clock = opts.clock ?? systemClock;
  const name = parseScopeName(scope).name;
  await recordObservationsFromInventory(store, { clock });
  let edges: ReturnType<typeof edgesOf> | undefined;
  if (opts.edges) {
    if (opts.dryRun) edges = edgesOf(opts.edges.list);
    else await storeEdges(store, opts.edges.list, opts.edges.name, { clock });
  }
  const gate = await evaluateGate(store, name, {
    ...(opts.to === undefined ? {} : { to: opts.to }),
    clock,
    ...(opts.overlapSeconds === undefined ? {} : { overlapSeconds: opts.overlapSeconds }),
    ...(edges === undefined ? {} : { edges }),
  });
  const db = dbOf(store);
  const at = gate.evaluatedAt;
  const base = {
    scope: gate.scope,
    from: gate.from,
    to: gate.to,
    gate,
    at,
    by: opts.by,
    dryRun: Boolean(opts.dryRun),
  };
  const scopes = await loadScopes(db);
  const cascadeOf = (s: Scopes): TransitionRow[] =>
    gate.to === 'retired'
      ? []
      : descendantsOf(s, gate.scope)
          .filter((d) => d.phase === previousPhase(gate.to))
          .map((d) => ({ scope: d.scope, from: d.phase, to: gate.to, version: d.version + 1 }));
  if (opts.dryRun || !gate.ready) {
    const evidenceId = opts.dryRun ? null : await recordEvaluation(db, gate);
    return { ...base, advanced: false, cascade: cascadeOf(scopes), version: gate.version, evidenceId };
  }
  await opts.beforeWrite?.();
  return transact(store, async (trx) => {
    let seq = await lockTransitions(trx);
    const now = await loadScopes(trx);
    const row = now.get(gate.scope);
    if (row === undefined || row.version !== gate.version || row.phase !== gate.from)
      throw conflict(gate.scope, gate.version, row);
    const again = [...nestingBlockers(now, row, gate.to), ...behind(now, row, previousPhase(gate.to)!)];
    if (again.length > 0) {
      throw new CutoverError(
        'CUTOVER_CONFLICT',
        `scopes around ${gate.scope} changed while the gate was judged: ${again.map((b) => b.message).join('; ')}; nothing was changed`,
        { details: { scope: gate.scope, blockers: again } },
      );
    }
    const evidenceId = await recordEvaluation(trx, gate);
    const version = await setPhase(trx, row, gate.to, at, opts.by);
    const cascade = cascadeOf(now);
    const rows = [
      { scope: gate.scope, from: gate.from, to: gate.to, version, via: null as string | null },
      ...cascade.map((c) => ({ ...c, via: gate.scope })),
    ];
    for (const c of cascade) await setPhase(trx, now.get(c.scope)!, c.to, at, opts.by);
    for (const r of rows) {
      await trx
        .insertInto('cutover_transitions')
        .values({
          id: randomUUID(),
          seq: seq++,
          scope: r.scope,
          from_phase: r.from,
          to_phase: r.to,
          kind: 'advance',
          at,
          by_user: opts.by,
          reason: null,
          evidence_id: evidenceId,
          via: r.via,
          scope_version: r.version,
        })
        .execute();
    }
    await bumpTransitions(trx);
    return { ...base, advanced: true, cascade, version, evidenceId };
  });
}

/**
 * What rolling `row` back one phase would do on `scopes`: the ancestors that follow it,
 * and what refuses it (a scope that would then lead its parent by two phases; a retired
 * mesh above a cluster or namespace).
 */
export function planRollback(
  scopes: Scopes,
  row: ScopeRow,
): { to: Phase; followers: TransitionRow[]; blockers: Blocker[] } {
  const to = previousPhase(row.phase);
  if (to === null) {
    throw new CutoverError(
      'CUTOVER_NOTHING_TO_ROLL_BACK',
      `${row.scope} is in inventoried: there is nothing to roll back`,
    );
  }
  const blockers: Blocker[] = [];
  const followers: TransitionRow[] = [];
  const lowered = new Map<string, Phase>([[row.scope, to]]);
  for (const a of ancestorsOf(parseScopeName(row.scope))) {
    const arow = scopes.get(a.name);
    if (arow === undefined) continue;
    if (arow.phase === 'retired') {
      blockers.push({
        code: 'MESH_RETIRED',
        message: `${arow.scope} is retired: roll the mesh back first`,
        scope: arow.scope,
        phase: arow.phase,
      });
      continue;
    }
    if (phaseIndex(arow.phase) > phaseIndex(to)) {
      lowered.set(arow.scope, to);
      followers.push({ scope: arow.scope, from: arow.phase, to, version: arow.version + 1 });
    }
  }
  for (const [parent, phase] of lowered) {
    for (const child of scopes.values()) {
      if (child.parent !== parent || lowered.has(child.scope)) continue;
      if (phaseIndex(child.phase) > phaseIndex(phase) + 1) {
        blockers.push({
          code: 'CHILD_AHEAD',
          message: `${child.scope} is in ${child.phase} and may lead ${parent} by one phase at most; with ${parent} back in ${phase} it would lead by two: roll ${child.scope} back first`,
          scope: child.scope,
          phase: child.phase,
        });
      }
    }
  }
  return { to, followers, blockers };
}

/** Rolls a scope back one phase, with a reason; refused (a result with blockers) when the nesting rule forbids it. */
export async function rollbackScope(
  store: Store,
  scope: string,
  opts: RollbackOptions,
): Promise<RollbackResult> {
  const reason = opts.reason.trim();
  if (reason === '')
    throw new CutoverError(
      'CUTOVER_REASON_REQUIRED',
      'a rollback needs a reason (--reason TEXT): it is kept in the history',
    );
  const clock = opts.clock ?? systemClock;
  const name = parseScopeName(scope).name;
  await recordObservationsFromInventory(store, { clock });
  const scopes = await loadScopes(dbOf(store));
  const row = scopes.get(name);
  if (row === undefined)
    throw new CutoverError('CUTOVER_SCOPE_UNKNOWN', `the inventory knows no scope ${name}`);
  const plan = planRollback(scopes, row);
  const at = clock().toISOString();
  const base = {
    scope: name,
    from: row.phase,
    to: plan.to,
    reason,
    at,
    by: opts.by,
    dryRun: Boolean(opts.dryRun),
  };
  if (plan.blockers.length > 0 || opts.dryRun) {
    return {
      ...base,
      rolledBack: false,
      followers: plan.followers,
      blockers: plan.blockers,
      version: row.version,
    };
  }
  await opts.beforeWrite?.();
  return transact(store, async (trx) => {
    let seq = await lockTransitions(trx);
    const now = await loadScopes(trx);
    const cur = now.get(name);
    if (cur === undefined || cur.version !== row.version || cur.phase !== row.phase)
      throw conflict(name, row.version, cur);
    const again = planRollback(now, cur);
    if (again.blockers.length > 0) {
      throw new CutoverError(
        'CUTOVER_CONFLICT',
        `scopes around ${name} changed meanwhile: ${again.blockers.map((b) => b.message).join('; ')}; nothing was changed`,
      );
    }
    const version = await setPhase(trx, cur, again.to, at, opts.by);
    for (const f of again.followers) await setPhase(trx, now.get(f.scope)!, f.to, at, opts.by);
    const rows = [
      { scope: name, from: cur.phase, to: again.to, version, via: null as string | null },
      ...again.followers.map((f) => ({ ...f, via: name })),
    ];
    for (const r of rows) {
      await trx
        .insertInto('cutover_transitions')
        .values({
          id: randomUUID(),
          seq: seq++,
          scope: r.scope,
          from_phase: r.from,
          to_phase: r.to,
          kind: 'rollback',
          at,
          by_user: opts.by,
          reason,
          evidence_id: null,
          via: r.via,
          scope_version: r.version,
        })
        .execute();
    }
    await bumpTransitions(trx);
    return { ...base, rolledBack: true, followers: again.followers, blockers: [], version };
  });
}
