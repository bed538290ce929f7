/**
 * Judging a gate: every check of the phase a scope would enter, on the evidence in the
 * store (observations, the stored mapping and SPIRE entry dump, SPIRE roots, the edge
 * list), with every blocker named. Read-only; `recordEvaluation` stores the result.
 */
import { randomUUID } from 'node:crypto';
import { bundleForPhase, type Composition, DEFAULT_OVERLAP_SECONDS } from '../dual-trust/compose.js';
import { type DryRunCandidate, dryRun } from '../dual-trust/dryrun.js';
import type { Edge } from '../dual-trust/edges.js';
import { verifyPeer } from '../dual-trust/peer.js';
import { type SimWorkload, simulate } from '../dual-trust/simulate.js';
import { pooledTrustOfPhase, type TrustSet } from '../dual-trust/trust.js';
import { type Clock, systemClock } from '../spiffe/errors.js';
import { VerificationCache } from '../spiffe/svid/x509svid/index.js';
import type { Certificate } from '../spiffe/x509/certificate.js';
import type { Store } from '../store/index.js';
import { type Blocker, type CheckId, type CheckResult, checkResult, GATES } from './checks.js';
import {
  byKey,
  composeMesh,
  descendantsOf,
  type GateInputs,
  gateInputs,
  loadChains,
  loadEdges,
  loadScopes,
  loadWorkloads,
  type MeshComposition,
  namespacePhase,
  resolveScopeEdges,
  type ScopeEdge,
  type ScopeRow,
  type Scopes,
  type ScopeWorkload,
  type StoredEdge,
  workloadsByKey,
} from './context.js';
import { CutoverError } from './errors.js';
import { recordObservationsFromInventory } from './observations.js';
import { type Db, dbOf, type Trx } from './schema.js';
import { nextPhase, type Phase, parseScopeName, phaseIndex, previousPhase, within } from './scope.js';

export interface GateOptions {
  /** The phase to judge entry into (default: the next one). */
  to?: Phase;
  clock?: Clock;
  /** The planned overlap window (default 30 days, as the dual-trust composition plans it). */
  overlapSeconds?: number;
  /** An edge list to judge with instead of the stored one (`--dry-run --edges`). */
  edges?: StoredEdge[] | null;
}

export interface GateEvaluation {
  scope: string;
  level: ScopeRow['level'];
  from: Phase;
  to: Phase;
  /** The scope's version the evaluation was made on (a transition needs it unchanged). */
  version: number;
  evaluatedAt: string;
  ready: boolean;
  checks: CheckResult[];
  /** Every blocker of every check. */
  blockers: Blocker[];
  /** Scopes inside that would come along (they are one phase behind the target). */
  cascade: string[];
  inputs: GateInputs;
}

interface Ctx {
  db: Db;
  scopes: Scopes;
  target: ScopeRow;
  from: Phase;
  to: Phase;
  now: Date;
  clock: Clock;
  overlapSeconds: number;
  edges: StoredEdge[] | null;
  workloads?: ScopeWorkload[];
  composition?: MeshComposition;
  cache: VerificationCache;
}

/** Resolves the scope and the phase to judge; throws the usage errors (unknown scope, no next phase). */
export function targetOf(scopes: Scopes, scope: string, to: Phase | undefined): { row: ScopeRow; to: Phase } {
  const name = parseScopeName(scope).name;
  const row = scopes.get(name);
  if (row === undefined) {
    throw new CutoverError(
      'CUTOVER_SCOPE_UNKNOWN',
      `the inventory knows no scope ${name}: import its workloads first (known: ${[...scopes.keys()].slice(0, 8).join(', ') || 'none'})`,
    );
  }
  const next = nextPhase(row.phase, row.level);
  if (to === undefined) {
    if (next === null) {
      throw new CutoverError(
        'CUTOVER_NO_NEXT_PHASE',
        row.level === 'mesh'
          ? `${name} is retired: there is no phase after it`
          : `${name} is in spiffe-only, the last phase of a ${row.level}; retired is for the whole mesh: advance ${row.mesh}`,
      );
    }
    return { row, to: next };
  }
  if (to === 'retired' && row.level !== 'mesh') {
    throw new CutoverError(
      'CUTOVER_PHASE_INVALID',
      `retired is for a whole mesh, not a ${row.level}: advance ${row.mesh}`,
    );
  }
  if (phaseIndex(to) <= phaseIndex(row.phase)) {
    throw new CutoverError(
      'CUTOVER_CONFLICT',
      `${name} is already in ${row.phase}${to === row.phase ? '' : `, past ${to}`} (version ${row.version}, changed ${row.updatedAt}${row.updatedBy ? ` by ${row.updatedBy}` : ''}): nothing was changed`,
      { details: { scope: name, phase: row.phase, version: row.version } },
    );
  }
  if (to !== next) {
    throw new CutoverError(
      'CUTOVER_PHASE_INVALID',
      `${name} is in ${row.phase}: it can only advance to ${next} (one phase at a time), not ${to}`,
    );
  }
  return { row, to };
}

