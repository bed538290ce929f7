/**
 * Observations: which issuer (a mesh anchor or a SPIRE root) a workload's certificate
 * chained to, and when it was seen. Progress is derived from them, never typed in.
 *
 * - `recordObservationsFromInventory` turns every import not yet seen into observations
 *   (one per workload certificate the import saw, at the import's time). Every cutover
 *   command calls it first, so an import is counted whether or not the import command
 *   calls it itself.
 * - `recordObservation` / `recordObservations` take sightings from elsewhere (the broker:
 *   each authentication names the SPIFFE ID and the issuer that vouched for it).
 *
 * A workload is (mesh, cluster, namespace, service account); a SPIRE-issued certificate
 * is attributed to the workload whose mesh identity the stored mapping maps to its SPIFFE
 * ID, else to the namespace and service account the ID names. Its latest sighting (latest
 * time, then latest notBefore) is kept in `cutover_workloads`, so progress per scope is
 * one GROUP BY.
 */
import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import { sql } from 'kysely';
import { workloadKeyOf } from '../dual-trust/peer.js';
import type { Clock } from '../spiffe/errors.js';
import { batches, isStoreError, type Store } from '../store/index.js';
import {
  type CutoverObservationsTable,
  type CutoverWorkloadsTable,
  type Db,
  dbOf,
  type Trx,
  transact,
} from './schema.js';
import { chainOf, DEFAULT_CLUSTER, type ScopeName, UNKNOWN } from './scope.js';

export type IssuerKind = 'mesh' | 'spire' | 'federated' | 'unknown';
export const ISSUER_KINDS: readonly IssuerKind[] = ['mesh', 'spire', 'federated', 'unknown'];

/** A workload named by its parts; `cluster`/`namespace` null take the defaults. */
export interface WorkloadRef {
  mesh: string;
  cluster: string | null;
  namespace: string | null;
  /** The service account (or the identity, when there is none). */
  name: string;
}

export interface ObservationInput {
  /** `mesh/cluster/namespace/name`, or its parts. Default: found from `spiffeId` / `identity`. */
  workload?: string | WorkloadRef | null;
  spiffeId?: string | null;
  /** A mesh identity (Linkerd DNS identity), when there is no SPIFFE ID. */
  identity?: string | null;
  /** The leaf's SHA-256 fingerprint, when known. */
  fingerprint?: string | null;
  /** The root (or issuer) the certificate chained to. */
  issuerFingerprint: string | null;
  /** `mesh`, `spire` or `federated` as the caller judged it; default: from `issuerFingerprint`. */
  issuerKind?: string | null;
  at: Date | string;
  /** Who saw it: `broker`, `broker:<instance>`, ... */
  source: string;
  notBefore?: string | null;
  notAfter?: string | null;
}

export interface RecordedObservation {
  id: string;
  workload: string | null;
  issuerKind: IssuerKind;
}

export interface IngestResult {
  imports: number;
  observations: number;
  workloads: number;
  /** Certificates whose issuer kind changed because SPIRE roots became known. */
  reclassified: number;
}

export interface ObservationOptions {
  clock?: Clock;
}

// ---------------------------------------------------------------- classification

interface CaRow {
  fingerprint: string;
  issuerFingerprint: string | null;
  anchorFingerprint: string | null;
  der: string;
}

interface Classifier {
  spire: Map<string, X509Certificate>;
  federated: Set<string>;
  cas: Map<string, CaRow>;
  parsed: Map<string, X509Certificate>;
  /** Digest of the SPIRE and federated root sets. */
  digest: string;
}

function sha256(b64: string): string {
  return createHash('sha256').update(Buffer.from(b64, 'base64')).digest('hex');
}

async function loadClassifier(db: Db | Trx): Promise<Classifier> {
  const roots = await db
    .selectFrom('trust_roots')
    .select(['origin', 'material'])
    .where('kind', '=', 'x509-svid')
    .execute();
  const spire = new Map<string, X509Certificate>();
  const federated = new Set<string>();
  for (const r of roots) {
    const fp = sha256(r.material);
    if (r.origin === 'spire') {
      try {
        spire.set(fp, new X509Certificate(Buffer.from(r.material, 'base64')));
      } catch {
        // an unparsable stored root still classifies by fingerprint
        spire.set(fp, undefined as unknown as X509Certificate);
      }
    } else federated.add(fp);
  }
  const cas = new Map<string, CaRow>();
  const rows = await db
    .selectFrom('certificates')
    .select(['fingerprint', 'issuer_fingerprint', 'anchor_fingerprint', 'der'])
    .where('role', 'in', ['anchor', 'intermediate'])
    .execute();
  for (const r of rows) {
    cas.set(r.fingerprint, {
      fingerprint: r.fingerprint,
      issuerFingerprint: r.issuer_fingerprint,
      anchorFingerprint: r.anchor_fingerprint,
      der: r.der,
    });
  }
  const digest = createHash('sha256')
    .update([...spire.keys()].sort().join(','))
    .update('|')
    .update([...federated].sort().join(','))
    .digest('hex');
  return { spire, federated, cas, parsed: new Map(), digest };
}

