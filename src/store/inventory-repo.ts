import { createHash, randomUUID } from 'node:crypto';
import type { Expression, ExpressionBuilder, SqlBool, Transaction } from 'kysely';
import { isConstraintError, isUnavailableError } from './driver-errors.js';
import { StoreError } from './errors.js';
import { batches, parseJson } from './rows.js';
import {
  CERTIFICATE_ROLES,
  type CertificateRole,
  type CertificatesTable,
  type CertRow,
  type Database,
  type KeyRow,
  type LinkRow,
  type ProblemRow,
  type SourceRow,
  type StoredCertificate,
  type StoredImport,
  type StoredKey,
  type StoredLink,
  type StoredProblem,
  type StoredSource,
} from './schema.js';
import type { Store } from './store.js';

const DEFAULT_BATCH_ROWS = 1000;

export interface SaveImportInput {
  /** Mesh and cluster of the import, and the default for its sources and certificates. */
  mesh?: string | null;
  cluster?: string | null;
  /** When reading began (ISO 8601); default: the save time. */
  startedAt?: string;
  /** Anything the importer wants kept with the import (JSON object); counts are added as `counts`. */
  summary?: Record<string, unknown>;
  sources: SourceRow[];
  certificates: CertRow[];
  /** Extra certificate-to-source links besides `CertRow.sources`. */
  links?: LinkRow[];
  problems?: ProblemRow[];
  keys?: KeyRow[];
}

export interface SaveImportProgress {
  stage: 'sources' | 'certificates' | 'links' | 'keys' | 'problems';
  done: number;
  total: number;
}

export interface SaveImportOptions {
  /** Injected time (default: the system clock). */
  clock?: () => Date;
  /** Rows per INSERT (default 1000, capped by the parameter limit). */
  batchRows?: number;
  /** Called after every batch, inside the transaction; awaited. */
  onProgress?: (p: SaveImportProgress) => void | Promise<void>;
}

export interface SaveImportResult {
  importId: string;
  /** ISO 8601: first/last seen time written by this import. */
  savedAt: string;
  certificates: { total: number; added: number; updated: number };
  sources: number;
  links: number;
  problems: number;
  keys: number;
}

export interface InventoryFilter {
  mesh?: string;
  cluster?: string;
  namespace?: string;
  role?: CertificateRole | CertificateRole[];
  /** Certificates whose notAfter is before this ISO 8601 time. */
  expiringBefore?: string;
  /** Certificates that chain to this anchor fingerprint. */
  anchor?: string;
  /** Include the base64 DER (default false: it is most of the bytes). */
  withDer?: boolean;
  /** `latest` (default): problems of the latest import per (mesh, cluster); `all`; `none`. */
  problems?: 'latest' | 'all' | 'none';
}

export interface LoadedInventory {
  imports: StoredImport[];
  sources: StoredSource[];
  /** Ordered anchors, intermediates, workloads; then by notAfter, fingerprint. */
  certificates: StoredCertificate[];
  links: StoredLink[];
  problems: StoredProblem[];
  keys: StoredKey[];
}

// ---------------------------------------------------------------- helpers

const FINGERPRINT = /^[0-9a-f]{64}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function invalid(message: string, details?: Record<string, unknown>): StoreError {
  return new StoreError('STORE_INPUT_INVALID', 'input', message, details === undefined ? {} : { details });
}

function isoTime(value: string, what: string): string {
  const ms = Date.parse(value);
  if (typeof value !== 'string' || Number.isNaN(ms))
    throw invalid(`${what} is not an ISO 8601 time: ${String(value)}`);
  return new Date(ms).toISOString();
}

function fingerprintOf(value: unknown, what: string): string {
  if (typeof value !== 'string' || !FINGERPRINT.test(value)) {
    throw invalid(`${what} is not a lowercase hex SHA-256 fingerprint: ${String(value)}`);
  }
  return value;
}

function optFingerprint(value: string | null | undefined, what: string): string | null {
  return value == null ? null : fingerprintOf(value, what);
}

/** The stable id of a source: the same (kind, locator, mesh, cluster) always maps to the same row. */
export function sourceId(kind: string, locator: string, mesh: string | null, cluster: string | null): string {
  const h = createHash('sha256')
    .update([kind, locator, mesh ?? '', cluster ?? ''].join('\u0000'))
    .digest('hex');
  return `src_${h.slice(0, 32)}`;
}

// ---------------------------------------------------------------- save

