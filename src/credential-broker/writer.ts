/**
 * Group commit for leases, audit records and sightings. Requests that arrive while a
 * transaction is in flight are gathered and committed together in the next one, so
 * under load one fsync (SQLite) or one round trip per table (PostgreSQL) serves many
 * requests, and every request still waits until its own rows are durable. When a
 * batch fails, each of its members is retried alone, so one bad row cannot fail the
 * others.
 */
import type { Kysely } from 'kysely';
import type { BatchStatement, Store } from '../store/index.js';
import type { AuditRecord } from './audit.js';
import type { BrokerAuditTable, BrokerLeasesTable, BrokerTables } from './schema.js';

export interface SightingDelta {
  credential: string;
  spiffeId: string;
  at: string;
  decision: 'allow' | 'deny';
  issuerKind?: string;
  leaseId?: string;
}

export interface LeaseRevocation {
  id: string;
  /** The claim that must still be held (the revoker's instance id). */
  claimedBy: string;
  revokedAt: string;
  reason: string;
}

/** A lease as issued: what it is; the revocation and claim columns start empty. */
export type NewLease = Omit<
  BrokerLeasesTable,
  | 'revoked_at'
  | 'revoke_reason'
  | 'revoked_by'
  | 'claimed_by'
  | 'claimed_until'
  | 'revoke_attempts'
  | 'revoke_error'
>;

/** Rows that must land together (one request's lease, audit record and sighting). */
export interface WriteSet {
  leases?: NewLease[];
  audits?: AuditRecord[];
  sightings?: SightingDelta[];
  revocations?: LeaseRevocation[];
}

/** Where the broker's rows go (BatchWriter by default; an embedding server may supply its own). */
export interface Writer {
  /** Resolves once the rows are committed. */
  write(set: WriteSet): Promise<void>;
  /** Waits until everything queued so far is committed or failed. */
  flush(): Promise<void>;
}

interface Pending {
  set: WriteSet;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class BatchWriter implements Writer {
  private queue: Pending[] = [];
  private draining = false;
  private idle: Promise<void> = Promise.resolve();
  private markIdle: () => void = () => undefined;

  constructor(
    private readonly store: Store,
    private readonly maxBatch = 256,
  ) {}

  /** Resolves once the rows are committed; rejects with the store's error otherwise. */
  write(set: WriteSet): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ set, resolve, reject });
      if (!this.draining) {
        this.draining = true;
        this.idle = new Promise<void>((r) => {
          this.markIdle = r;
        });
        setImmediate(() => void this.drain());
      }
    });
  }

  /** Waits until everything queued so far is committed or failed. */
  async flush(): Promise<void> {
    await this.idle;
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          await this.commit(batch.map((p) => p.set));
          for (const p of batch) p.resolve();
        } catch (err) {
          // A store that is down fails every member alike: no point retrying them one by one.
          if (batch.length === 1 || (err as { category?: unknown }).category === 'unavailable') {
            for (const p of batch) p.reject(err);
            continue;
          }
          for (const p of batch) {
            try {
              await this.commit([p.set]);
              p.resolve();
            } catch (e) {
              p.reject(e);
            }
          }
        }
      }
    } finally {
      this.draining = false;
      this.markIdle();
    }
  }

  private async commit(sets: WriteSet[]): Promise<void> {
    const leases: unknown[][] = [];
    const audits: unknown[][] = [];
    const revocations: LeaseRevocation[] = [];
    const deltas: SightingDelta[] = [];
    for (const set of sets) {
      if (set.leases !== undefined) for (const l of set.leases) leases.push(LEASES.values(l));
      if (set.audits !== undefined) for (const a of set.audits) audits.push(AUDITS.values(a));
      if (set.revocations !== undefined) revocations.push(...set.revocations);
      if (set.sightings !== undefined) deltas.push(...set.sightings);
    }
    const db = this.store.db as unknown as Kysely<BrokerTables>;
    const statements: BatchStatement[] = [];
    if (leases.length > 0)
      statements.push({ insert: { into: 'broker_leases', columns: LEASES.columns, rows: leases } });
    if (audits.length > 0)
      statements.push({ insert: { into: 'broker_audit', columns: AUDITS.columns, rows: audits } });
    for (const r of revocations) {
      statements.push({
        query: db
          .updateTable('broker_leases')
          .set({
            revoked_at: r.revokedAt,
            revoke_reason: r.reason,
            revoked_by: r.claimedBy,
            claimed_by: null,
            claimed_until: null,
            revoke_error: null,
          })
          .where('id', '=', r.id)
          .where('claimed_by', '=', r.claimedBy)
          .where('revoked_at', 'is', null)
          .compile(),
        expectChanges: 1,
        conflict: `lease ${r.id} is no longer claimed by ${r.claimedBy}; not marking it revoked`,
      });
    }
    const sightings = mergeSightings(deltas);
    if (sightings.length > 0)
      statements.push({
        insert: {
          into: 'broker_credential_sightings',
          columns: SIGHTINGS.columns,
          rows: sightings.map(SIGHTINGS.values),
          suffix: SIGHTING_UPSERT,
        },
      });
    await this.store.batch(statements);
  }
}

/**
 * How the writer lays out a table's rows: its columns, and a row's values in that order.
 * Written out field by field (not looked up by column name): named loads stay fast where
 * a generic `row[column]` turned megamorphic, and an array literal is packed, which the
 * hand-off to the SQLite writer thread (JSON) walks fastest. A test checks each pair agrees.
 */
export interface RowLayout<R> {
  columns: readonly string[];
  values(row: R): unknown[];
}

