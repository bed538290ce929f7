/**
 * `cutover status`: every mesh, cluster and namespace scope the inventory knows, with its
 * phase, its workloads and how many of them were last seen on a SPIRE-issued certificate,
 * and the next gate with its blockers.
 *
 * Built to stay fast on big inventories: progress and every workload-level check are
 * aggregated per namespace in SQL (a few GROUP BY / window queries over the whole store,
 * never one query per scope, never one JS step per workload) and rolled up to clusters
 * and meshes. Blockers are summarised per namespace (a count and a few examples; `cutover
 * plan` names each one). The two checks that verify certificates (the bundle dry run,
 * the edge simulation) are taken from the last `plan`/`advance` of the scope when it was
 * judged on the same inputs; otherwise they show as CHECK_NOT_EVALUATED.
 */
import { sql } from 'kysely';
import { DEFAULT_OVERLAP_SECONDS } from '../dual-trust/compose.js';
import { type Clock, systemClock } from '../spiffe/errors.js';
import type { Store } from '../store/index.js';
import { type Blocker, CHECKS, type CheckId, EXPENSIVE_CHECKS, GATES } from './checks.js';
import {
  candidatesFor,
  type GateInputs,
  gateInputs,
  loadEdges,
  loadScopes,
  namespacePhase,
  type ScopeRow,
  type Scopes,
  type ScopeWorkload,
  type StoredEdge,
  scopeOfWorkload,
  workloadsByKey,
} from './context.js';
import { CutoverError } from './errors.js';
import { behind, nestingBlockers } from './gates.js';
import { recordObservationsFromInventory } from './observations.js';
import { type Db, dbOf } from './schema.js';
import { nextPhase, type Phase, parseScopeName, phaseIndex, within } from './scope.js';

export interface NextGate {
  phase: Phase;
  ready: boolean;
  blockers: Blocker[];
}

export interface ScopeStatus {
  scope: string;
  phase: Phase;
  workloads: number;
  /** Workloads whose latest observation shows a SPIRE-issued certificate. */
  onSpire: number;
  /** null at the last phase (retired for a mesh, spiffe-only below it). */
  next: NextGate | null;
  level: ScopeRow['level'];
  parent: string | null;
  version: number;
  /** Workloads last seen on a mesh-issued certificate. */
  onMesh: number;
  /** Workloads last seen on a certificate of an unknown or federated issuer. */
  onOther: number;
  updatedAt: string;
  updatedBy: string | null;
}

export interface StatusReport {
  evaluatedAt: string;
  scopes: ScopeStatus[];
}

export interface StatusOptions {
  /** Only this scope and the scopes inside it. */
  scope?: string;
  clock?: Clock;
  overlapSeconds?: number;
  /** Turn new imports into observations first (default true). */
  ingest?: boolean;
}

/** Examples listed per aggregated blocker. */
const EXAMPLES = 3;

interface NsAgg {
  count: number;
  examples: string[];
}

type NsMap = Map<string, NsAgg>;

function nsKey(mesh: string, cluster: string, namespace: string): string {
  return `${mesh}/${cluster}/${namespace}`;
}

/** Filter fragment for an optional scope. */
function scopeSql(
  alias: string,
  s: { mesh: string; cluster: string | null; namespace: string | null } | null,
) {
  if (s === null) return sql`1 = 1`;
  const parts = [sql`${sql.ref(`${alias}.mesh`)} = ${s.mesh}`];
  if (s.cluster !== null) parts.push(sql`${sql.ref(`${alias}.cluster`)} = ${s.cluster}`);
  if (s.namespace !== null) parts.push(sql`${sql.ref(`${alias}.namespace`)} = ${s.namespace}`);
  return sql.join(parts, sql` AND `);
}

interface Evaluated {
  from: string;
  checks: { id: CheckId; passed: boolean; blockers: Blocker[] }[];
}

/**
 * The last stored evaluation of each (scope, phase) that was made on exactly the current
 * inputs (so two evaluations at the same injected instant cannot shadow each other).
 */