interface Prepared {
  sources: Database['sources'][];
  certificates: CertificatesTable[];
  links: Database['certificate_sources'][];
  problems: Database['problems'][];
  keys: Database['private_keys_seen'][];
}

function prepare(input: SaveImportInput, importId: string, now: string): Prepared {
  const mesh = input.mesh ?? null;
  const cluster = input.cluster ?? null;

  const sourceByLocator = new Map<string, Database['sources']>();
  for (const s of input.sources) {
    if (!s.locator || !s.kind) throw invalid('every source needs a kind and a locator');
    const sMesh = s.mesh === undefined ? mesh : s.mesh;
    const sCluster = s.cluster === undefined ? cluster : s.cluster;
    const id = sourceId(s.kind, s.locator, sMesh, sCluster);
    const seen = sourceByLocator.get(s.locator);
    if (seen !== undefined) {
      if (seen.id !== id) {
        throw invalid(`source ${s.locator} is listed twice with a different kind, mesh or cluster`, {
          locator: s.locator,
        });
      }
      continue;
    }
    sourceByLocator.set(s.locator, {
      id,
      kind: s.kind,
      locator: s.locator,
      mesh: sMesh,
      cluster: sCluster,
      import_id: importId,
      first_seen: now,
      last_seen: now,
    });
  }
  const sourceIdOf = (locator: string, what: string): string => {
    const s = sourceByLocator.get(locator);
    if (s === undefined)
      throw invalid(`${what} names source ${locator}, which is not among the import's sources`);
    return s.id;
  };

  const certs = new Map<string, CertificatesTable>();
  const links = new Map<string, Database['certificate_sources']>();
  const addLink = (fingerprint: string, locator: string, what: string) => {
    const sid = sourceIdOf(locator, what);
    links.set(`${fingerprint}\u0000${sid}`, { fingerprint, source_id: sid, seen_at: now });
  };
  for (const c of input.certificates) {
    const fp = fingerprintOf(c.fingerprint, 'certificate fingerprint');
    if (!CERTIFICATE_ROLES.includes(c.role)) {
      throw invalid(
        `certificate ${fp} has role ${String(c.role)}; expected anchor, intermediate or workload`,
      );
    }
    if (typeof c.der !== 'string' || !BASE64.test(c.der))
      throw invalid(`certificate ${fp} has no base64 DER`);
    if (!certs.has(fp)) {
      certs.set(fp, {
        fingerprint: fp,
        role: c.role,
        mesh: c.mesh === undefined ? mesh : c.mesh,
        cluster: c.cluster === undefined ? cluster : c.cluster,
        subject: c.subject,
        issuer: c.issuer,
        serial: c.serial,
        not_before: isoTime(c.notBefore, `notBefore of ${fp}`),
        not_after: isoTime(c.notAfter, `notAfter of ${fp}`),
        key_algorithm: c.keyAlgorithm,
        key_size: c.keySize ?? null,
        spiffe_id: c.spiffeId ?? null,
        mesh_identity: c.meshIdentity ?? null,
        namespace: c.namespace ?? null,
        service_account: c.serviceAccount ?? null,
        san: JSON.stringify(c.san ?? []),
        issuer_fingerprint: optFingerprint(c.issuerFingerprint, `issuerFingerprint of ${fp}`),
        anchor_fingerprint: optFingerprint(c.anchorFingerprint, `anchorFingerprint of ${fp}`),
        der: c.der,
        first_seen: now,
        last_seen: now,
      });
    }
    for (const locator of c.sources ?? []) addLink(fp, locator, `certificate ${fp}`);
  }
  for (const l of input.links ?? []) {
    addLink(fingerprintOf(l.fingerprint, 'link fingerprint'), l.source, `link of ${l.fingerprint}`);
  }

  const problems: Database['problems'][] = (input.problems ?? []).map((p) => {
    if (!p.code) throw invalid('every problem needs a code');
    return {
      id: randomUUID(),
      import_id: importId,
      code: p.code,
      source: p.source ?? '',
      message: p.message ?? '',
      fingerprint: optFingerprint(p.fingerprint, `fingerprint of problem ${p.code}`),
      details: p.details == null ? null : JSON.stringify(p.details),
    };
  });

  const keys: Database['private_keys_seen'][] = (input.keys ?? []).map((k) => ({
    id: randomUUID(),
    source_id: sourceIdOf(k.source, 'a private key'),
    import_id: importId,
    key_type: k.keyType,
    matches_fingerprint: optFingerprint(k.matchesFingerprint, 'matchesFingerprint of a private key'),
    seen_at: now,
  }));

  return {
    sources: [...sourceByLocator.values()],
    certificates: [...certs.values()],
    links: [...links.values()],
    problems,
    keys,
  };
}

