/**
 * What the gates read: the scopes and their phases, the workloads of a scope with the
 * chain each presents now, the composition of mesh and SPIRE roots, the edge list in
 * force, and a summary of the inputs (so a stored evaluation can tell whether it is
 * still current).
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import {
  type Composition,
  composeTrust,
  DEFAULT_OVERLAP_SECONDS,
  type RootInput,
} from '../dual-trust/compose.js';
import type { EdgeList } from '../dual-trust/edges.js';
import { DualTrustError } from '../dual-trust/errors.js';
import { workloadKeyOf } from '../dual-trust/peer.js';
import { meshRootsFromInventory, rootsFromStored } from '../dual-trust/sources.js';
import type { Clock } from '../spiffe/errors.js';
import { type Certificate, parseCertificate } from '../spiffe/x509/certificate.js';
import type { Store } from '../store/index.js';
import { type Db, dbOf, type Trx, transact } from './schema.js';
import { isPhase, type Phase, type ScopeLevel, within } from './scope.js';

export interface ScopeRow {
  scope: string;
  parent: string | null;
  level: ScopeLevel;
  mesh: string;
  cluster: string | null;
  namespace: string | null;
  phase: Phase;
  version: number;
  updatedAt: string;
  updatedBy: string | null;
}

export type Scopes = Map<string, ScopeRow>;

export async function loadScopes(db: Db | Trx): Promise<Scopes> {
  const rows = await db.selectFrom('cutover_scopes').selectAll().orderBy('scope').execute();
  return new Map(
    rows.map((r) => [
      r.scope,
      {
        scope: r.scope,
        parent: r.parent,
        level: r.level,
        mesh: r.mesh,
        cluster: r.cluster,
        namespace: r.namespace,
        phase: isPhase(r.phase) ? r.phase : 'inventoried',
        version: Number(r.version),
        updatedAt: r.updated_at,
        updatedBy: r.updated_by,
      },
    ]),
  );
}

export function childrenOf(scopes: Scopes, name: string): ScopeRow[] {
  return [...scopes.values()].filter((s) => s.parent === name);
}

/** Every scope strictly inside `name`. */
export function descendantsOf(scopes: Scopes, name: string): ScopeRow[] {
  return [...scopes.values()].filter((s) => s.scope !== name && within(s.scope, name));
}

/** The phase of the namespace a workload belongs to (its own phase). */
export function namespacePhase(scopes: Scopes, mesh: string, cluster: string, namespace: string): Phase {
  return scopes.get(`${mesh}/${cluster}/${namespace}`)?.phase ?? 'inventoried';
}

// ---------------------------------------------------------------- workloads and chains

export interface ScopeWorkload {
  workload: string;
  mesh: string;
  cluster: string;
  namespace: string;
  name: string;
  wkey: string;
  meshIdentity: string | null;
  lastAt: string;
  lastSource: string;
  lastFingerprint: string | null;
  lastSpiffeId: string | null;
  lastIssuerFingerprint: string | null;
  lastIssuerKind: string;
}

export async function loadWorkloads(
  db: Db | Trx,
  s: { mesh: string; cluster: string | null; namespace: string | null },
): Promise<ScopeWorkload[]> {
  let q = db.selectFrom('cutover_workloads').selectAll().where('mesh', '=', s.mesh);
  if (s.cluster !== null) q = q.where('cluster', '=', s.cluster);
  if (s.namespace !== null) q = q.where('namespace', '=', s.namespace);
  const rows = await q.orderBy('workload').execute();
  return rows.map(workloadOfRow);
}

/**
 * The chain each workload presents now: the certificate of its latest sighting when the
 * inventory holds it, else its newest inventoried certificate from the same kind of
 * issuer; plus the intermediates the inventory links it to (anchors left out). Workloads
 * without such a certificate (seen only by the broker) have no chain.
 */