async function lastEvaluations(db: Db, inputs: GateInputs): Promise<Map<string, Evaluated>> {
  const rows = await sql<{ scope: string; phase: string; from_phase: string; evidence: string }>`
    SELECT scope, phase, from_phase, evidence FROM (
      SELECT scope, phase, from_phase, evidence,
        ROW_NUMBER() OVER (PARTITION BY scope, phase ORDER BY evaluated_at DESC, id DESC) AS rn
      FROM cutover_gate_evidence WHERE inputs = ${JSON.stringify(inputs)}
    ) t WHERE rn = 1`.execute(db);
  const out = new Map<string, Evaluated>();
  for (const r of rows.rows) {
    try {
      const ev = JSON.parse(r.evidence) as { checks?: Evaluated['checks'] };
      out.set(`${r.scope}\u0000${r.phase}`, { from: r.from_phase, checks: ev.checks ?? [] });
    } catch {
      // unreadable evidence counts as not evaluated
    }
  }
  return out;
}

/** Status of every scope (or of one scope and what is inside it). */
export async function cutoverStatus(store: Store, opts: StatusOptions = {}): Promise<StatusReport> {
  const clock = opts.clock ?? systemClock;
  if (opts.ingest !== false) await recordObservationsFromInventory(store, { clock });
  const db = dbOf(store);
  const now = clock();
  const overlapSeconds = opts.overlapSeconds ?? DEFAULT_OVERLAP_SECONDS;
  const scopes = await loadScopes(db);
  const only = opts.scope === undefined ? null : parseScopeName(opts.scope);
  const shown = [...scopes.values()].filter((s) => only === null || within(s.scope, only.name));
  if (only !== null && shown.length === 0) {
    throw new CutoverError(
      'CUTOVER_SCOPE_UNKNOWN',
      `the inventory knows no scope ${only.name}: import its workloads first`,
    );
  }
  const filter = only === null ? null : { mesh: only.mesh, cluster: only.cluster, namespace: only.namespace };
  // A mesh-wide view is needed for peers; everything else stays inside the filter.
  const meshFilter = only === null ? null : { mesh: only.mesh, cluster: null, namespace: null };

  // One pass over the workloads: per namespace, progress and every workload-level check
  // (a count and the first and last offender as examples). Workloads are matched to the
  // latest mapping run and entry dump when those change (recordObservationsFromInventory),
  // so mapping and entries are column tests here.
  const agg = await sql<WorkloadAggRow>`
    SELECT x.mesh AS mesh, x.cluster AS cluster, x.namespace AS namespace, COUNT(*) AS n,
      SUM(CASE WHEN x.last_issuer_kind = 'spire' THEN 1 ELSE 0 END) AS spire,
      SUM(CASE WHEN x.last_issuer_kind = 'mesh' THEN 1 ELSE 0 END) AS mesh_n,
      SUM(CASE WHEN x.mapped_spiffe_id IS NULL THEN 1 ELSE 0 END) AS unmapped_n,
      MIN(CASE WHEN x.mapped_spiffe_id IS NULL THEN x.workload END) AS unmapped_a,
      MAX(CASE WHEN x.mapped_spiffe_id IS NULL THEN x.workload END) AS unmapped_b,
      SUM(CASE WHEN x.mapped_spiffe_id IS NOT NULL AND x.has_entry = 0 THEN 1 ELSE 0 END) AS noentry_n,
      MIN(CASE WHEN x.mapped_spiffe_id IS NOT NULL AND x.has_entry = 0 THEN x.mapped_spiffe_id END) AS noentry_a,
      MAX(CASE WHEN x.mapped_spiffe_id IS NOT NULL AND x.has_entry = 0 THEN x.mapped_spiffe_id END) AS noentry_b,
      MIN(CASE WHEN x.last_issuer_kind <> 'spire' THEN x.workload END) AS offspire_a,
      MAX(CASE WHEN x.last_issuer_kind <> 'spire' THEN x.workload END) AS offspire_b
    FROM cutover_workloads x WHERE ${scopeSql('x', meshFilter)}
    GROUP BY x.mesh, x.cluster, x.namespace`.execute(db);
  const perNs = new Map<string, { n: number; spire: number; mesh: number }>();
  const unmapped: NsMap = new Map();
  const noEntry: NsMap = new Map();
  const notOnSpire: NsMap = new Map();
  for (const r of agg.rows) {
    const k = nsKey(r.mesh, r.cluster, r.namespace);
    const n = Number(r.n);
    const spire = Number(r.spire);
    perNs.set(k, { n, spire, mesh: Number(r.mesh_n) });
    put(unmapped, k, Number(r.unmapped_n), r.unmapped_a, r.unmapped_b);
    put(noEntry, k, Number(r.noentry_n), r.noentry_a, r.noentry_b);
    put(notOnSpire, k, n - spire, r.offspire_a, r.offspire_b);
  }

  const nextOf = new Map<string, Phase | null>(shown.map((s) => [s.scope, nextPhase(s.phase, s.level)]));
  const needed = new Set<CheckId>();
  for (const p of nextOf.values())
    if (p !== null) for (const c of GATES[p as Exclude<Phase, 'inventoried'>]) needed.add(c);

  const run = await db
    .selectFrom('mapping_runs')
    .select(['id', 'seq'])
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  const dump = await db
    .selectFrom('spire_entry_dumps')
    .select(['id', 'seq'])
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();

  // One pass over the mesh-issued certificates: those outliving the overlap window, and
  // those not expired yet.
  const limit = new Date(now.getTime() + overlapSeconds * 1000).toISOString();
  const outliving: NsMap = new Map();
  const unexpired: NsMap = new Map();
  if (needed.has('mesh-certs-within-overlap') || needed.has('no-mesh-certs-left')) {
    const certs = await sql<CertAggRow>`
      SELECT x.mesh AS mesh, x.cluster AS cluster, x.namespace AS namespace,
        SUM(CASE WHEN x.not_after > ${limit} THEN 1 ELSE 0 END) AS long_n,
        MIN(CASE WHEN x.not_after > ${limit} THEN x.workload END) AS long_a,
        MAX(CASE WHEN x.not_after > ${limit} THEN x.workload END) AS long_b,
        COUNT(*) AS live_n, MIN(x.workload) AS live_a, MAX(x.workload) AS live_b
      FROM cutover_certificates x
      WHERE ${scopeSql('x', filter)} AND x.issuer_kind = 'mesh' AND x.not_after > ${now.toISOString()}
      GROUP BY x.mesh, x.cluster, x.namespace`.execute(db);
    for (const r of certs.rows) {
      const k = nsKey(r.mesh, r.cluster, r.namespace);
      put(outliving, k, Number(r.long_n), r.long_a, r.long_b);
      put(unexpired, k, Number(r.live_n), r.live_a, r.live_b);
    }
  }
  const spireRoots = needed.has('spire-roots')
    ? Number(
        (
          await db
            .selectFrom('trust_roots')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('origin', '=', 'spire')
            .where('kind', '=', 'x509-svid')
            .where('removed_at', 'is', null)
            .executeTakeFirstOrThrow()
        ).n,
      )
    : 0;
  const edges = needed.has('workloads-and-peers-in-dual-trust') ? await loadEdges(db) : null;
  const edgePairs = edges !== null ? pairsByNamespace(edges, await workloadsByKey(db, edges)) : null;
  const expensive = EXPENSIVE_CHECKS.some((c) => needed.has(c));
  const inputs = expensive ? await gateInputs(db, overlapSeconds) : null;
  const evaluations = inputs !== null ? await lastEvaluations(db, inputs) : new Map<string, Evaluated>();

  // The namespaces inside each scope, once.
  const nsOf = new Map<string, string[]>();
  for (const k of [...new Set([...perNs.keys(), ...unexpired.keys()])].sort()) {
    const [mesh, cluster] = k.split('/');
    for (const scope of [mesh!, `${mesh}/${cluster}`, k]) {
      const list = nsOf.get(scope);
      if (list === undefined) nsOf.set(scope, [k]);
      else list.push(k);
    }
  }

  const out: ScopeStatus[] = [];
  for (const s of shown) {
    const namespaces = nsOf.get(s.scope) ?? [];
    let workloads = 0;
    let onSpire = 0;
    let onMesh = 0;
    for (const k of namespaces) {
      const c = perNs.get(k);
      if (c === undefined) continue;
      workloads += c.n;
      onSpire += c.spire;
      onMesh += c.mesh;
    }
    const to = nextOf.get(s.scope) ?? null;
    let next: NextGate | null = null;
    if (to !== null) {
      const ctx: Agg = {
        scopes,
        s,
        to,
        namespaces,
        perNs,
        run,
        dump,
        unmapped,
        noEntry,
        notOnSpire,
        outliving,
        unexpired,
        spireRoots,
        edgePairs,
        evaluation: evaluations.get(`${s.scope}\u0000${to}`),
        overlapSeconds,
      };
      const blockers = GATES[to as Exclude<Phase, 'inventoried'>].flatMap((id) =>
        AGG[id](ctx).map((b) => ({ ...b, check: id })),
      );
      next = { phase: to, ready: blockers.length === 0, blockers };
    }
    out.push({
      scope: s.scope,
      phase: s.phase,
      workloads,
      onSpire,
      next,
      level: s.level,
      parent: s.parent,
      version: s.version,
      onMesh,
      onOther: workloads - onSpire - onMesh,
      updatedAt: s.updatedAt,
      updatedBy: s.updatedBy,
    });
  }
  return { evaluatedAt: now.toISOString(), scopes: out };
}