function kindOfRoot(c: Classifier, fp: string): IssuerKind | null {
  if (c.spire.has(fp)) return 'spire';
  if (c.federated.has(fp)) return 'federated';
  return null;
}

function parsedCa(c: Classifier, fp: string): X509Certificate | null {
  let x = c.parsed.get(fp);
  if (x === undefined) {
    const row = c.cas.get(fp);
    if (row === undefined) return null;
    try {
      x = new X509Certificate(Buffer.from(row.der, 'base64'));
    } catch {
      return null;
    }
    c.parsed.set(fp, x);
  }
  return x;
}

function signedBy(child: X509Certificate, issuer: X509Certificate | undefined): boolean {
  if (issuer === undefined) return false;
  try {
    return child.checkIssued(issuer) && child.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/**
 * Which root a certificate chains to, and of which kind: the chain's links (issuer
 * fingerprints as the importer found them) are walked up; a SPIRE (or federated) root on
 * the way decides; else the inventory anchor it reaches makes it mesh-issued. A chain that
 * stops short of any anchor is judged by signature against the SPIRE roots, then the
 * inventoried CAs.
 */
function classify(
  c: Classifier,
  cert: { issuerFingerprint: string | null; anchorFingerprint: string | null; der?: string | null },
): { issuerFingerprint: string | null; kind: IssuerKind } {
  const links: string[] = [];
  let fp = cert.issuerFingerprint;
  for (let i = 0; fp !== null && i < 10 && !links.includes(fp); i++) {
    links.push(fp);
    fp = c.cas.get(fp)?.issuerFingerprint ?? null;
  }
  if (cert.anchorFingerprint !== null && !links.includes(cert.anchorFingerprint))
    links.push(cert.anchorFingerprint);
  for (const l of links) {
    const k = kindOfRoot(c, l);
    if (k !== null) return { issuerFingerprint: l, kind: k };
  }
  if (cert.anchorFingerprint !== null) return { issuerFingerprint: cert.anchorFingerprint, kind: 'mesh' };
  // No anchor: judge the topmost known certificate by signature.
  const top = links.length > 0 ? parsedCa(c, links[links.length - 1]!) : parseDer(cert.der);
  if (top !== null) {
    for (const [rootFp, root] of c.spire)
      if (signedBy(top, root)) return { issuerFingerprint: rootFp, kind: 'spire' };
    if (links.length === 0) {
      for (const ca of c.cas.values()) {
        const x = parsedCa(c, ca.fingerprint);
        if (x !== null && signedBy(top, x)) {
          return { issuerFingerprint: ca.anchorFingerprint ?? ca.fingerprint, kind: 'mesh' };
        }
      }
    }
  }
  if (links.length > 0) return { issuerFingerprint: links[links.length - 1]!, kind: 'mesh' };
  return { issuerFingerprint: null, kind: 'unknown' };
}

function parseDer(der: string | null | undefined): X509Certificate | null {
  if (der == null) return null;
  try {
    return new X509Certificate(Buffer.from(der, 'base64'));
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- workloads

interface ResolvedWorkload {
  workload: string;
  mesh: string;
  cluster: string;
  namespace: string;
  name: string;
  wkey: string;
  meshIdentity: string | null;
}

export function workloadId(mesh: string, cluster: string, namespace: string, name: string): string {
  return `${mesh}/${cluster}/${namespace}/${name}`;
}

/** Reads `mesh/cluster/namespace/name` (the name may hold further slashes). */
export function parseWorkloadId(text: string): WorkloadRef | null {
  const parts = text.split('/');
  if (parts.length < 4 || parts.slice(0, 4).some((p) => p === '')) return null;
  return { mesh: parts[0]!, cluster: parts[1]!, namespace: parts[2]!, name: parts.slice(3).join('/') };
}

function resolveParts(p: {
  mesh: string | null;
  cluster: string | null;
  namespace: string | null;
  serviceAccount: string | null;
  identity: string | null;
  fallback: string;
}): ResolvedWorkload {
  const mesh = p.mesh ?? UNKNOWN;
  const cluster = p.cluster ?? DEFAULT_CLUSTER;
  const namespace = p.namespace ?? UNKNOWN;
  const name = p.serviceAccount ?? p.identity ?? p.fallback;
  const wkey =
    p.namespace !== null && p.serviceAccount !== null
      ? `ns/${p.namespace}/sa/${p.serviceAccount}`
      : workloadKeyOf(p.identity ?? name);
  return {
    workload: workloadId(mesh, cluster, namespace, name),
    mesh,
    cluster,
    namespace,
    name,
    wkey,
    meshIdentity: null,
  };
}

interface MappedIdentityRow {
  mesh: string | null;
  cluster: string | null;
  meshIdentity: string;
  namespace: string | null;
  serviceAccount: string | null;
}

async function latestRunId(db: Db | Trx): Promise<string | null> {
  const r = await db
    .selectFrom('mapping_runs')
    .select('id')
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  return r?.id ?? null;
}

async function mappedBySpiffeId(
  db: Db | Trx,
  ids: readonly string[],
): Promise<Map<string, MappedIdentityRow>> {
  const out = new Map<string, MappedIdentityRow>();
  if (ids.length === 0) return out;
  const runId = await latestRunId(db);
  if (runId === null) return out;
  for (const chunk of batches([...new Set(ids)], 1)) {
    const rows = await db
      .selectFrom('mappings')
      .select(['spiffe_id', 'mesh', 'cluster', 'mesh_identity', 'namespace', 'service_account'])
      .where('run_id', '=', runId)
      .where('spiffe_id', 'in', chunk)
      .execute();
    for (const r of rows) {
      if (out.has(r.spiffe_id)) continue;
      out.set(r.spiffe_id, {
        mesh: r.mesh,
        cluster: r.cluster,
        meshIdentity: r.mesh_identity,
        namespace: r.namespace,
        serviceAccount: r.service_account,
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------- writing

/** A workload's latest sighting; the mapping columns are filled in separately. */
type WorkloadUpsert = Omit<
  CutoverWorkloadsTable,
  'mapped_spiffe_id' | 'mapping_run' | 'has_entry' | 'entry_dump'
>;

function newer(a: WorkloadUpsert, b: WorkloadUpsert): boolean {
  return a.last_at > b.last_at || (a.last_at === b.last_at && a.last_not_before > b.last_not_before);
}

/** Upserts workloads: a row takes a sighting only if it is at least as recent as its own. */
async function upsertWorkloads(trx: Trx, rows: readonly WorkloadUpsert[]): Promise<void> {
  const best = new Map<string, WorkloadUpsert>();
  for (const r of rows) {
    const cur = best.get(r.workload);
    if (cur === undefined) best.set(r.workload, r);
    else {
      const winner = newer(r, cur) ? r : cur;
      best.set(r.workload, {
        ...winner,
        mesh_identity: cur.mesh_identity ?? r.mesh_identity,
        first_seen: [cur.first_seen, r.first_seen].sort()[0]!,
      });
    }
  }
  const rowsOut = [...best.values()].map((r) => ({
    ...r,
    mapped_spiffe_id: null,
    mapping_run: null,
    has_entry: 0,
    entry_dump: null,
  }));
  for (const batch of batches(rowsOut, 19)) {
    await trx
      .insertInto('cutover_workloads')
      .values(batch)
      .onConflict((oc) =>
        oc.column('workload').doUpdateSet((eb) => ({
          mesh_identity: eb.fn.coalesce('cutover_workloads.mesh_identity', 'excluded.mesh_identity'),
          // matched to the mapping and entry dump again (its identity may just have become known)
          mapping_run: sql<string | null>`NULL`,
          entry_dump: sql<string | null>`NULL`,
          last_at: sql`CASE WHEN ${newerSql} THEN excluded.last_at ELSE cutover_workloads.last_at END`,
          last_source: sql`CASE WHEN ${newerSql} THEN excluded.last_source ELSE cutover_workloads.last_source END`,
          last_fingerprint: sql`CASE WHEN ${newerSql} THEN excluded.last_fingerprint ELSE cutover_workloads.last_fingerprint END`,
          last_not_before: sql`CASE WHEN ${newerSql} THEN excluded.last_not_before ELSE cutover_workloads.last_not_before END`,
          last_spiffe_id: sql`CASE WHEN ${newerSql} THEN excluded.last_spiffe_id ELSE cutover_workloads.last_spiffe_id END`,
          last_issuer_fingerprint: sql`CASE WHEN ${newerSql} THEN excluded.last_issuer_fingerprint ELSE cutover_workloads.last_issuer_fingerprint END`,
          last_issuer_kind: sql`CASE WHEN ${newerSql} THEN excluded.last_issuer_kind ELSE cutover_workloads.last_issuer_kind END`,
        })),
      )
      .execute();
  }
}

const newerSql = sql`(excluded.last_at > cutover_workloads.last_at OR (excluded.last_at = cutover_workloads.last_at AND excluded.last_not_before >= cutover_workloads.last_not_before))`;

/** Makes sure every scope of these namespaces exists (a new one starts in `inventoried`). */
export async function ensureScopes(
  trx: Trx,
  namespaces: Iterable<{ mesh: string; cluster: string; namespace: string }>,
  now: string,
): Promise<void> {
  const rows = new Map<string, ScopeName>();
  for (const n of namespaces) {
    for (const s of chainOf(n.mesh, n.cluster, n.namespace)) rows.set(s.name, s);
  }
  const values = [...rows.values()].map((s) => scopeRow(s, now));
  for (const batch of batches(values, 11)) {
    await trx
      .insertInto('cutover_scopes')
      .values(batch)
      .onConflict((oc) => oc.column('scope').doNothing())
      .execute();
  }
}

function scopeRow(s: ScopeName, now: string) {
  return {
    scope: s.name,
    parent: s.parent,
    level: s.level,
    mesh: s.mesh,
    cluster: s.cluster,
    namespace: s.namespace,
    phase: 'inventoried',
    version: 0,
    created_at: now,
    updated_at: now,
    updated_by: null,
  };
}

async function bumpObservations(trx: Trx, value?: string): Promise<void> {
  await trx
    .updateTable('cutover_state')
    .set((eb) => ({ serial: eb('serial', '+', 1), ...(value === undefined ? {} : { value }) }))
    .where('name', '=', 'observations')
    .execute();
}

// ---------------------------------------------------------------- from imports

interface WorkloadCertRow {
  fingerprint: string;
  mesh: string | null;
  cluster: string | null;
  namespace: string | null;
  service_account: string | null;
  mesh_identity: string | null;
  spiffe_id: string | null;
  issuer_fingerprint: string | null;
  anchor_fingerprint: string | null;
  not_before: string;
  not_after: string;
  der: string | null;
}

async function pendingImports(db: Db | Trx): Promise<{ id: string; finished_at: string }[]> {
  return db
    .selectFrom('imports')
    .select(['id', 'finished_at'])
    .where('status', '=', 'complete')
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('cutover_imports')
            .select('import_id')
            .whereRef('cutover_imports.import_id', '=', 'imports.id'),
        ),
      ),
    )
    .orderBy('finished_at')
    .orderBy('id')
    .execute();
}

async function classifierDigest(db: Db | Trx): Promise<string | null> {
  const r = await db
    .selectFrom('cutover_state')
    .select('value')
    .where('name', '=', 'observations')
    .executeTakeFirst();
  return r?.value ?? null;
}

async function spireRootsDigestNow(db: Db | Trx): Promise<string> {
  const roots = await db
    .selectFrom('trust_roots')
    .select(['origin', 'material'])
    .where('kind', '=', 'x509-svid')
    .execute();
  const spire = roots.filter((r) => r.origin === 'spire').map((r) => sha256(r.material));
  const fed = roots.filter((r) => r.origin !== 'spire').map((r) => sha256(r.material));
  return createHash('sha256')
    .update(spire.sort().join(','))
    .update('|')
    .update(fed.sort().join(','))
    .digest('hex');
}

/**
 * Turns every import not yet seen into observations, and reclassifies what was seen
 * before when SPIRE roots became known since. One transaction; a no-op (no write at all)
 * when there is nothing new. Safe to call concurrently: the second caller finds nothing.
 */
export async function recordObservationsFromInventory(
  store: Store,
  opts: ObservationOptions = {},
): Promise<IngestResult> {
  const db = dbOf(store);
  const nothing: IngestResult = { imports: 0, observations: 0, workloads: 0, reclassified: 0 };
  const [pending, stored, current, matched, latest] = await Promise.all([
    pendingImports(db),
    classifierDigest(db),
    spireRootsDigestNow(db),
    matchedTo(db),
    latestMappingAndDump(db),
  ]);
  if (
    pending.length === 0 &&
    stored === current &&
    matched.mapping === latest.mapping &&
    matched.entries === latest.entries
  ) {
    return nothing;
  }
  const now = (opts.clock ?? (() => new Date()))().toISOString();
  try {
    return await transact(store, async (trx) => {
      await bumpObservations(trx);
      const imports = await pendingImports(trx);
      const c = await loadClassifier(trx);
      const reclassified = (await classifierDigest(trx)) === c.digest ? 0 : await reclassify(trx, c);
      let observations = 0;
      let workloads = 0;
      const byTime = new Map<string, string[]>();
      for (const i of imports) {
        const list = byTime.get(i.finished_at);
        if (list === undefined) byTime.set(i.finished_at, [i.id]);
        else list.push(i.id);
      }
      for (const [at, ids] of byTime) {
        const n = await ingestImport(trx, c, at, ids.sort()[ids.length - 1]!);
        observations += n.observations;
        workloads += n.workloads;
        const perImport = ids.map((id) => ({
          import_id: id,
          ingested_at: now,
          observations: n.observations,
        }));
        await trx.insertInto('cutover_imports').values(perImport).execute();
      }
      await matchMappingAndEntries(trx);
      await bumpObservations(trx, c.digest);
      return { imports: imports.length, observations, workloads, reclassified };
    });
  } catch (err) {
    // Another process ingested the same imports first: what it wrote is what we would have.
    if (isStoreError(err) && err.code === 'STORE_CONSTRAINT_VIOLATED') return nothing;
    if (isConstraintLike(err)) return nothing;
    throw err;
  }
}

async function matchedTo(db: Db | Trx): Promise<{ mapping: string | null; entries: string | null }> {
  const rows = await db
    .selectFrom('cutover_state')
    .select(['name', 'value'])
    .where('name', 'in', ['mapping', 'entries'])
    .execute();
  return {
    mapping: rows.find((r) => r.name === 'mapping')?.value ?? null,
    entries: rows.find((r) => r.name === 'entries')?.value ?? null,
  };
}

async function latestMappingAndDump(
  db: Db | Trx,
): Promise<{ mapping: string | null; entries: string | null }> {
  const [run, dump] = await Promise.all([
    db.selectFrom('mapping_runs').select('id').orderBy('seq', 'desc').limit(1).executeTakeFirst(),
    db.selectFrom('spire_entry_dumps').select('id').orderBy('seq', 'desc').limit(1).executeTakeFirst(),
  ]);
  return { mapping: run?.id ?? null, entries: dump?.id ?? null };
}

/**
 * Matches every workload not yet matched to the latest mapping run (new, changed, or all
 * of them after a new `meshbridge map`) to the SPIFFE ID the run maps it to, and every
 * workload not yet matched to the latest SPIRE entry dump to whether the dump holds an
 * entry for that ID. Set-based UPDATEs: the cost is paid once per run or dump, not by
 * every `cutover status`.
 */
async function matchMappingAndEntries(trx: Trx): Promise<void> {
  const latest = await latestMappingAndDump(trx);
  // Joins, not correlated subqueries: a planner that misjudges a per-row subquery (all
  // mappings of a run share its id) would scan the run once per workload.
  if (latest.mapping !== null) {
    const run = latest.mapping;
    const pending = `~${run}`;
    await sql`UPDATE cutover_workloads SET mapped_spiffe_id = NULL, entry_dump = NULL, mapping_run = ${pending}
      WHERE mapping_run IS NULL OR mapping_run <> ${run}`.execute(trx);
    await sql`UPDATE cutover_workloads SET mapped_spiffe_id = m.spiffe_id
      FROM (SELECT q.mesh, q.cluster, q.mesh_identity, MIN(q.spiffe_id) AS spiffe_id
            FROM (SELECT mesh, COALESCE(cluster, ${DEFAULT_CLUSTER}) AS cluster, mesh_identity, spiffe_id
                  FROM mappings WHERE run_id = ${run}) q
            GROUP BY q.mesh, q.cluster, q.mesh_identity) m
      WHERE cutover_workloads.mapping_run = ${pending}
        AND m.mesh_identity = cutover_workloads.mesh_identity
        AND m.cluster = cutover_workloads.cluster
        AND (m.mesh IS NULL OR m.mesh = cutover_workloads.mesh)`.execute(trx);
    await sql`UPDATE cutover_workloads SET mapping_run = ${run} WHERE mapping_run = ${pending}`.execute(trx);
  }
  if (latest.entries !== null) {
    const dump = latest.entries;
    const pending = `~${dump}`;
    await sql`UPDATE cutover_workloads SET has_entry = 0, entry_dump = ${pending}
      WHERE entry_dump IS NULL OR entry_dump <> ${dump}`.execute(trx);
    await sql`UPDATE cutover_workloads SET has_entry = 1
      FROM (SELECT DISTINCT spiffe_id FROM spire_entries WHERE dump_id = ${dump}) e
      WHERE cutover_workloads.entry_dump = ${pending} AND e.spiffe_id = cutover_workloads.mapped_spiffe_id`.execute(
      trx,
    );
    await sql`UPDATE cutover_workloads SET entry_dump = ${dump} WHERE entry_dump = ${pending}`.execute(trx);
  }
  for (const [name, value] of [
    ['mapping', latest.mapping],
    ['entries', latest.entries],
  ] as const) {
    await trx.updateTable('cutover_state').set({ value }).where('name', '=', name).execute();
  }
}

function isConstraintLike(err: unknown): boolean {
  const code = String((err as { code?: unknown }).code ?? '');
  return code === '23505' || code.startsWith('SQLITE_CONSTRAINT');
}

async function ingestImport(
  trx: Trx,
  c: Classifier,
  at: string,
  importId: string,
): Promise<{ observations: number; workloads: number }> {
  const certs: WorkloadCertRow[] = await trx
    .selectFrom('certificates')
    .select([
      'fingerprint',
      'mesh',
      'cluster',
      'namespace',
      'service_account',
      'mesh_identity',
      'spiffe_id',
      'issuer_fingerprint',
      'anchor_fingerprint',
      'not_before',
      'not_after',
    ])
    .select((eb) =>
      eb
        .case()
        .when('anchor_fingerprint', 'is', null)
        .then(eb.ref('der'))
        .else(eb.val<string | null>(null))
        .end()
        .as('der'),
    )
    .where('role', '=', 'workload')
    .where('last_seen', '=', at)
    .execute();
  if (certs.length === 0) return { observations: 0, workloads: 0 };

  const classified = certs.map((cert) => ({
    cert,
    ...classify(c, {
      issuerFingerprint: cert.issuer_fingerprint,
      anchorFingerprint: cert.anchor_fingerprint,
      der: cert.der,
    }),
  }));
  const spiffeIds = classified
    .filter((x) => x.kind !== 'mesh' && x.cert.spiffe_id !== null)
    .map((x) => x.cert.spiffe_id!);
  const mapped = await mappedBySpiffeId(trx, spiffeIds);
  const source = `import:${importId}`;

  const observations: Parameters<typeof insertObservations>[1] = [];
  const certRows: Parameters<typeof upsertCertificates>[1] = [];
  const workloadRows: WorkloadUpsert[] = [];
  for (const { cert, issuerFingerprint, kind } of classified) {
    const m = kind !== 'mesh' && cert.spiffe_id !== null ? mapped.get(cert.spiffe_id) : undefined;
    const w =
      m === undefined
        ? resolveParts({
            mesh: cert.mesh,
            cluster: cert.cluster,
            namespace: cert.namespace,
            serviceAccount: cert.service_account,
            identity: cert.mesh_identity,
            fallback: cert.fingerprint,
          })
        : resolveParts({
            mesh: m.mesh ?? cert.mesh,
            cluster: m.cluster ?? cert.cluster,
            namespace: m.namespace,
            serviceAccount: m.serviceAccount,
            identity: m.meshIdentity,
            fallback: cert.fingerprint,
          });
    const meshIdentity = m !== undefined ? m.meshIdentity : kind === 'mesh' ? cert.mesh_identity : null;
    observations.push({
      id: randomUUID(),
      at,
      source,
      workload: w.workload,
      spiffe_id: cert.spiffe_id,
      identity: cert.mesh_identity,
      fingerprint: cert.fingerprint,
      issuer_fingerprint: issuerFingerprint,
      issuer_kind: kind,
      not_before: cert.not_before,
      not_after: cert.not_after,
    });
    certRows.push({
      fingerprint: cert.fingerprint,
      workload: w.workload,
      mesh: w.mesh,
      cluster: w.cluster,
      namespace: w.namespace,
      issuer_fingerprint: issuerFingerprint,
      issuer_kind: kind,
      not_before: cert.not_before,
      not_after: cert.not_after,
    });
    workloadRows.push({
      workload: w.workload,
      mesh: w.mesh,
      cluster: w.cluster,
      namespace: w.namespace,
      name: w.name,
      wkey: w.wkey,
      mesh_identity: meshIdentity,
      first_seen: at,
      last_at: at,
      last_source: source,
      last_fingerprint: cert.fingerprint,
      last_not_before: cert.not_before,
      last_spiffe_id: cert.spiffe_id,
      last_issuer_fingerprint: issuerFingerprint,
      last_issuer_kind: kind,
    });
  }
  await insertObservations(trx, observations);
  await upsertCertificates(trx, certRows);
  await upsertWorkloads(trx, workloadRows);
  await ensureScopes(trx, workloadRows, at);
  return { observations: observations.length, workloads: new Set(workloadRows.map((w) => w.workload)).size };
}

async function insertObservations(trx: Trx, rows: CutoverObservationsTable[]): Promise<void> {
  for (const batch of batches(rows, 11)) await trx.insertInto('cutover_observations').values(batch).execute();
}

async function upsertCertificates(
  trx: Trx,
  rows: {
    fingerprint: string;
    workload: string;
    mesh: string;
    cluster: string;
    namespace: string;
    issuer_fingerprint: string | null;
    issuer_kind: string;
    not_before: string;
    not_after: string;
  }[],
): Promise<void> {
  const unique = [...new Map(rows.map((r) => [r.fingerprint, r])).values()];
  for (const batch of batches(unique, 9)) {
    await trx
      .insertInto('cutover_certificates')
      .values(batch)
      .onConflict((oc) =>
        oc.column('fingerprint').doUpdateSet((eb) => ({
          workload: eb.ref('excluded.workload'),
          mesh: eb.ref('excluded.mesh'),
          cluster: eb.ref('excluded.cluster'),
          namespace: eb.ref('excluded.namespace'),
          issuer_fingerprint: eb.ref('excluded.issuer_fingerprint'),
          issuer_kind: eb.ref('excluded.issuer_kind'),
        })),
      )
      .execute();
  }
}

/**
 * SPIRE (or federated) roots became known after certificates chaining to them were
 * imported: those certificates, and the workloads whose latest sighting they are, are
 * SPIRE-issued after all. Certificates that chained to no anchor are judged again by
 * signature. Returns how many certificates changed.
 */
async function reclassify(trx: Trx, c: Classifier): Promise<number> {
  let changed = 0;
  for (const [kind, set] of [
    ['spire', new Set(c.spire.keys())],
    ['federated', c.federated],
  ] as const) {
    const fps = [...set];
    for (const chunk of batches(fps, 1)) {
      const r = await trx
        .updateTable('cutover_certificates')
        .set({ issuer_kind: kind })
        .where('issuer_fingerprint', 'in', chunk)
        .where('issuer_kind', '<>', kind)
        .executeTakeFirst();
      changed += Number(r.numUpdatedRows);
      await trx
        .updateTable('cutover_workloads')
        .set({ last_issuer_kind: kind })
        .where('last_issuer_fingerprint', 'in', chunk)
        .where('last_issuer_kind', '<>', kind)
        .execute();
      await trx
        .updateTable('cutover_observations')
        .set({ issuer_kind: kind })
        .where('issuer_fingerprint', 'in', chunk)
        .where('issuer_kind', '<>', kind)
        .execute();
    }
  }
  // Certificates whose chain stopped short of an anchor, or that chained to an intermediate
  // signed by a SPIRE root that was not known then.
  const open = await trx
    .selectFrom('cutover_certificates as cc')
    .innerJoin('certificates as c', 'c.fingerprint', 'cc.fingerprint')
    .select(['cc.fingerprint', 'c.issuer_fingerprint', 'c.anchor_fingerprint', 'c.der'])
    .where('cc.issuer_kind', 'in', ['unknown', 'mesh'])
    .where('c.anchor_fingerprint', 'is', null)
    .execute();
  for (const o of open) {
    const k = classify(c, {
      issuerFingerprint: o.issuer_fingerprint,
      anchorFingerprint: o.anchor_fingerprint,
      der: o.der,
    });
    if (k.kind === 'unknown' || k.kind === 'mesh') continue;
    changed++;
    await trx
      .updateTable('cutover_certificates')
      .set({ issuer_kind: k.kind, issuer_fingerprint: k.issuerFingerprint })
      .where('fingerprint', '=', o.fingerprint)
      .execute();
    await trx
      .updateTable('cutover_workloads')
      .set({ last_issuer_kind: k.kind, last_issuer_fingerprint: k.issuerFingerprint })
      .where('last_fingerprint', '=', o.fingerprint)
      .execute();
    await trx
      .updateTable('cutover_observations')
      .set({ issuer_kind: k.kind, issuer_fingerprint: k.issuerFingerprint })
      .where('fingerprint', '=', o.fingerprint)
      .execute();
  }
  return changed;
}

// ---------------------------------------------------------------- sightings (broker)

function isoOf(at: Date | string): string {
  const d = at instanceof Date ? at : new Date(at);
  if (Number.isNaN(d.getTime())) throw new TypeError(`observation time is not a time: ${String(at)}`);
  return d.toISOString();
}

function kindOf(text: string | null | undefined): IssuerKind | null {
  return text != null && (ISSUER_KINDS as readonly string[]).includes(text) ? (text as IssuerKind) : null;
}

async function findWorkload(db: Db | Trx, input: ObservationInput): Promise<string | null> {
  const exists = async (id: string): Promise<string | null> => {
    const r = await db
      .selectFrom('cutover_workloads')
      .select('workload')
      .where('workload', '=', id)
      .executeTakeFirst();
    return r?.workload ?? null;
  };
  if (typeof input.workload === 'string' && input.workload !== '') return exists(input.workload);
  if (input.workload != null && typeof input.workload === 'object') {
    const w = input.workload;
    return exists(workloadId(w.mesh, w.cluster ?? DEFAULT_CLUSTER, w.namespace ?? UNKNOWN, w.name));
  }
  const id = input.spiffeId ?? input.identity ?? null;
  if (id === null) return null;
  const direct = await db
    .selectFrom('cutover_workloads')
    .select('workload')
    .where((eb) => eb.or([eb('mesh_identity', '=', id), eb('last_spiffe_id', '=', id)]))
    .orderBy('workload')
    .limit(1)
    .executeTakeFirst();
  if (direct !== undefined) return direct.workload;
  const m = (await mappedBySpiffeId(db, [id])).get(id);
  if (m !== undefined) {
    let q = db.selectFrom('cutover_workloads').select('workload').where('mesh_identity', '=', m.meshIdentity);
    if (m.mesh !== null) q = q.where('mesh', '=', m.mesh);
    if (m.cluster !== null) q = q.where('cluster', '=', m.cluster);
    const r = await q.orderBy('workload').limit(1).executeTakeFirst();
    if (r !== undefined) return r.workload;
  }
  const byKey = await db
    .selectFrom('cutover_workloads')
    .select('workload')
    .where('wkey', '=', workloadKeyOf(id))
    .limit(2)
    .execute();
  return byKey.length === 1 ? byKey[0]!.workload : null;
}

/** Records one sighting (see `recordObservations`). */
export async function recordObservation(
  store: Store,
  input: ObservationInput,
  opts: ObservationOptions = {},
): Promise<RecordedObservation> {
  const [r] = await recordObservations(store, [input], opts);
  return r!;
}

/**
 * Records sightings in one transaction: each is attributed to its workload (given, or
 * found from the SPIFFE ID through the stored mapping) and becomes that workload's
 * latest sighting when it is the most recent one. A sighting that matches no inventoried
 * workload is kept with `workload` null and changes no progress.
 */
export async function recordObservations(
  store: Store,
  inputs: readonly ObservationInput[],
  _opts: ObservationOptions = {},
): Promise<RecordedObservation[]> {
  if (inputs.length === 0) return [];
  const db = dbOf(store);
  const c = await loadClassifier(db);
  const anchors = new Set(
    [...c.cas.values()]
      .filter((x) => x.anchorFingerprint === null || x.anchorFingerprint === x.fingerprint)
      .map((x) => x.fingerprint),
  );
  const prepared: { row: Parameters<typeof insertObservations>[1][number] }[] = [];
  for (const input of inputs) {
    const at = isoOf(input.at);
    const fp = input.issuerFingerprint ?? null;
    const kind: IssuerKind =
      kindOf(input.issuerKind) ??
      (fp === null
        ? 'unknown'
        : (kindOfRoot(c, fp) ?? (anchors.has(fp) || c.cas.has(fp) ? 'mesh' : 'unknown')));
    const workload = await findWorkload(db, input);
    prepared.push({
      row: {
        id: randomUUID(),
        at,
        source: input.source,
        workload,
        spiffe_id: input.spiffeId ?? null,
        identity: input.identity ?? null,
        fingerprint: input.fingerprint ?? null,
        issuer_fingerprint: fp,
        issuer_kind: kind,
        not_before: input.notBefore ?? null,
        not_after: input.notAfter ?? null,
      },
    });
  }
  await transact(store, async (trx) => {
    await bumpObservations(trx);
    await insertObservations(
      trx,
      prepared.map((p) => p.row),
    );
    for (const { row } of prepared) {
      if (row.workload === null) continue;
      const notBefore = row.not_before ?? '';
      await trx
        .updateTable('cutover_workloads')
        .set({
          last_at: row.at,
          last_source: row.source,
          last_fingerprint: row.fingerprint,
          last_not_before: notBefore,
          last_spiffe_id: row.spiffe_id,
          last_issuer_fingerprint: row.issuer_fingerprint,
          last_issuer_kind: row.issuer_kind,
        })
        .where('workload', '=', row.workload)
        .where((eb) =>
          eb.or([
            eb('last_at', '<', row.at),
            eb.and([eb('last_at', '=', row.at), eb('last_not_before', '<=', notBefore)]),
          ]),
        )
        .execute();
    }
  });
  return prepared.map((p) => ({
    id: p.row.id,
    workload: p.row.workload,
    issuerKind: p.row.issuer_kind as IssuerKind,
  }));
}