/**
 * Judges the gate into the next phase (or `opts.to`) of `scope`. Brings the derived state
 * up to date first (new imports, mapping runs, entry dumps); writes nothing else.
 */
export async function evaluateGate(
  store: Store,
  scope: string,
  opts: GateOptions = {},
): Promise<GateEvaluation> {
  await recordObservationsFromInventory(store, opts.clock ? { clock: opts.clock } : {});
  const db = dbOf(store);
  const scopes = await loadScopes(db);
  const { row, to } = targetOf(scopes, scope, opts.to);
  const clock = opts.clock ?? systemClock;
  const overlapSeconds = opts.overlapSeconds ?? DEFAULT_OVERLAP_SECONDS;
  const ctx: Ctx = {
    db,
    scopes,
    target: row,
    from: row.phase,
    to,
    now: clock(),
    clock,
    overlapSeconds,
    edges: opts.edges === undefined ? await loadEdges(db) : opts.edges,
    cache: new VerificationCache(100_000),
  };
  const inputs = await gateInputs(db, overlapSeconds);
  const checks: CheckResult[] = [];
  for (const id of GATES[to as Exclude<Phase, 'inventoried'>]) checks.push(await RUN[id](ctx));
  const blockers = checks.flatMap((c) => c.blockers);
  const cascade =
    to === 'retired'
      ? []
      : descendantsOf(scopes, row.scope)
          .filter((s) => s.phase === previousPhase(to))
          .map((s) => s.scope);
  return {
    scope: row.scope,
    level: row.level,
    from: row.phase,
    to,
    version: row.version,
    evaluatedAt: ctx.now.toISOString(),
    ready: blockers.length === 0,
    checks,
    blockers,
    cascade,
    inputs,
  };
}

/**
 * `cutover plan`: judges the gate and stores the evaluation as evidence, so `status` can
 * show the certificate-verifying checks without running them again.
 */
export async function planGate(
  store: Store,
  scope: string,
  opts: GateOptions = {},
): Promise<GateEvaluation & { evidenceId: string }> {
  const e = await evaluateGate(store, scope, opts);
  const evidenceId = await recordEvaluation(dbOf(store), e);
  return { ...e, evidenceId };
}

/** At most this many blockers per check are kept in stored evidence (the count is kept). */
const STORED_BLOCKERS = 100;

/** The evaluation as it is stored and shown in history. */
export function evidenceOf(e: GateEvaluation): Record<string, unknown> {
  return {
    scope: e.scope,
    from: e.from,
    to: e.to,
    evaluatedAt: e.evaluatedAt,
    passed: e.ready,
    checks: e.checks.map((c) => ({
      id: c.id,
      title: c.title,
      passed: c.passed,
      blockers: c.blockers.slice(0, STORED_BLOCKERS),
      blockerCount: c.blockers.length,
      evidence: c.evidence,
    })),
  };
}

/** Stores an evaluation as gate evidence (pass or fail); returns its id. */
export async function recordEvaluation(db: Db | Trx, e: GateEvaluation): Promise<string> {
  const id = randomUUID();
  await db
    .insertInto('cutover_gate_evidence')
    .values({
      id,
      scope: e.scope,
      from_phase: e.from,
      phase: e.to,
      evaluated_at: e.evaluatedAt,
      passed: e.ready ? 1 : 0,
      inputs: JSON.stringify(e.inputs),
      evidence: JSON.stringify(evidenceOf(e)),
    })
    .execute();
  return id;
}

// ---------------------------------------------------------------- the checks