interface WorkloadAggRow {
  mesh: string;
  cluster: string;
  namespace: string;
  n: number | string;
  spire: number | string;
  mesh_n: number | string;
  unmapped_n: number | string;
  unmapped_a: string | null;
  unmapped_b: string | null;
  noentry_n: number | string;
  noentry_a: string | null;
  noentry_b: string | null;
  offspire_a: string | null;
  offspire_b: string | null;
}

interface CertAggRow {
  mesh: string;
  cluster: string;
  namespace: string;
  long_n: number | string;
  long_a: string | null;
  long_b: string | null;
  live_n: number | string;
  live_a: string | null;
  live_b: string | null;
}

function put(m: NsMap, k: string, count: number, a: string | null, b: string | null): void {
  if (count <= 0) return;
  m.set(k, { count, examples: [...new Set([a, b].filter((x): x is string => x !== null))] });
}

/** An edge end inside a namespace, and where its other end is (null: unknown). */
interface EdgePair {
  label: string;
  peerNs: string | null;
}

/** Every edge resolved once, filed under the namespace of each end it names. */
function pairsByNamespace(
  edges: readonly StoredEdge[],
  everyone: Map<string, ScopeWorkload[]>,
): Map<string, EdgePair[]> {
  const out = new Map<string, EdgePair[]>();
  const add = (ns: string, p: EdgePair) => {
    const list = out.get(ns);
    if (list === undefined) out.set(ns, [p]);
    else list.push(p);
  };
  for (const e of edges) {
    const label = `${e.source} -> ${e.destination}`;
    for (const [key, other] of [
      [e.sourceKey, e.destinationKey],
      [e.destinationKey, e.sourceKey],
    ] as const) {
      for (const w of everyone.get(key) ?? []) {
        const peers = candidatesFor(everyone, other, w);
        if (peers.length === 0) add(scopeOfWorkload(w), { label, peerNs: null });
        for (const p of peers) add(scopeOfWorkload(w), { label, peerNs: scopeOfWorkload(p) });
      }
    }
  }
  return out;
}