export async function loadChains(
  db: Db | Trx,
  workloads: readonly ScopeWorkload[],
): Promise<Map<string, Certificate[]>> {
  const out = new Map<string, Certificate[]>();
  if (workloads.length === 0) return out;
  const byWorkload = new Map(workloads.map((w) => [w.workload, w]));
  const chosen = new Map<string, string>();
  const names = workloads.map((w) => w.workload);
  const certs: { fingerprint: string; workload: string; issuer_kind: string; not_before: string }[] = [];
  for (let i = 0; i < names.length; i += 1000) {
    certs.push(
      ...(await db
        .selectFrom('cutover_certificates')
        .select(['fingerprint', 'workload', 'issuer_kind', 'not_before'])
        .where('workload', 'in', names.slice(i, i + 1000))
        .execute()),
    );
  }
  certs.sort((a, b) =>
    a.not_before !== b.not_before
      ? a.not_before < b.not_before
        ? 1
        : -1
      : a.fingerprint < b.fingerprint
        ? -1
        : 1,
  );
  const candidates = new Map<string, { fingerprint: string; kind: string }[]>();
  for (const c of certs) {
    if (!byWorkload.has(c.workload)) continue;
    const list = candidates.get(c.workload);
    if (list === undefined) candidates.set(c.workload, [{ fingerprint: c.fingerprint, kind: c.issuer_kind }]);
    else list.push({ fingerprint: c.fingerprint, kind: c.issuer_kind });
  }
  for (const w of workloads) {
    const list = candidates.get(w.workload) ?? [];
    const pick =
      list.find((c) => c.fingerprint === w.lastFingerprint) ??
      list.find((c) => c.kind === w.lastIssuerKind) ??
      (w.lastSource.startsWith('import:') ? list[0] : undefined);
    if (pick !== undefined) chosen.set(w.workload, pick.fingerprint);
  }
  const cas = await db
    .selectFrom('certificates')
    .select(['fingerprint', 'role', 'issuer_fingerprint', 'der'])
    .where('role', 'in', ['anchor', 'intermediate'])
    .execute();
  const caByFp = new Map(cas.map((c) => [c.fingerprint, c]));
  const parsedCas = new Map<string, Certificate>();
  const caCert = (fp: string): Certificate => {
    let c = parsedCas.get(fp);
    if (c === undefined) {
      c = parseCertificate(Buffer.from(caByFp.get(fp)!.der, 'base64'));
      parsedCas.set(fp, c);
    }
    return c;
  };
  const fps = [...new Set(chosen.values())];
  const leaves = new Map<string, { der: string; issuer: string | null }>();
  for (let i = 0; i < fps.length; i += 1000) {
    const rows = await db
      .selectFrom('certificates')
      .select(['fingerprint', 'der', 'issuer_fingerprint'])
      .where('fingerprint', 'in', fps.slice(i, i + 1000))
      .execute();
    for (const r of rows) leaves.set(r.fingerprint, { der: r.der, issuer: r.issuer_fingerprint });
  }
  const parsedLeaves = new Map<string, Certificate[]>();
  for (const [workload, fp] of chosen) {
    let chain = parsedLeaves.get(fp);
    if (chain === undefined) {
      const leaf = leaves.get(fp);
      if (leaf === undefined) continue;
      chain = [parseCertificate(Buffer.from(leaf.der, 'base64'))];
      let next = leaf.issuer;
      const seen = new Set<string>([fp]);
      while (next !== null && !seen.has(next)) {
        seen.add(next);
        const ca = caByFp.get(next);
        if (ca === undefined || ca.role === 'anchor') break;
        chain.push(caCert(next));
        next = ca.issuer_fingerprint;
      }
      parsedLeaves.set(fp, chain);
    }
    out.set(workload, chain);
  }
  return out;
}

// ---------------------------------------------------------------- composition

export interface MeshComposition {
  composition: Composition | null;
  /** Why the roots could not be composed (expired or expiring roots), with the roots named. */
  refused: DualTrustError | null;
  meshRoots: { fingerprint: string; trustDomain: string; subject: string; notAfter: string }[];
  spireRoots: { fingerprint: string; trustDomain: string; subject: string | null; notAfter: string | null }[];
}

/**
 * Every root the mesh's workloads may be told to trust: its inventoried anchors (minus
 * SPIRE roots that were imported along with SPIRE-issued certificates) and the stored
 * SPIRE and federated roots, composed by the dual-trust room.
 */