const RUN: Record<CheckId, (ctx: Ctx) => Promise<CheckResult>> = {
  'scope-nesting': async (ctx) =>
    checkResult('scope-nesting', nestingBlockers(ctx.scopes, ctx.target, ctx.to), nestingEvidence(ctx)),
  mapping: checkMapping,
  'bundle-dry-run': checkDryRun,
  'spire-roots': checkSpireRoots,
  'workloads-and-peers-in-dual-trust': checkPeers,
  'spire-entries': checkSpireEntries,
  'workloads-in-dual-issue': async (ctx) =>
    checkResult('workloads-in-dual-issue', behind(ctx.scopes, ctx.target, 'dual-issue'), {
      scopes: descendantsOf(ctx.scopes, ctx.target.scope).length,
    }),
  'workloads-on-spire': checkOnSpire,
  'edge-simulation': checkSimulation,
  'mesh-certs-within-overlap': checkOverlap,
  'all-scopes-spiffe-only': async (ctx) => {
    const inside = descendantsOf(ctx.scopes, ctx.target.scope);
    return checkResult(
      'all-scopes-spiffe-only',
      inside
        .filter((s) => s.phase !== 'spiffe-only')
        .map((s) => ({
          code: 'SCOPE_NOT_SPIFFE_ONLY' as const,
          message: `${s.scope} is in ${s.phase}, not spiffe-only`,
          scope: s.scope,
          phase: s.phase,
        })),
      { scopes: inside.length },
    );
  },
  'no-mesh-certs-left': checkNoMeshCerts,
};

/** PARENT_BEHIND when `to` would put `row` more than one phase ahead of its parent. */
export function nestingBlockers(scopes: Scopes, row: ScopeRow, to: Phase): Blocker[] {
  if (row.parent === null) return [];
  const parent = scopes.get(row.parent);
  if (parent === undefined) return [];
  if (phaseIndex(to) <= phaseIndex(parent.phase) + 1) return [];
  const need = previousPhase(to)!;
  const waiting = [...scopes.values()]
    .filter((s) => s.parent === parent.scope && phaseIndex(s.phase) < phaseIndex(need))
    .map((s) => `${s.scope} (${s.phase})`);
  return [
    {
      code: 'PARENT_BEHIND',
      message: `${parent.scope} is in ${parent.phase}; ${row.scope} may lead it by one phase at most: advance ${parent.scope} to ${need} first${
        waiting.length > 0 ? ` (it needs ${waiting.join(', ')} in ${need} too)` : ''
      }`,
      scope: parent.scope,
      phase: parent.phase,
    },
  ];
}

function nestingEvidence(ctx: Ctx): Record<string, unknown> {
  const parent = ctx.target.parent === null ? undefined : ctx.scopes.get(ctx.target.parent);
  return parent === undefined ? { parent: null } : { parent: parent.scope, parentPhase: parent.phase };
}

/** SCOPE_BEHIND for every scope inside `row` below `min`. */
export function behind(scopes: Scopes, row: ScopeRow, min: Phase): Blocker[] {
  return descendantsOf(scopes, row.scope)
    .filter((s) => phaseIndex(s.phase) < phaseIndex(min))
    .map((s) => ({
      code: 'SCOPE_BEHIND' as const,
      message: `${s.scope} is in ${s.phase}; it must be in ${min} before ${row.scope} can leave ${row.phase}: advance it first`,
      scope: s.scope,
      phase: s.phase,
    }));
}

async function workloadsOf(ctx: Ctx): Promise<ScopeWorkload[]> {
  ctx.workloads ??= await loadWorkloads(ctx.db, ctx.target);
  return ctx.workloads;
}

async function compositionOf(ctx: Ctx): Promise<MeshComposition> {
  ctx.composition ??= await composeMesh(ctx.db, ctx.target.mesh, {
    clock: ctx.clock,
    overlapSeconds: ctx.overlapSeconds,
  });
  return ctx.composition;
}

async function latestRun(
  db: Db,
): Promise<{ id: string; seq: number; rulesHash: string; createdAt: string; trustDomain: string } | null> {
  const r = await db
    .selectFrom('mapping_runs')
    .selectAll()
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  return r === undefined
    ? null
    : {
        id: r.id,
        seq: Number(r.seq),
        rulesHash: r.rules_hash,
        createdAt: r.created_at,
        trustDomain: r.trust_domain,
      };
}