interface Agg {
  scopes: Scopes;
  s: ScopeRow;
  to: Phase;
  /** The namespaces inside the scope, sorted. */
  namespaces: string[];
  perNs: Map<string, { n: number; spire: number; mesh: number }>;
  run: { id: string; seq: number } | undefined;
  dump: { id: string; seq: number } | undefined;
  unmapped: NsMap;
  noEntry: NsMap;
  notOnSpire: NsMap;
  outliving: NsMap;
  unexpired: NsMap;
  spireRoots: number;
  edgePairs: Map<string, EdgePair[]> | null;
  evaluation: Evaluated | undefined;
  overlapSeconds: number;
}

function perNamespace(ctx: Agg, m: NsMap, make: (ns: string, a: NsAgg) => Blocker): Blocker[] {
  const out: Blocker[] = [];
  for (const k of ctx.namespaces) {
    const a = m.get(k);
    if (a !== undefined) out.push(make(k, a));
  }
  return out;
}

function eg(a: NsAgg): string {
  return `e.g. ${a.examples.join(', ')}${a.count > a.examples.length ? ', …' : ''}`;
}

function cached(ctx: Agg, id: CheckId): Blocker[] {
  const e = ctx.evaluation;
  const check = e !== undefined && e.from === ctx.s.phase ? e.checks.find((c) => c.id === id) : undefined;
  if (check === undefined) {
    return [
      {
        code: 'CHECK_NOT_EVALUATED',
        message: `"${CHECKS[id].title}" verifies certificates and was not judged on the current inputs: run \`meshbridge cutover plan ${ctx.s.scope}\``,
        scope: ctx.s.scope,
      },
    ];
  }
  return check.passed ? [] : check.blockers;
}