async function existingFingerprints(
  trx: Transaction<Database>,
  fps: string[],
  rows: number,
): Promise<number> {
  let n = 0;
  for (const chunk of batches(fps, 1, rows)) {
    const res = await trx
      .selectFrom('certificates')
      .select('fingerprint')
      .where('fingerprint', 'in', chunk)
      .execute();
    n += res.length;
  }
  return n;
}

/**
 * Saves one import in ONE transaction: it lands whole or not at all. Idempotent by
 * fingerprint: a certificate seen again keeps its first_seen, gets a new last_seen, keeps
 * its first mesh/cluster, takes newly known links (issuer, anchor, identity) and gains the
 * new source link. Sources are keyed by (kind, locator, mesh, cluster); a source's private
 * key sightings are replaced by this import's. Problems are recorded per import.
 *
 * Errors: STORE_INPUT_INVALID before anything is written (bad fingerprint, role, time,
 * DER, unknown source locator); STORE_CONSTRAINT_VIOLATED when the database refuses a row
 * (the transaction is rolled back); STORE_UNAVAILABLE / STORE_BUSY.
 */
export async function saveImport(
  store: Store,
  input: SaveImportInput,
  opts: SaveImportOptions = {},
): Promise<SaveImportResult> {
  const clock = opts.clock ?? (() => new Date());
  const now = clock().toISOString();
  const importId = randomUUID();
  const p = prepare(input, importId, now);
  const rows = opts.batchRows ?? DEFAULT_BATCH_ROWS;
  const progress = opts.onProgress ?? (() => undefined);

  try {
    return await store.transaction(async (trx) => {
      const known = await existingFingerprints(
        trx,
        p.certificates.map((c) => c.fingerprint),
        rows,
      );
      const counts = {
        certificates: p.certificates.length,
        added: p.certificates.length - known,
        updated: known,
        sources: p.sources.length,
        links: p.links.length,
        problems: p.problems.length,
        keys: p.keys.length,
      };
      await trx
        .insertInto('imports')
        .values({
          id: importId,
          started_at: input.startedAt === undefined ? now : isoTime(input.startedAt, 'startedAt'),
          finished_at: now,
          mesh: input.mesh ?? null,
          cluster: input.cluster ?? null,
          status: 'complete',
          summary: JSON.stringify({ counts, ...input.summary }),
        })
        .execute();

      let done = 0;
      for (const batch of batches(p.sources, 8, rows)) {
        await trx
          .insertInto('sources')
          .values(batch)
          .onConflict((oc) =>
            oc.column('id').doUpdateSet((eb) => ({
              last_seen: eb.ref('excluded.last_seen'),
              import_id: eb.ref('excluded.import_id'),
            })),
          )
          .execute();
        done += batch.length;
        await progress({ stage: 'sources', done, total: p.sources.length });
      }

      done = 0;
      for (const batch of batches(p.certificates, 21, rows)) {
        await trx
          .insertInto('certificates')
          .values(batch)
          .onConflict((oc) =>
            oc.column('fingerprint').doUpdateSet((eb) => ({
              last_seen: eb.ref('excluded.last_seen'),
              mesh: eb.fn.coalesce('certificates.mesh', 'excluded.mesh'),
              cluster: eb.fn.coalesce('certificates.cluster', 'excluded.cluster'),
              spiffe_id: eb.fn.coalesce('excluded.spiffe_id', 'certificates.spiffe_id'),
              mesh_identity: eb.fn.coalesce('excluded.mesh_identity', 'certificates.mesh_identity'),
              namespace: eb.fn.coalesce('excluded.namespace', 'certificates.namespace'),
              service_account: eb.fn.coalesce('excluded.service_account', 'certificates.service_account'),
              issuer_fingerprint: eb.fn.coalesce(
                'excluded.issuer_fingerprint',
                'certificates.issuer_fingerprint',
              ),
              anchor_fingerprint: eb.fn.coalesce(
                'excluded.anchor_fingerprint',
                'certificates.anchor_fingerprint',
              ),
            })),
          )
          .execute();
        done += batch.length;
        await progress({ stage: 'certificates', done, total: p.certificates.length });
      }

      done = 0;
      for (const batch of batches(p.links, 3, rows)) {
        await trx
          .insertInto('certificate_sources')
          .values(batch)
          .onConflict((oc) =>
            oc
              .columns(['fingerprint', 'source_id'])
              .doUpdateSet((eb) => ({ seen_at: eb.ref('excluded.seen_at') })),
          )
          .execute();
        done += batch.length;
        await progress({ stage: 'links', done, total: p.links.length });
      }

      for (const batch of batches(
        p.sources.map((s) => s.id),
        1,
        rows,
      )) {
        await trx.deleteFrom('private_keys_seen').where('source_id', 'in', batch).execute();
      }
      done = 0;
      for (const batch of batches(p.keys, 6, rows)) {
        await trx.insertInto('private_keys_seen').values(batch).execute();
        done += batch.length;
        await progress({ stage: 'keys', done, total: p.keys.length });
      }

      done = 0;
      for (const batch of batches(p.problems, 7, rows)) {
        await trx.insertInto('problems').values(batch).execute();
        done += batch.length;
        await progress({ stage: 'problems', done, total: p.problems.length });
      }

      return {
        importId,
        savedAt: now,
        certificates: { total: counts.certificates, added: counts.added, updated: counts.updated },
        sources: counts.sources,
        links: counts.links,
        problems: counts.problems,
        keys: counts.keys,
      };
    });
  } catch (err) {
    if (err instanceof StoreError || isUnavailableError(err)) throw err;
    if (isConstraintError(err)) {
      throw new StoreError(
        'STORE_CONSTRAINT_VIOLATED',
        'input',
        `the import was refused by the database and nothing of it was saved: ${(err as Error).message}`,
        { cause: err },
      );
    }
    throw err;
  }
}