/**
 * What the latest run maps each workload of the scope to (null: unmapped), and whether the
 * latest entry dump holds an entry for it, as matched by recordObservationsFromInventory.
 */
async function mappedIds(db: Db, s: ScopeRow): Promise<Map<string, { id: string | null; entry: boolean }>> {
  let q = db
    .selectFrom('cutover_workloads')
    .select(['workload', 'mapped_spiffe_id', 'has_entry'])
    .where('mesh', '=', s.mesh);
  if (s.cluster !== null) q = q.where('cluster', '=', s.cluster);
  if (s.namespace !== null) q = q.where('namespace', '=', s.namespace);
  const rows = await q.orderBy('workload').execute();
  return new Map(rows.map((r) => [r.workload, { id: r.mapped_spiffe_id, entry: Number(r.has_entry) === 1 }]));
}

async function checkMapping(ctx: Ctx): Promise<CheckResult> {
  const run = await latestRun(ctx.db);
  if (run === null) {
    return checkResult('mapping', [
      {
        code: 'MAPPING_MISSING',
        message: 'no accepted mapping run is stored: run `meshbridge map` with your rules',
      },
    ]);
  }
  const blockers: Blocker[] = [];
  const problems = await ctx.db
    .selectFrom('mapping_problems')
    .select(['code', 'message'])
    .where('run_id', '=', run.id)
    .where('blocking', '=', 1)
    .execute();
  for (const p of problems) {
    blockers.push({ code: 'MAPPING_BLOCKING_PROBLEM', message: `${p.message} [${p.code}]` });
  }
  const ids = await mappedIds(ctx.db, ctx.target);
  for (const [workload, { id }] of ids) {
    if (id !== null) continue;
    blockers.push({
      code: 'WORKLOAD_UNMAPPED',
      message: `${workload} is not in mapping run ${run.seq} (${run.createdAt}): run \`meshbridge map\` again`,
      workload,
    });
  }
  return checkResult('mapping', blockers, {
    run: run.id,
    seq: run.seq,
    rulesHash: run.rulesHash,
    trustDomain: run.trustDomain,
    workloads: ids.size,
    mapped: [...ids.values()].filter((v) => v.id !== null).length,
  });
}

function bundleSummary(comp: Composition, phase: Phase) {
  const b = bundleForPhase(comp, phase === 'retired' ? 'spiffe-only' : phase);
  return {
    phase: b.phase,
    trustDomains: b.trustDomains.map((td) => ({
      name: td.name,
      roots: td.roots.map((r) => r.fingerprint),
      digest: td.digest,
    })),
  };
}

function trustOf(comp: Composition, phase: Phase, memo: Map<Phase, TrustSet>): TrustSet {
  const p: Phase = phase === 'retired' ? 'spiffe-only' : phase;
  let t = memo.get(p);
  if (t === undefined) {
    t = pooledTrustOfPhase(bundleForPhase(comp, p));
    memo.set(p, t);
  }
  return t;
}

function refusedBlockers(mc: MeshComposition): Blocker[] {
  if (mc.refused === null) return [];
  const roots =
    (mc.refused.details?.roots as {
      fingerprint: string;
      subject: string;
      notAfter: string;
      status: string;
    }[]) ?? [];
  if (roots.length === 0) return [{ code: 'BUNDLE_ROOT_REFUSED', message: mc.refused.message }];
  return roots.map((r) => ({
    code: 'BUNDLE_ROOT_REFUSED' as const,
    message: `root "${r.subject || '<empty subject>'}" ${r.status === 'expired' ? 'expired' : 'expires'} at ${r.notAfter}, inside the overlap window: the bundle cannot be composed [${mc.refused!.code}]`,
    certificate: { fingerprint: r.fingerprint, notAfter: r.notAfter },
  }));
}