function mappingMissing(ctx: Agg): Blocker[] {
  return ctx.run === undefined
    ? [
        {
          code: 'MAPPING_MISSING',
          message: 'no accepted mapping run is stored: run `meshbridge map` with your rules',
        },
      ]
    : perNamespace(ctx, ctx.unmapped, (ns, a) => ({
        code: 'WORKLOAD_UNMAPPED',
        message: `${a.count} workload(s) of ${ns} are not in mapping run ${Number(ctx.run!.seq)} (${eg(a)})`,
        scope: ns,
        count: a.count,
        examples: a.examples,
      }));
}

const AGG: Record<CheckId, (ctx: Agg) => Blocker[]> = {
  'scope-nesting': (ctx) => nestingBlockers(ctx.scopes, ctx.s, ctx.to),
  mapping: mappingMissing,
  'bundle-dry-run': (ctx) => cached(ctx, 'bundle-dry-run'),
  'spire-roots': (ctx) =>
    ctx.spireRoots === 0
      ? [
          {
            code: 'SPIRE_ROOTS_UNKNOWN',
            message: "no SPIRE root is stored: sync SPIRE's trust bundle first (`meshbridge spire sync`)",
          },
        ]
      : [],
  'workloads-and-peers-in-dual-trust': (ctx) => [...behind(ctx.scopes, ctx.s, 'dual-trust'), ...peers(ctx)],
  'spire-entries': (ctx) => {
    if (ctx.dump === undefined) {
      return [
        {
          code: 'SPIRE_ENTRIES_UNKNOWN',
          message:
            'no SPIRE entry dump is stored: run `spire-server entry show -output json` and `meshbridge spire sync --entries`',
        },
        ...(ctx.run === undefined ? mappingMissing(ctx) : []),
      ];
    }
    return [
      ...mappingMissing(ctx),
      ...perNamespace(ctx, ctx.noEntry, (ns, a) => ({
        code: 'SPIRE_ENTRY_MISSING',
        message: `${a.count} mapped ID(s) of ${ns} have no entry in SPIRE entry dump ${Number(ctx.dump!.seq)} (${eg(a)})`,
        scope: ns,
        count: a.count,
        examples: a.examples,
      })),
    ];
  },
  'workloads-in-dual-issue': (ctx) => behind(ctx.scopes, ctx.s, 'dual-issue'),
  'workloads-on-spire': (ctx) =>
    perNamespace(ctx, ctx.notOnSpire, (ns, a) => {
      const c = ctx.perNs.get(ns);
      const onMesh = c?.mesh ?? 0;
      return {
        code: onMesh > 0 ? 'WORKLOAD_ON_MESH_CERT' : 'WORKLOAD_NOT_ON_SPIRE',
        message: `${a.count} workload(s) of ${ns} were last seen on ${onMesh > 0 ? 'mesh-issued' : 'non-SPIRE'} certificates (${eg(a)})`,
        scope: ns,
        count: a.count,
        examples: a.examples,
      };
    }),
  'edge-simulation': (ctx) => cached(ctx, 'edge-simulation'),
  'mesh-certs-within-overlap': (ctx) =>
    perNamespace(ctx, ctx.outliving, (ns, a) => ({
      code: 'MESH_CERT_OUTLIVES_OVERLAP',
      message: `${a.count} mesh-issued certificate(s) in ${ns} stay valid beyond the ${Math.round(ctx.overlapSeconds / 3600)}h overlap window (${eg(a)})`,
      scope: ns,
      count: a.count,
      examples: a.examples,
    })),
  'all-scopes-spiffe-only': (ctx) =>
    [...ctx.scopes.values()]
      .filter((x) => x.scope !== ctx.s.scope && within(x.scope, ctx.s.scope) && x.phase !== 'spiffe-only')
      .map((x) => ({
        code: 'SCOPE_NOT_SPIFFE_ONLY' as const,
        message: `${x.scope} is in ${x.phase}, not spiffe-only`,
        scope: x.scope,
        phase: x.phase,
      })),
  'no-mesh-certs-left': (ctx) =>
    perNamespace(ctx, ctx.unexpired, (ns, a) => ({
      code: 'MESH_CERT_UNEXPIRED',
      message: `${a.count} mesh-issued certificate(s) in ${ns} have not expired (${eg(a)})`,
      scope: ns,
      count: a.count,
      examples: a.examples,
    })),
};