export async function composeMesh(
  db: Db | Trx,
  mesh: string,
  opts: { clock?: Clock; overlapSeconds?: number } = {},
): Promise<MeshComposition> {
  const stored = await db
    .selectFrom('trust_roots')
    .selectAll()
    .where('removed_at', 'is', null)
    .orderBy('trust_domain')
    .orderBy('key_id')
    .execute();
  const storedRows = stored.map((r) => ({
    origin: r.origin,
    trustDomain: r.trust_domain,
    kind: r.kind,
    keyId: r.key_id,
    material: r.material,
    source: r.source,
    entersPhase: r.enters_phase,
    leavesPhase: r.leaves_phase,
  }));
  const fromStore = rootsFromStored(storedRows);
  const spireFps = new Set(fromStore.roots.map((r) => r.cert.fingerprint));

  const meshCol = mesh === 'unknown' ? null : mesh;
  const anchorRows = await db
    .selectFrom('certificates')
    .select([
      'fingerprint',
      'mesh',
      'cluster',
      'namespace',
      'spiffe_id',
      'mesh_identity',
      'anchor_fingerprint',
      'der',
    ])
    .where('role', '=', 'anchor')
    .where((eb) => (meshCol === null ? eb('mesh', 'is', null) : eb('mesh', '=', meshCol)))
    .execute();
  const anchors = anchorRows
    .filter((a) => !spireFps.has(a.fingerprint))
    .map((a) => ({
      fingerprint: a.fingerprint,
      mesh: a.mesh,
      cluster: a.cluster,
      namespace: a.namespace,
      spiffeId: a.spiffe_id,
      meshIdentity: a.mesh_identity,
      anchorFingerprint: a.anchor_fingerprint,
      der: a.der,
      sources: [`inventory:${a.fingerprint}`],
    }));
  // One workload per anchor is enough to tell the anchor's trust domain.
  const sample = await db
    .selectFrom('certificates')
    .select((eb) => [
      'anchor_fingerprint',
      eb.fn.min<string>('mesh_identity').as('mesh_identity'),
      eb.fn.min<string>('spiffe_id').as('spiffe_id'),
    ])
    .where('role', '=', 'workload')
    .where((eb) => (meshCol === null ? eb('mesh', 'is', null) : eb('mesh', '=', meshCol)))
    .where('anchor_fingerprint', 'is not', null)
    .groupBy('anchor_fingerprint')
    .execute();
  const workloads = sample.map((w) => ({
    fingerprint: '',
    mesh: meshCol,
    cluster: null,
    spiffeId: w.spiffe_id,
    meshIdentity: w.mesh_identity,
    anchorFingerprint: w.anchor_fingerprint,
    der: null,
    sources: [],
  }));
  const meshRoots: RootInput[] = meshRootsFromInventory(
    anchors,
    workloads.filter((w) => w.anchorFingerprint !== null && !spireFps.has(w.anchorFingerprint)),
  ).roots;
  const out: MeshComposition = {
    composition: null,
    refused: null,
    meshRoots: meshRoots.map((r) => ({
      fingerprint: r.cert.fingerprint,
      trustDomain: r.trustDomain,
      subject: r.cert.subject,
      notAfter: r.cert.notAfter.toISOString(),
    })),
    spireRoots: stored
      .filter((r) => r.origin === 'spire' && r.kind === 'x509-svid')
      .map((r) => ({
        fingerprint: r.key_id,
        trustDomain: r.trust_domain,
        subject: r.subject,
        notAfter: r.not_after,
      })),
  };
  try {
    out.composition = composeTrust([...meshRoots, ...fromStore.roots], fromStore.jwtKeys, {
      ...(opts.clock ? { clock: opts.clock } : {}),
      overlapSeconds: opts.overlapSeconds ?? DEFAULT_OVERLAP_SECONDS,
    });
  } catch (err) {
    if (!(err instanceof DualTrustError)) throw err;
    out.refused = err;
  }
  return out;
}

// ---------------------------------------------------------------- edges

export interface StoredEdge {
  source: string;
  destination: string;
  sourceKey: string;
  destinationKey: string;
}