async function checkDryRun(ctx: Ctx): Promise<CheckResult> {
  const mc = await compositionOf(ctx);
  const blockers = refusedBlockers(mc);
  if (mc.meshRoots.length === 0) {
    blockers.push({
      code: 'MESH_ROOTS_UNKNOWN',
      message: `the inventory holds no trust anchor of ${ctx.target.mesh}: the bundle would lack the mesh roots; import the mesh's root certificate`,
    });
  }
  const evidence: Record<string, unknown> = { meshRoots: mc.meshRoots, spireRoots: mc.spireRoots };
  const comp = mc.composition;
  if (comp !== null) {
    const workloads = await workloadsOf(ctx);
    const chains = await loadChains(ctx.db, workloads);
    const byLeaf = new Map<string, string>();
    const candidates: DryRunCandidate[] = [];
    for (const w of workloads) {
      const chain = chains.get(w.workload);
      if (chain === undefined) continue;
      byLeaf.set(chain[0]!.fingerprint, w.workload);
      candidates.push({ source: w.workload, chain });
    }
    const memo = new Map<Phase, TrustSet>();
    const report = dryRun(candidates, {
      bundle: trustOf(comp, ctx.to, memo),
      current: trustOf(comp, ctx.from, memo),
      clock: ctx.clock,
      cache: ctx.cache,
    });
    for (const b of report.breaks) {
      blockers.push({
        code: 'BUNDLE_WOULD_BREAK',
        message: `${b.source} presents a certificate that verifies today and would not with the ${ctx.to} bundle: ${b.message} [${b.code}]`,
        workload: b.source,
        certificate: { fingerprint: b.fingerprint },
      });
    }
    evidence.bundle = bundleSummary(comp, ctx.to);
    evidence.current = bundleSummary(comp, ctx.from);
    evidence.candidates = {
      total: report.total,
      valid: report.valid,
      invalid: report.invalid,
      breaks: report.breaks.length,
    };
    evidence.notJudged = workloads.length - candidates.length;
  }
  return checkResult('bundle-dry-run', blockers, evidence);
}

async function checkSpireRoots(ctx: Ctx): Promise<CheckResult> {
  const mc = await compositionOf(ctx);
  return checkResult(
    'spire-roots',
    mc.spireRoots.length === 0
      ? [
          {
            code: 'SPIRE_ROOTS_UNKNOWN',
            message: "no SPIRE root is stored: sync SPIRE's trust bundle first (`meshbridge spire sync`)",
          },
        ]
      : [],
    { roots: mc.spireRoots },
  );
}

/** Edges with at least one end in the scope, their ends resolved to workloads. */
async function scopeEdges(ctx: Ctx, edges: StoredEdge[]): Promise<ScopeEdge[]> {
  const inScope = await workloadsOf(ctx);
  const everyone = await workloadsByKey(ctx.db, edges);
  return resolveScopeEdges(edges, ctx.target.scope, byKey(inScope), everyone);
}

async function checkPeers(ctx: Ctx): Promise<CheckResult> {
  const blockers = behind(ctx.scopes, ctx.target, 'dual-trust');
  const evidence: Record<string, unknown> = { edgeList: ctx.edges !== null };
  if (ctx.edges !== null) {
    const edges = await scopeEdges(ctx, ctx.edges);
    const seen = new Set<string>();
    for (const se of edges) {
      const edge = { source: se.edge.source, destination: se.edge.destination };
      const otherName = se.insideIsSource ? se.edge.destination : se.edge.source;
      if (se.peers.length === 0) {
        const k = `unknown\u0000${edge.source}\u0000${edge.destination}`;
        if (!seen.has(k)) {
          seen.add(k);
          blockers.push({
            code: 'PEER_UNKNOWN',
            message: `edge ${edge.source} -> ${edge.destination}: the inventory knows no workload ${otherName}, so whether it trusts the SPIRE roots cannot be told; import it or fix the edge list`,
            edge,
            identity: otherName,
          });
        }
        continue;
      }
      for (const p of se.peers) {
        if (within(`${p.mesh}/${p.cluster}/${p.namespace}`, ctx.target.scope)) continue;
        const phase = namespacePhase(ctx.scopes, p.mesh, p.cluster, p.namespace);
        if (phaseIndex(phase) >= phaseIndex('dual-trust')) continue;
        const k = `peer\u0000${edge.source}\u0000${edge.destination}\u0000${p.workload}`;
        if (seen.has(k)) continue;
        seen.add(k);
        blockers.push({
          code: 'PEER_NOT_IN_DUAL_TRUST',
          message: `edge ${edge.source} -> ${edge.destination}: peer ${p.workload} is in ${phase} and would refuse SPIRE SVIDs from ${se.inside.workload}; advance ${p.mesh}/${p.cluster}/${p.namespace} to dual-trust first`,
          edge,
          workload: se.inside.workload,
          peer: p.workload,
          scope: `${p.mesh}/${p.cluster}/${p.namespace}`,
          phase,
        });
      }
    }
    evidence.edges = edges.length;
  } else {
    // No edge list: every workload of the mesh may talk to the scope.
    const counts = await ctx.db
      .selectFrom('cutover_workloads')
      .select((eb) => ['cluster', 'namespace', eb.fn.countAll<number>().as('n')])
      .where('mesh', '=', ctx.target.mesh)
      .groupBy(['cluster', 'namespace'])
      .execute();
    for (const c of counts) {
      const scope = `${ctx.target.mesh}/${c.cluster}/${c.namespace}`;
      if (within(scope, ctx.target.scope)) continue;
      const phase = namespacePhase(ctx.scopes, ctx.target.mesh, c.cluster, c.namespace);
      if (phaseIndex(phase) >= phaseIndex('dual-trust')) continue;
      blockers.push({
        code: 'PEER_NOT_IN_DUAL_TRUST',
        message: `${scope} (${Number(c.n)} workload(s)) is in ${phase}; without an edge list every workload of ${ctx.target.mesh} counts as a peer: advance it to dual-trust or give --edges`,
        scope,
        phase,
        count: Number(c.n),
      });
    }
  }
  return checkResult('workloads-and-peers-in-dual-trust', blockers, evidence);
}