export const LEASES: RowLayout<NewLease> = {
  columns: [
    'id',
    'spiffe_id',
    'auth_method',
    'issuer_kind',
    'issuer_fingerprint',
    'credential',
    'backend',
    'backend_lease_id',
    'reference',
    'policy_version',
    'purpose',
    'issued_at',
    'expires_at',
  ] satisfies readonly (keyof NewLease)[],
  values: (r) => [
    r.id,
    r.spiffe_id,
    r.auth_method,
    r.issuer_kind,
    r.issuer_fingerprint,
    r.credential,
    r.backend,
    r.backend_lease_id ?? null,
    r.reference,
    r.policy_version,
    r.purpose ?? null,
    r.issued_at,
    r.expires_at,
  ],
};

/** Audit records as stored: the one mapping from record to row (`auditFromRow` reads them back). */
export const AUDITS: RowLayout<AuditRecord> = {
  columns: [
    'id',
    'at',
    'instance',
    'request_id',
    'action',
    'decision',
    'code',
    'reason',
    'status',
    'spiffe_id',
    'presented_identity',
    'auth_method',
    'issuer_kind',
    'issuer_fingerprint',
    'credential',
    'policy_version',
    'policy_rule',
    'lease_id',
    'reference',
    'ttl_seconds',
    'purpose',
    'actor',
    'client_address',
  ] satisfies readonly (keyof BrokerAuditTable)[],
  values: (r) => [
    r.id,
    r.at,
    r.instance,
    r.requestId ?? null,
    r.action,
    r.decision,
    r.code,
    r.reason,
    r.status,
    r.spiffeId ?? null,
    r.presentedIdentity ?? null,
    r.authMethod ?? null,
    r.issuerKind ?? null,
    r.issuerFingerprint ?? null,
    r.credential ?? null,
    r.policyVersion ?? null,
    r.policyRule ?? null,
    r.leaseId ?? null,
    r.reference ?? null,
    r.ttlSeconds ?? null,
    r.purpose ?? null,
    r.actor === undefined ? null : JSON.stringify(r.actor),
    r.clientAddress ?? null,
  ],
};

export const SIGHTINGS: RowLayout<SightingRow> = {
  columns: [
    'credential',
    'spiffe_id',
    'first_seen',
    'last_seen',
    'last_allowed',
    'last_denied',
    'allowed_count',
    'denied_count',
    'last_issuer_kind',
    'last_lease_id',
  ] satisfies readonly (keyof SightingRow)[],
  values: (r) => [
    r.credential,
    r.spiffe_id,
    r.first_seen,
    r.last_seen,
    r.last_allowed,
    r.last_denied,
    r.allowed_count,
    r.denied_count,
    r.last_issuer_kind,
    r.last_lease_id,
  ],
};

const S = 'broker_credential_sightings';
const SIGHTING_UPSERT = `ON CONFLICT (credential, spiffe_id) DO UPDATE SET
  first_seen = CASE WHEN excluded.first_seen < ${S}.first_seen THEN excluded.first_seen ELSE ${S}.first_seen END,
  last_seen = CASE WHEN excluded.last_seen > ${S}.last_seen THEN excluded.last_seen ELSE ${S}.last_seen END,
  last_allowed = CASE WHEN ${S}.last_allowed IS NULL OR excluded.last_allowed > ${S}.last_allowed THEN COALESCE(excluded.last_allowed, ${S}.last_allowed) ELSE ${S}.last_allowed END,
  last_denied = CASE WHEN ${S}.last_denied IS NULL OR excluded.last_denied > ${S}.last_denied THEN COALESCE(excluded.last_denied, ${S}.last_denied) ELSE ${S}.last_denied END,
  allowed_count = ${S}.allowed_count + excluded.allowed_count,
  denied_count = ${S}.denied_count + excluded.denied_count,
  last_issuer_kind = COALESCE(excluded.last_issuer_kind, ${S}.last_issuer_kind),
  last_lease_id = COALESCE(excluded.last_lease_id, ${S}.last_lease_id)`;

export interface SightingRow {
  credential: string;
  spiffe_id: string;
  first_seen: string;
  last_seen: string;
  last_allowed: string | null;
  last_denied: string | null;
  allowed_count: number;
  denied_count: number;
  last_issuer_kind: string | null;
  last_lease_id: string | null;
}

/** One row per (credential, SPIFFE ID): PostgreSQL refuses to upsert one key twice in a statement. */
export function mergeSightings(deltas: readonly SightingDelta[]): SightingRow[] {
  const rows = new Map<string, SightingRow>();
  for (const d of deltas) {
    const key = `${d.credential}\u0000${d.spiffeId}`;
    let r = rows.get(key);
    if (r === undefined) {
      r = {
        credential: d.credential,
        spiffe_id: d.spiffeId,
        first_seen: d.at,
        last_seen: d.at,
        last_allowed: null,
        last_denied: null,
        allowed_count: 0,
        denied_count: 0,
        last_issuer_kind: null,
        last_lease_id: null,
      };
      rows.set(key, r);
    }
    if (d.at < r.first_seen) r.first_seen = d.at;
    if (d.at > r.last_seen) r.last_seen = d.at;
    if (d.decision === 'allow') {
      r.allowed_count++;
      if (r.last_allowed === null || d.at >= r.last_allowed) {
        r.last_allowed = d.at;
        r.last_issuer_kind = d.issuerKind ?? r.last_issuer_kind;
        r.last_lease_id = d.leaseId ?? r.last_lease_id;
      }
    } else {
      r.denied_count++;
      if (r.last_denied === null || d.at > r.last_denied) r.last_denied = d.at;
    }
  }
  return [...rows.values()];
}