/** Replaces the edge list in force, in one transaction. */
export async function storeEdges(
  store: Store,
  list: EdgeList,
  name: string,
  opts: { clock?: Clock } = {},
): Promise<number> {
  const now = (opts.clock ?? (() => new Date()))().toISOString();
  return transact(store, async (trx) => {
    await trx
      .updateTable('cutover_state')
      .set((eb) => ({ serial: eb('serial', '+', 1), value: name }))
      .where('name', '=', 'edges')
      .execute();
    await trx.deleteFrom('cutover_edges').execute();
    const rows = list.edges.map((e) => ({
      id: randomUUID(),
      source: e.source,
      destination: e.destination,
      source_key: workloadKeyOf(e.source),
      destination_key: workloadKeyOf(e.destination),
      list: name,
      added_at: now,
    }));
    for (let i = 0; i < rows.length; i += 2000)
      await trx
        .insertInto('cutover_edges')
        .values(rows.slice(i, i + 2000))
        .execute();
    return rows.length;
  });
}

export async function loadEdges(db: Db | Trx): Promise<StoredEdge[] | null> {
  const state = await db
    .selectFrom('cutover_state')
    .select(['serial'])
    .where('name', '=', 'edges')
    .executeTakeFirst();
  if (state === undefined || Number(state.serial) === 0) return null;
  const rows = await db
    .selectFrom('cutover_edges')
    .selectAll()
    .orderBy('source')
    .orderBy('destination')
    .execute();
  return rows.map((r) => ({
    source: r.source,
    destination: r.destination,
    sourceKey: r.source_key,
    destinationKey: r.destination_key,
  }));
}

export function byKey(workloads: readonly ScopeWorkload[]): Map<string, ScopeWorkload[]> {
  const out = new Map<string, ScopeWorkload[]>();
  for (const w of workloads) {
    const list = out.get(w.wkey);
    if (list === undefined) out.set(w.wkey, [w]);
    else list.push(w);
  }
  return out;
}

function workloadOfRow(r: {
  workload: string;
  mesh: string;
  cluster: string;
  namespace: string;
  name: string;
  wkey: string;
  mesh_identity: string | null;
  last_at: string;
  last_source: string;
  last_fingerprint: string | null;
  last_spiffe_id: string | null;
  last_issuer_fingerprint: string | null;
  last_issuer_kind: string;
}): ScopeWorkload {
  return {
    workload: r.workload,
    mesh: r.mesh,
    cluster: r.cluster,
    namespace: r.namespace,
    name: r.name,
    wkey: r.wkey,
    meshIdentity: r.mesh_identity,
    lastAt: r.last_at,
    lastSource: r.last_source,
    lastFingerprint: r.last_fingerprint,
    lastSpiffeId: r.last_spiffe_id,
    lastIssuerFingerprint: r.last_issuer_fingerprint,
    lastIssuerKind: r.last_issuer_kind,
  };
}

/** Every workload an edge end of `edges` names, by key. */
export async function workloadsByKey(
  db: Db | Trx,
  edges: readonly StoredEdge[],
): Promise<Map<string, ScopeWorkload[]>> {
  const keys = [...new Set(edges.flatMap((e) => [e.sourceKey, e.destinationKey]))];
  const rows: ScopeWorkload[] = [];
  for (let i = 0; i < keys.length; i += 1000) {
    const part = await db
      .selectFrom('cutover_workloads')
      .selectAll()
      .where('wkey', 'in', keys.slice(i, i + 1000))
      .execute();
    rows.push(...part.map(workloadOfRow));
  }
  return byKey(rows);
}

/** The workloads an edge end names, preferring those in the cluster of `near`, then its mesh. */
export function candidatesFor(
  everyone: Map<string, ScopeWorkload[]>,
  key: string,
  near: ScopeWorkload,
): ScopeWorkload[] {
  const all = everyone.get(key) ?? [];
  const sameCluster = all.filter((w) => w.mesh === near.mesh && w.cluster === near.cluster);
  if (sameCluster.length > 0) return sameCluster;
  const sameMesh = all.filter((w) => w.mesh === near.mesh);
  return sameMesh.length > 0 ? sameMesh : all;
}