// ---------------------------------------------------------------- load

function certWhere(filter: InventoryFilter) {
  return (eb: ExpressionBuilder<Database, 'certificates'>): Expression<SqlBool> => {
    const conds: Expression<SqlBool>[] = [];
    if (filter.mesh !== undefined) conds.push(eb('certificates.mesh', '=', filter.mesh));
    if (filter.cluster !== undefined) conds.push(eb('certificates.cluster', '=', filter.cluster));
    if (filter.namespace !== undefined) conds.push(eb('certificates.namespace', '=', filter.namespace));
    if (filter.role !== undefined) {
      const roles = Array.isArray(filter.role) ? filter.role : [filter.role];
      conds.push(eb('certificates.role', 'in', roles));
    }
    if (filter.expiringBefore !== undefined) {
      conds.push(eb('certificates.not_after', '<', isoTime(filter.expiringBefore, 'expiringBefore')));
    }
    if (filter.anchor !== undefined) conds.push(eb('certificates.anchor_fingerprint', '=', filter.anchor));
    return eb.and(conds);
  };
}

function hasCertFilter(f: InventoryFilter): boolean {
  return (
    f.mesh !== undefined ||
    f.cluster !== undefined ||
    f.namespace !== undefined ||
    f.role !== undefined ||
    f.expiringBefore !== undefined ||
    f.anchor !== undefined
  );
}

/** The latest import of each (mesh, cluster) scope. */
function latestPerScope(imports: StoredImport[]): StoredImport[] {
  const latest = new Map<string, StoredImport>();
  for (const i of imports) {
    const key = `${i.mesh ?? ''}\u0000${i.cluster ?? ''}`;
    const cur = latest.get(key);
    if (
      cur === undefined ||
      i.finishedAt > cur.finishedAt ||
      (i.finishedAt === cur.finishedAt && i.id > cur.id)
    ) {
      latest.set(key, i);
    }
  }
  return [...latest.values()];
}

