/**
 * Repository for `migrations/0004_dual_trust.sql`: SPIRE and federated roots (with
 * source and phase), the history of syncs, and the spiffe_sequence of every bundle
 * meshbridge publishes per scope and trust domain. Plain rows in, plain rows out; the
 * tables are typed here (`withTables`) so the shared schema file stays untouched.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { StoreError } from './errors.js';
import type { Database } from './schema.js';
import type { Store } from './store.js';

export type TrustRootOrigin = 'spire' | 'federated';
export type TrustRootKind = 'x509-svid' | 'jwt-svid';

export type TrustRootsTable = {
  id: string;
  origin: TrustRootOrigin;
  trust_domain: string;
  kind: TrustRootKind;
  key_id: string;
  material: string;
  subject: string | null;
  not_before: string | null;
  not_after: string | null;
  source: string;
  enters_phase: string;
  leaves_phase: string | null;
  first_seen: string;
  last_seen: string;
  removed_at: string | null;
};

export type TrustRootSyncsTable = {
  id: string;
  origin: string;
  trust_domain: string;
  source: string;
  synced_at: string;
  source_sequence: string | null;
  refresh_hint: number | null;
  added: number;
  removed: number;
  kept: number;
};

export type BundleSequencesTable = {
  scope: string;
  trust_domain: string;
  sequence: number | string;
  digest: string;
  phase: string;
  updated_at: string;
};

export type BundleVersionsTable = {
  scope: string;
  trust_domain: string;
  sequence: number | string;
  digest: string;
  phase: string;
  roots: string;
  created_at: string;
};

export type DualTrustTables = {
  trust_roots: TrustRootsTable;
  trust_root_syncs: TrustRootSyncsTable;
  bundle_sequences: BundleSequencesTable;
  bundle_versions: BundleVersionsTable;
};

type Db = Kysely<Database & DualTrustTables>;

function dbOf(store: Store): Db {
  return store.db.withTables<DualTrustTables>();
}

/** One root or JWT key as a sync hands it over. */
export interface TrustRootRow {
  kind: TrustRootKind;
  /** Fingerprint (x509-svid) or kid (jwt-svid). */
  keyId: string;
  /** base64 DER (x509-svid) or JWK JSON (jwt-svid). */
  material: string;
  subject?: string | null;
  notBefore?: string | null;
  notAfter?: string | null;
}

export interface SaveTrustRootsInput {
  origin: TrustRootOrigin;
  trustDomain: string;
  source: string;
  rows: TrustRootRow[];
  /** Default dual-trust. */
  entersPhase?: string;
  leavesPhase?: string | null;
  /** The source's own `spiffe_sequence` (decimal text), when it had one. */
  sourceSequence?: string | null;
  refreshHint?: number | null;
}

export interface SaveTrustRootsResult {
  syncId: string;
  added: number;
  removed: number;
  kept: number;
}

export interface StoredTrustRoot {
  origin: TrustRootOrigin;
  trustDomain: string;
  kind: TrustRootKind;
  keyId: string;
  material: string;
  subject: string | null;
  notBefore: string | null;
  notAfter: string | null;
  source: string;
  entersPhase: string;
  leavesPhase: string | null;
  firstSeen: string;
  lastSeen: string;
  removedAt: string | null;
}

function rootId(origin: string, td: string, kind: string, keyId: string): string {
  return `tr_${createHash('sha256').update([origin, td, kind, keyId].join('\u0000')).digest('hex').slice(0, 32)}`;
}

/**
 * Replaces what is stored for (origin, trust domain) with `rows`, in one transaction:
 * new keys are added, known ones refreshed (last seen, source), missing ones marked
 * removed (kept for history; a key that comes back is revived).
 */
export async function saveTrustRoots(
  store: Store,
  input: SaveTrustRootsInput,
  opts: { clock?: () => Date } = {},
): Promise<SaveTrustRootsResult> {
  if (input.origin !== 'spire' && input.origin !== 'federated') {
    throw new StoreError(
      'STORE_INPUT_INVALID',
      'input',
      `origin must be spire or federated, got ${String(input.origin)}`,
    );
  }
  const now = (opts.clock ?? (() => new Date()))().toISOString();
  return store.transaction(async (trx) => {
    const db = (trx as Transaction<Database>).withTables<DualTrustTables>();
    const existing = await db
      .selectFrom('trust_roots')
      .select(['id', 'removed_at'])
      .where('origin', '=', input.origin)
      .where('trust_domain', '=', input.trustDomain)
      .execute();
    const known = new Map(existing.map((r) => [r.id, r.removed_at]));
    const incoming = new Set<string>();
    let added = 0;
    let kept = 0;
    for (const row of input.rows) {
      const id = rootId(input.origin, input.trustDomain, row.kind, row.keyId);
      if (incoming.has(id)) continue;
      incoming.add(id);
      if (known.has(id)) {
        if (known.get(id) === null) kept++;
        else added++;
        await db
          .updateTable('trust_roots')
          .set({
            material: row.material,
            source: input.source,
            last_seen: now,
            removed_at: null,
            enters_phase: input.entersPhase ?? 'dual-trust',
            leaves_phase: input.leavesPhase ?? null,
          })
          .where('id', '=', id)
          .execute();
      } else {
        added++;
        await db
          .insertInto('trust_roots')
          .values({
            id,
            origin: input.origin,
            trust_domain: input.trustDomain,
            kind: row.kind,
            key_id: row.keyId,
            material: row.material,
            subject: row.subject ?? null,
            not_before: row.notBefore ?? null,
            not_after: row.notAfter ?? null,
            source: input.source,
            enters_phase: input.entersPhase ?? 'dual-trust',
            leaves_phase: input.leavesPhase ?? null,
            first_seen: now,
            last_seen: now,
            removed_at: null,
          })
          .execute();
      }
    }
    let removed = 0;
    for (const [id, removedAt] of known) {
      if (incoming.has(id) || removedAt !== null) continue;
      removed++;
      await db.updateTable('trust_roots').set({ removed_at: now }).where('id', '=', id).execute();
    }
    const syncId = randomUUID();
    await db
      .insertInto('trust_root_syncs')
      .values({
        id: syncId,
        origin: input.origin,
        trust_domain: input.trustDomain,
        source: input.source,
        synced_at: now,
        source_sequence: input.sourceSequence ?? null,
        refresh_hint: input.refreshHint ?? null,
        added,
        removed,
        kept,
      })
      .execute();
    return { syncId, added, removed, kept };
  });
}