async function checkSpireEntries(ctx: Ctx): Promise<CheckResult> {
  const dump = await ctx.db
    .selectFrom('spire_entry_dumps')
    .selectAll()
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  const run = await latestRun(ctx.db);
  const blockers: Blocker[] = [];
  if (dump === undefined) {
    blockers.push({
      code: 'SPIRE_ENTRIES_UNKNOWN',
      message:
        'no SPIRE entry dump is stored: run `spire-server entry show -output json` and `meshbridge spire sync --entries`',
    });
  }
  if (run === null)
    blockers.push({
      code: 'MAPPING_MISSING',
      message: 'no accepted mapping run is stored: run `meshbridge map`',
    });
  if (dump === undefined || run === null) return checkResult('spire-entries', blockers);
  const ids = await mappedIds(ctx.db, ctx.target);
  const wanted = new Set<string>();
  const present = new Set<string>();
  for (const [workload, { id, entry }] of ids) {
    if (id === null) {
      blockers.push({
        code: 'WORKLOAD_UNMAPPED',
        message: `${workload} is not in mapping run ${run.seq}: run \`meshbridge map\` again`,
        workload,
      });
      continue;
    }
    wanted.add(id);
    if (entry) {
      present.add(id);
      continue;
    }
    blockers.push({
      code: 'SPIRE_ENTRY_MISSING',
      message: `${id} (workload ${workload}) has no entry in SPIRE entry dump ${Number(dump.seq)} (${dump.imported_at})`,
      workload,
      spiffeId: id,
    });
  }
  return checkResult('spire-entries', blockers, {
    dump: {
      id: dump.id,
      seq: Number(dump.seq),
      importedAt: dump.imported_at,
      source: dump.source,
      entries: Number(dump.entry_count),
    },
    run: run.id,
    mappedIds: wanted.size,
    withEntries: present.size,
  });
}

async function checkOnSpire(ctx: Ctx): Promise<CheckResult> {
  const workloads = await workloadsOf(ctx);
  const blockers: Blocker[] = [];
  for (const w of workloads) {
    if (w.lastIssuerKind === 'spire') continue;
    const mesh = w.lastIssuerKind === 'mesh';
    blockers.push({
      code: mesh ? 'WORKLOAD_ON_MESH_CERT' : 'WORKLOAD_NOT_ON_SPIRE',
      message: `${w.workload} was last seen (${w.lastAt}, ${w.lastSource}) presenting a ${
        mesh ? 'mesh-issued' : `${w.lastIssuerKind}-issuer`
      } certificate${w.lastFingerprint ? ` (sha256 ${w.lastFingerprint.slice(0, 16)}…)` : ''}`,
      workload: w.workload,
      ...(w.lastFingerprint
        ? {
            certificate: {
              fingerprint: w.lastFingerprint,
              issuer: w.lastIssuerFingerprint,
              issuerKind: w.lastIssuerKind,
            },
          }
        : {}),
    });
  }
  return checkResult('workloads-on-spire', blockers, {
    workloads: workloads.length,
    onSpire: workloads.filter((w) => w.lastIssuerKind === 'spire').length,
  });
}