function peers(ctx: Agg): Blocker[] {
  const out: Blocker[] = [];
  if (ctx.edgePairs === null) {
    for (const [ns, c] of ctx.perNs) {
      if (!ns.startsWith(`${ctx.s.mesh}/`) || within(ns, ctx.s.scope)) continue;
      const [mesh, cluster, namespace] = ns.split('/') as [string, string, string];
      const phase = namespacePhase(ctx.scopes, mesh, cluster, namespace);
      if (phaseIndex(phase) >= phaseIndex('dual-trust')) continue;
      out.push({
        code: 'PEER_NOT_IN_DUAL_TRUST',
        message: `${ns} (${c.n} workload(s)) is in ${phase}; without an edge list every workload of ${ctx.s.mesh} counts as a peer: advance it to dual-trust or give --edges`,
        scope: ns,
        phase,
        count: c.n,
      });
    }
    return out;
  }
  const unknown = new Set<string>();
  const behindPeers = new Map<string, { phase: Phase; edges: Set<string> }>();
  for (const ns of ctx.namespaces) {
    for (const p of ctx.edgePairs.get(ns) ?? []) {
      if (p.peerNs === null) {
        unknown.add(p.label);
        continue;
      }
      if (within(p.peerNs, ctx.s.scope)) continue;
      const [mesh, cluster, namespace] = p.peerNs.split('/') as [string, string, string];
      const phase = namespacePhase(ctx.scopes, mesh, cluster, namespace);
      if (phaseIndex(phase) >= phaseIndex('dual-trust')) continue;
      let b = behindPeers.get(p.peerNs);
      if (b === undefined) {
        b = { phase, edges: new Set() };
        behindPeers.set(p.peerNs, b);
      }
      b.edges.add(p.label);
    }
  }
  for (const [ns, b] of [...behindPeers].sort(([a], [c]) => (a < c ? -1 : 1))) {
    const list = [...b.edges].sort();
    out.push({
      code: 'PEER_NOT_IN_DUAL_TRUST',
      message: `${list.length} edge(s) lead to ${ns}, which is in ${b.phase} (e.g. ${list.slice(0, EXAMPLES).join(', ')})`,
      scope: ns,
      phase: b.phase,
      count: list.length,
      examples: list.slice(0, EXAMPLES),
    });
  }
  const u = [...unknown].sort();
  if (u.length > 0) {
    out.push({
      code: 'PEER_UNKNOWN',
      message: `${u.length} edge(s) name a workload the inventory does not know (e.g. ${u.slice(0, EXAMPLES).join(', ')})`,
      count: u.length,
      examples: u.slice(0, EXAMPLES),
    });
  }
  return out;
}