export interface ScopeEdge {
  edge: StoredEdge;
  /** The end inside the scope. */
  inside: ScopeWorkload;
  /** The other end's workloads (empty: the inventory knows none). */
  peers: ScopeWorkload[];
  insideIsSource: boolean;
}

export function scopeOfWorkload(w: { mesh: string; cluster: string; namespace: string }): string {
  return `${w.mesh}/${w.cluster}/${w.namespace}`;
}

/**
 * The edges with an end in `scope`, each end resolved to workloads by key (an edge names
 * identities, not clusters: the other end is looked for in the same cluster first, then
 * the same mesh, then anywhere). An edge between two workloads of the scope is listed
 * once, from its source.
 */
export function resolveScopeEdges(
  edges: readonly StoredEdge[],
  scope: string,
  mine: Map<string, ScopeWorkload[]>,
  everyone: Map<string, ScopeWorkload[]>,
): ScopeEdge[] {
  const out: ScopeEdge[] = [];
  const inside = (w: ScopeWorkload) => within(scopeOfWorkload(w), scope);
  for (const e of edges) {
    if (!mine.has(e.sourceKey) && !mine.has(e.destinationKey)) continue;
    for (const [insideKey, otherKey, insideIsSource] of [
      [e.sourceKey, e.destinationKey, true],
      [e.destinationKey, e.sourceKey, false],
    ] as const) {
      for (const w of mine.get(insideKey) ?? []) {
        const peers = candidatesFor(everyone, otherKey, w);
        if (!insideIsSource && mine.has(otherKey) && peers.some(inside)) continue;
        out.push({ edge: e, inside: w, peers, insideIsSource });
      }
    }
  }
  return out;
}

export function edgesOf(list: EdgeList): StoredEdge[] {
  return list.edges.map((e) => ({
    source: e.source,
    destination: e.destination,
    sourceKey: workloadKeyOf(e.source),
    destinationKey: workloadKeyOf(e.destination),
  }));
}

// ---------------------------------------------------------------- inputs

/** What an evaluation read, summarised; equal inputs mean a stored evaluation still holds. */
export interface GateInputs {
  /** The latest import (id) and how many there are. */
  inventory: string;
  /** SPIRE/federated roots: count and last change. */
  roots: string;
  /** Grows with every ingest and sighting. */
  observations: number;
  /** Grows with every new edge list; 0: none given. */
  edges: number;
  /** Grows with every transition. */
  transitions: number;
  mappingRun: number | null;
  entryDump: number | null;
  overlapSeconds: number;
}

export async function gateInputs(db: Db | Trx, overlapSeconds: number): Promise<GateInputs> {
  const [imp, roots, state, run, dump] = await Promise.all([
    db
      .selectFrom('imports')
      .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.max<string | null>('finished_at').as('last')])
      .executeTakeFirstOrThrow(),
    db
      .selectFrom('trust_roots')
      .select((eb) => [
        eb.fn.countAll<number>().as('n'),
        eb.fn.max<string | null>('last_seen').as('seen'),
        eb.fn.max<string | null>('removed_at').as('removed'),
      ])
      .executeTakeFirstOrThrow(),
    db.selectFrom('cutover_state').select(['name', 'serial']).execute(),
    db
      .selectFrom('mapping_runs')
      .select((eb) => eb.fn.max<number | null>('seq').as('seq'))
      .executeTakeFirst(),
    db
      .selectFrom('spire_entry_dumps')
      .select((eb) => eb.fn.max<number | null>('seq').as('seq'))
      .executeTakeFirst(),
  ]);
  const serial = (name: string) => Number(state.find((s) => s.name === name)?.serial ?? 0);
  return {
    inventory: `${Number(imp.n)}@${imp.last ?? ''}`,
    roots: `${Number(roots.n)}@${roots.seen ?? ''}/${roots.removed ?? ''}`,
    observations: serial('observations'),
    edges: serial('edges'),
    transitions: serial('transitions'),
    mappingRun: run?.seq == null ? null : Number(run.seq),
    entryDump: dump?.seq == null ? null : Number(dump.seq),
    overlapSeconds,
  };
}

export { dbOf, sql };