async function checkSimulation(ctx: Ctx): Promise<CheckResult> {
  const mc = await compositionOf(ctx);
  const blockers = refusedBlockers(mc);
  const comp = mc.composition;
  if (comp === null) return checkResult('edge-simulation', blockers);
  const memo = new Map<Phase, TrustSet>();
  const inScope = (w: { mesh: string; cluster: string; namespace: string }) =>
    within(`${w.mesh}/${w.cluster}/${w.namespace}`, ctx.target.scope);
  const phaseNow = (w: ScopeWorkload): Phase => namespacePhase(ctx.scopes, w.mesh, w.cluster, w.namespace);
  const evidence: Record<string, unknown> = {
    edgeList: ctx.edges !== null,
    bundle: bundleSummary(comp, 'spiffe-only'),
  };

  if (ctx.edges !== null) {
    const edges = await scopeEdges(ctx, ctx.edges);
    const workloads = new Map<string, ScopeWorkload>();
    const simEdges: (Edge & { original: StoredEdge })[] = [];
    const unknownEnds = new Set<string>();
    for (const se of edges) {
      workloads.set(se.inside.workload, se.inside);
      if (se.peers.length === 0) unknownEnds.add(se.insideIsSource ? se.edge.destination : se.edge.source);
      for (const p of se.peers) {
        workloads.set(p.workload, p);
        simEdges.push({
          source: se.insideIsSource ? se.inside.workload : p.workload,
          destination: se.insideIsSource ? p.workload : se.inside.workload,
          original: se.edge,
        });
      }
    }
    const chains = await loadChains(ctx.db, [...workloads.values()]);
    const sims: SimWorkload[] = [];
    for (const w of workloads.values()) {
      const chain = chains.get(w.workload);
      if (chain === undefined || w.mesh !== ctx.target.mesh) continue;
      sims.push({
        key: w.workload,
        identity: w.workload,
        chain,
        scope: `${w.mesh}/${w.cluster}/${w.namespace}`,
      });
    }
    const byId = new Map([...workloads.values()].map((w) => [w.workload, w]));
    // 'dual-issue' labels the state today, 'spiffe-only' the state after the transition.
    const report = simulate(simEdges, {
      phases: ['dual-issue', 'spiffe-only'],
      workloads: sims,
      trustFor: (w, label) => {
        const wl = byId.get(w.key)!;
        const phase = label === 'spiffe-only' && inScope(wl) ? 'spiffe-only' : phaseNow(wl);
        return trustOf(comp, phase, memo);
      },
      clock: ctx.clock,
      cache: ctx.cache,
    });
    const key = (b: { source: string; destination: string; direction: string }) =>
      `${b.source}\u0000${b.destination}\u0000${b.direction}`;
    const before = new Set(report.phases[0]!.broken.map(key));
    const original = new Map(simEdges.map((e) => [`${e.source}\u0000${e.destination}`, e.original]));
    for (const b of report.phases[1]!.broken) {
      if (before.has(key(b))) continue;
      const o = original.get(`${b.source}\u0000${b.destination}`);
      blockers.push({
        code: 'EDGE_WOULD_BREAK',
        message: `edge ${o?.source ?? b.source} -> ${o?.destination ?? b.destination} (${b.direction}): ${b.verifier} would refuse the certificate ${b.presenter} presents once the mesh roots are removed: ${b.message} [${b.code}]`,
        edge: {
          source: o?.source ?? b.source,
          destination: o?.destination ?? b.destination,
          direction: b.direction,
        },
        workload: b.presenter,
        peer: b.verifier,
        certificate: { fingerprint: b.fingerprint },
      });
    }
    evidence.edges = simEdges.length;
    evidence.alreadyBroken = report.phases[0]!.broken.length;
    evidence.notJudged = [...new Set([...report.unknown.map((u) => u.identity), ...unknownEnds])].sort();
  } else {
    // No edge list: every workload of the mesh may call into the scope.
    const everyone = await loadWorkloads(ctx.db, { mesh: ctx.target.mesh, cluster: null, namespace: null });
    const chains = await loadChains(ctx.db, everyone);
    const before = trustOf(comp, ctx.from, memo);
    const after = trustOf(comp, 'spiffe-only', memo);
    const vopts = { clock: ctx.clock, cache: ctx.cache };
    const verdicts = new Map<string, boolean>();
    const ok = (chain: readonly Certificate[], t: TrustSet, tag: string) => {
      const k = `${tag}\u0000${chain.map((c) => c.fingerprint).join(':')}`;
      let v = verdicts.get(k);
      if (v === undefined) {
        v = verifyPeer(chain, t, vopts).valid;
        verdicts.set(k, v);
      }
      return v;
    };
    let judged = 0;
    for (const w of everyone) {
      const chain = chains.get(w.workload);
      if (chain === undefined) continue;
      judged++;
      if (!ok(chain, before, 'before') || ok(chain, after, 'after')) continue;
      const v = verifyPeer(chain, after, vopts);
      blockers.push({
        code: 'PEER_WOULD_BE_REFUSED',
        message: `${w.workload} presents a certificate ${ctx.target.scope} would refuse once its bundle drops the mesh roots${
          v.valid ? '' : `: ${v.message} [${v.code}]`
        }; without an edge list every workload of ${ctx.target.mesh} counts as a client`,
        workload: w.workload,
        scope: ctx.target.scope,
        certificate: { fingerprint: chain[0]!.fingerprint },
      });
    }
    evidence.implied = { workloads: everyone.length, judged };
  }
  return checkResult('edge-simulation', blockers, evidence);
}