// ---------------------------------------------------------------- for the dashboard and /metrics

/** One Prometheus gauge sample. */
export interface GaugeSample {
  name: string;
  help: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Workloads per phase and issuer, counted on namespace scopes (each workload once):
 * `meshbridge_cutover_workloads{mesh, phase, issuer}`; and per scope:
 * `meshbridge_cutover_scope_workloads{scope, level, phase, issuer}`,
 * `meshbridge_cutover_scope_phase{scope, level}` (phase index 0..4) and
 * `meshbridge_cutover_gate_ready{scope, next}` (1 ready, 0 blocked).
 */
export function cutoverGauges(report: StatusReport): GaugeSample[] {
  const out: GaugeSample[] = [];
  const totals = new Map<string, number>();
  for (const s of report.scopes) {
    if (s.level !== 'namespace') continue;
    const mesh = s.scope.split('/')[0]!;
    for (const [issuer, n] of [
      ['spire', s.onSpire],
      ['mesh', s.onMesh],
      ['other', s.onOther],
    ] as const) {
      const k = `${mesh}\u0000${s.phase}\u0000${issuer}`;
      totals.set(k, (totals.get(k) ?? 0) + n);
    }
  }
  for (const [k, v] of [...totals].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const [mesh, phase, issuer] = k.split('\u0000') as [string, string, string];
    out.push({
      name: 'meshbridge_cutover_workloads',
      help: 'Workloads per mesh, phase of their namespace, and issuer of their latest observed certificate',
      labels: { mesh, phase, issuer },
      value: v,
    });
  }
  for (const s of report.scopes) {
    for (const [issuer, n] of [
      ['spire', s.onSpire],
      ['mesh', s.onMesh],
      ['other', s.onOther],
    ] as const) {
      out.push({
        name: 'meshbridge_cutover_scope_workloads',
        help: 'Workloads of a scope by the issuer of their latest observed certificate',
        labels: { scope: s.scope, level: s.level, phase: s.phase, issuer },
        value: n,
      });
    }
    out.push({
      name: 'meshbridge_cutover_scope_phase',
      help: 'Phase of a scope: 0 inventoried, 1 dual-trust, 2 dual-issue, 3 spiffe-only, 4 retired',
      labels: { scope: s.scope, level: s.level },
      value: phaseIndex(s.phase),
    });
    if (s.next !== null) {
      out.push({
        name: 'meshbridge_cutover_gate_ready',
        help: 'Whether the gate into the next phase of a scope passes (1) or is blocked (0)',
        labels: { scope: s.scope, next: s.next.phase },
        value: s.next.ready ? 1 : 0,
      });
    }
  }
  return out;
}

/** The share of workloads on SPIRE (0..1) of a scope; 0 for an empty scope. */
export function spireShare(s: Pick<ScopeStatus, 'workloads' | 'onSpire'>): number {
  return s.workloads === 0 ? 0 : s.onSpire / s.workloads;
}

/** The JSON contract of `cutover status --json` (extra fields after the contract's). */
export function statusJson(report: StatusReport): { scopes: Record<string, unknown>[] } {
  return {
    scopes: report.scopes.map((s) => ({
      scope: s.scope,
      phase: s.phase,
      workloads: s.workloads,
      onSpire: s.onSpire,
      next: s.next,
      level: s.level,
      version: s.version,
      onMesh: s.onMesh,
      onOther: s.onOther,
    })),
  };
}
