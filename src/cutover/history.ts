/**
 * The history of transitions: who, when, from, to, and why (the gate evidence that let
 * an advance pass, or the reason a rollback was given). The JSON contract of `cutover
 * history --json` is `{"transitions":[{scope, from, to, at, by, reason, evidence}]}`.
 */
import type { Store } from '../store/index.js';
import { dbOf } from './schema.js';
import { type Phase, parseScopeName } from './scope.js';

export interface Transition {
  scope: string;
  from: Phase;
  to: Phase;
  at: string;
  by: string;
  reason: string | null;
  evidence: Record<string, unknown> | null;
  kind: 'advance' | 'rollback';
  /** The scope whose transition carried this one along; null when asked for directly. */
  via: string | null;
  /** The scope's version after the transition. */
  version: number;
  seq: number;
}

export interface HistoryOptions {
  /** Only this scope and the scopes inside it. */
  scope?: string;
  /** Leave the evidence out (it can be long). */
  withoutEvidence?: boolean;
}

/** Every transition, oldest first. */
export async function loadHistory(store: Store, opts: HistoryOptions = {}): Promise<Transition[]> {
  const db = dbOf(store);
  let q = db
    .selectFrom('cutover_transitions as t')
    .leftJoin('cutover_gate_evidence as e', 'e.id', 't.evidence_id')
    .select([
      't.seq',
      't.scope',
      't.from_phase',
      't.to_phase',
      't.kind',
      't.at',
      't.by_user',
      't.reason',
      't.via',
      't.scope_version',
      'e.evidence',
    ]);
  if (opts.scope !== undefined) {
    const name = parseScopeName(opts.scope).name;
    q = q.where((eb) =>
      eb.or([
        eb('t.scope', '=', name),
        eb(eb.fn('substr', ['t.scope', eb.val(1), eb.val(name.length + 1)]), '=', `${name}/`),
      ]),
    );
  }
  const rows = await q.orderBy('t.seq').execute();
  return rows.map((r) => ({
    scope: r.scope,
    from: r.from_phase as Phase,
    to: r.to_phase as Phase,
    at: r.at,
    by: r.by_user,
    reason: r.reason,
    evidence:
      opts.withoutEvidence || r.evidence == null ? null : (JSON.parse(r.evidence) as Record<string, unknown>),
    kind: r.kind,
    via: r.via,
    version: Number(r.scope_version),
    seq: Number(r.seq),
  }));
}

/** The JSON contract shape of one transition (extra fields after the contract's). */
export function transitionJson(t: Transition): Record<string, unknown> {
  return {
    scope: t.scope,
    from: t.from,
    to: t.to,
    at: t.at,
    by: t.by,
    reason: t.reason,
    evidence: t.evidence,
    kind: t.kind,
    via: t.via,
    version: t.version,
  };
}