export async function loadTrustRoots(
  store: Store,
  filter: { origin?: TrustRootOrigin; trustDomain?: string; includeRemoved?: boolean } = {},
): Promise<StoredTrustRoot[]> {
  let q = dbOf(store).selectFrom('trust_roots').selectAll();
  if (filter.origin !== undefined) q = q.where('origin', '=', filter.origin);
  if (filter.trustDomain !== undefined) q = q.where('trust_domain', '=', filter.trustDomain);
  if (!filter.includeRemoved) q = q.where('removed_at', 'is', null);
  const rows = await q.orderBy('trust_domain').orderBy('origin').orderBy('kind').orderBy('key_id').execute();
  return rows.map((r) => ({
    origin: r.origin,
    trustDomain: r.trust_domain,
    kind: r.kind,
    keyId: r.key_id,
    material: r.material,
    subject: r.subject,
    notBefore: r.not_before,
    notAfter: r.not_after,
    source: r.source,
    entersPhase: r.enters_phase,
    leavesPhase: r.leaves_phase,
    firstSeen: r.first_seen,
    lastSeen: r.last_seen,
    removedAt: r.removed_at,
  }));
}

export interface BundleSequence {
  sequence: bigint;
  digest: string;
  phase: string;
  updatedAt: string;
}

export async function loadBundleSequence(
  store: Store,
  scope: string,
  trustDomain: string,
): Promise<BundleSequence | undefined> {
  const r = await dbOf(store)
    .selectFrom('bundle_sequences')
    .selectAll()
    .where('scope', '=', scope)
    .where('trust_domain', '=', trustDomain)
    .executeTakeFirst();
  return r === undefined
    ? undefined
    : { sequence: BigInt(r.sequence), digest: r.digest, phase: r.phase, updatedAt: r.updated_at };
}

/**
 * The sequence number for publishing content `digest` of (scope, trust domain): the
 * current one when the content is unchanged, the next one otherwise (recorded with the
 * roots in `bundle_versions`). One transaction, so two builds never share a number.
 */
export async function publishBundleVersion(
  store: Store,
  input: { scope: string; trustDomain: string; digest: string; phase: string; roots: string[] },
  opts: { clock?: () => Date } = {},
): Promise<{ sequence: bigint; changed: boolean }> {
  const now = (opts.clock ?? (() => new Date()))().toISOString();
  return store.transaction(async (trx) => {
    const db = (trx as Transaction<Database>).withTables<DualTrustTables>();
    const cur = await db
      .selectFrom('bundle_sequences')
      .selectAll()
      .where('scope', '=', input.scope)
      .where('trust_domain', '=', input.trustDomain)
      .executeTakeFirst();
    if (cur !== undefined && cur.digest === input.digest)
      return { sequence: BigInt(cur.sequence), changed: false };
    const sequence = cur === undefined ? 1n : BigInt(cur.sequence) + 1n;
    if (cur === undefined) {
      await db
        .insertInto('bundle_sequences')
        .values({
          scope: input.scope,
          trust_domain: input.trustDomain,
          sequence: Number(sequence),
          digest: input.digest,
          phase: input.phase,
          updated_at: now,
        })
        .execute();
    } else {
      const updated = await db
        .updateTable('bundle_sequences')
        .set({ sequence: Number(sequence), digest: input.digest, phase: input.phase, updated_at: now })
        .where('scope', '=', input.scope)
        .where('trust_domain', '=', input.trustDomain)
        .where('sequence', '=', cur.sequence)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) !== 1) {
        throw new StoreError(
          'STORE_CONFLICT',
          'conflict',
          'another build published this bundle at the same time; retry',
        );
      }
    }
    await db
      .insertInto('bundle_versions')
      .values({
        scope: input.scope,
        trust_domain: input.trustDomain,
        sequence: Number(sequence),
        digest: input.digest,
        phase: input.phase,
        roots: JSON.stringify(input.roots),
        created_at: now,
      })
      .execute();
    return { sequence, changed: true };
  });
}