/** Reads the stored inventory back as plain rows (JSON columns decoded). Read-only. */
export async function loadInventory(store: Store, filter: InventoryFilter = {}): Promise<LoadedInventory> {
  const db = store.db;
  const filtered = hasCertFilter(filter);

  const imports: StoredImport[] = (
    await db.selectFrom('imports').selectAll().orderBy('finished_at').orderBy('id').execute()
  ).map((r) => ({
    id: r.id,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    mesh: r.mesh,
    cluster: r.cluster,
    status: r.status,
    summary: parseJson<Record<string, unknown>>(r.summary, {}),
  }));

  let sourceQuery = db.selectFrom('sources').selectAll().orderBy('locator').orderBy('id');
  if (filter.mesh !== undefined) sourceQuery = sourceQuery.where('mesh', '=', filter.mesh);
  if (filter.cluster !== undefined) sourceQuery = sourceQuery.where('cluster', '=', filter.cluster);
  const sources: StoredSource[] = (await sourceQuery.execute()).map((r) => ({
    id: r.id,
    kind: r.kind,
    locator: r.locator,
    mesh: r.mesh,
    cluster: r.cluster,
    importId: r.import_id,
    firstSeen: r.first_seen,
    lastSeen: r.last_seen,
  }));

  let linkQuery = db.selectFrom('certificate_sources').selectAll();
  if (filtered) {
    linkQuery = linkQuery.where('fingerprint', 'in', (eb) =>
      eb.selectFrom('certificates').select('certificates.fingerprint').where(certWhere(filter)),
    );
  }
  const links: StoredLink[] = (await linkQuery.orderBy('fingerprint').orderBy('source_id').execute()).map(
    (r) => ({
      fingerprint: r.fingerprint,
      sourceId: r.source_id,
      seenAt: r.seen_at,
    }),
  );
  const sourcesOf = new Map<string, string[]>();
  for (const l of links) {
    const list = sourcesOf.get(l.fingerprint);
    if (list === undefined) sourcesOf.set(l.fingerprint, [l.sourceId]);
    else list.push(l.sourceId);
  }

  const columns = [
    'fingerprint',
    'role',
    'mesh',
    'cluster',
    'subject',
    'issuer',
    'serial',
    'not_before',
    'not_after',
    'key_algorithm',
    'key_size',
    'spiffe_id',
    'mesh_identity',
    'namespace',
    'service_account',
    'san',
    'issuer_fingerprint',
    'anchor_fingerprint',
    'first_seen',
    'last_seen',
  ] as const;
  let certQuery = db
    .selectFrom('certificates')
    .select(columns)
    .select((eb) => (filter.withDer ? eb.ref('der') : eb.val<string | null>(null)).as('der'));
  if (filtered) certQuery = certQuery.where(certWhere(filter));
  const certRows = await certQuery.orderBy('role').orderBy('not_after').orderBy('fingerprint').execute();
  const certificates: StoredCertificate[] = certRows.map((r) => ({
    fingerprint: r.fingerprint,
    role: r.role,
    mesh: r.mesh,
    cluster: r.cluster,
    subject: r.subject,
    issuer: r.issuer,
    serial: r.serial,
    notBefore: r.not_before,
    notAfter: r.not_after,
    keyAlgorithm: r.key_algorithm,
    keySize: r.key_size,
    spiffeId: r.spiffe_id,
    meshIdentity: r.mesh_identity,
    namespace: r.namespace,
    serviceAccount: r.service_account,
    san: parseJson<string[]>(r.san, []),
    issuerFingerprint: r.issuer_fingerprint,
    anchorFingerprint: r.anchor_fingerprint,
    der: (r.der as string | null) ?? null,
    firstSeen: r.first_seen,
    lastSeen: r.last_seen,
    sourceIds: sourcesOf.get(r.fingerprint) ?? [],
  }));

  let problems: StoredProblem[] = [];
  const mode = filter.problems ?? 'latest';
  if (mode !== 'none') {
    let scoped = mode === 'latest' ? latestPerScope(imports) : imports;
    if (filter.mesh !== undefined) scoped = scoped.filter((i) => i.mesh === filter.mesh);
    if (filter.cluster !== undefined) scoped = scoped.filter((i) => i.cluster === filter.cluster);
    for (const chunk of batches(
      scoped.map((i) => i.id),
      1,
      DEFAULT_BATCH_ROWS,
    )) {
      const rows = await db.selectFrom('problems').selectAll().where('import_id', 'in', chunk).execute();
      for (const r of rows) {
        problems.push({
          id: r.id,
          importId: r.import_id,
          code: r.code,
          source: r.source,
          message: r.message,
          fingerprint: r.fingerprint,
          details: parseJson<Record<string, unknown> | null>(r.details, null),
        });
      }
    }
    problems = problems.sort((a, b) =>
      a.code !== b.code ? (a.code < b.code ? -1 : 1) : a.source < b.source ? -1 : a.source > b.source ? 1 : 0,
    );
  }

  const sourceIds = new Set(sources.map((s) => s.id));
  const keys: StoredKey[] = (
    await db.selectFrom('private_keys_seen').selectAll().orderBy('source_id').execute()
  )
    .filter((r) => sourceIds.has(r.source_id))
    .map((r) => ({
      id: r.id,
      sourceId: r.source_id,
      importId: r.import_id,
      keyType: r.key_type,
      matchesFingerprint: r.matches_fingerprint,
      seenAt: r.seen_at,
    }));

  return { imports, sources, certificates, links, problems, keys };
}