async function checkOverlap(ctx: Ctx): Promise<CheckResult> {
  const limit = new Date(ctx.now.getTime() + ctx.overlapSeconds * 1000).toISOString();
  let q = ctx.db
    .selectFrom('cutover_certificates')
    .select(['fingerprint', 'workload', 'not_after', 'issuer_fingerprint'])
    .where('mesh', '=', ctx.target.mesh)
    .where('issuer_kind', '=', 'mesh')
    .where('not_after', '>', limit);
  if (ctx.target.cluster !== null) q = q.where('cluster', '=', ctx.target.cluster);
  if (ctx.target.namespace !== null) q = q.where('namespace', '=', ctx.target.namespace);
  const rows = await q.orderBy('not_after').orderBy('fingerprint').execute();
  return checkResult(
    'mesh-certs-within-overlap',
    rows.map((r) => ({
      code: 'MESH_CERT_OUTLIVES_OVERLAP' as const,
      message: `the mesh-issued certificate of ${r.workload} (sha256 ${r.fingerprint.slice(0, 16)}…) is valid until ${r.not_after}, beyond the ${Math.round(ctx.overlapSeconds / 3600)}h overlap window (${limit})`,
      workload: r.workload,
      certificate: {
        fingerprint: r.fingerprint,
        notAfter: r.not_after,
        issuer: r.issuer_fingerprint,
        issuerKind: 'mesh',
      },
    })),
    { overlapSeconds: ctx.overlapSeconds, validUntilAtMost: limit },
  );
}

async function checkNoMeshCerts(ctx: Ctx): Promise<CheckResult> {
  const now = ctx.now.toISOString();
  const rows = await ctx.db
    .selectFrom('cutover_certificates')
    .select(['fingerprint', 'workload', 'not_after', 'issuer_fingerprint'])
    .where('mesh', '=', ctx.target.mesh)
    .where('issuer_kind', '=', 'mesh')
    .where('not_after', '>', now)
    .orderBy('not_after')
    .orderBy('fingerprint')
    .execute();
  return checkResult(
    'no-mesh-certs-left',
    rows.map((r) => ({
      code: 'MESH_CERT_UNEXPIRED' as const,
      message: `the mesh-issued certificate of ${r.workload} (sha256 ${r.fingerprint.slice(0, 16)}…) is valid until ${r.not_after}`,
      workload: r.workload,
      certificate: {
        fingerprint: r.fingerprint,
        notAfter: r.not_after,
        issuer: r.issuer_fingerprint,
        issuerKind: 'mesh',
      },
    })),
    { at: now },
  );
}
