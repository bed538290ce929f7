/**
 * Leases in the store, their revocation downstream, and the expiry sweeper.
 *
 * Revoking exactly once, across any number of broker processes on one database:
 *  1. *claim*: `UPDATE broker_leases SET claimed_by = me, claimed_until = now + claimTtl
 *     WHERE id = ? AND revoked_at IS NULL AND (claimed_until IS NULL OR claimed_until < now)`
 *     — one UPDATE is atomic in both SQLite and PostgreSQL, so only one process gets
 *     `numUpdatedRows = 1`;
 *  2. revoke downstream (backends treat a repeated revoke as a no-op, so a claim that
 *     outlived a crashed holder and is taken over stays harmless);
 *  3. mark revoked (`revoked_at`) together with the audit record, only while the
 *     claim is still ours. A failed downstream revoke releases the claim with a
 *     back-off and records the error; the sweeper tries again.
 * The sweeper also runs in one process at a time: a PostgreSQL advisory lock, or on
 * SQLite a lock row with an expiry.
 */
import { type Compilable, type Kysely, type Selectable, sql } from 'kysely';
import type { Logger } from 'pino';
import type { Clock } from '../spiffe/errors.js';
import { ADVISORY_LOCK_NAMESPACE, type Store } from '../store/index.js';
import { type AuditRecord, auditLogger, logAudit, newAuditId, timeOrderedId } from './audit.js';
import type { CredentialBackend } from './backends/index.js';
import type { BrokerLeasesTable, BrokerTables } from './schema.js';
import { brokerDb } from './schema.js';
import type { Writer } from './writer.js';

/** Advisory lock key of the sweeper, under the store's namespace. */
export const SWEEPER_LOCK_KEY = 6;
const SQLITE_LOCK_NAME = 'broker-sweeper';

export interface Lease {
  id: string;
  spiffeId: string;
  authMethod: 'x509' | 'jwt';
  issuerKind: string;
  issuerFingerprint: string;
  credential: string;
  backend: string;
  backendLeaseId?: string;
  reference: string;
  policyVersion: string;
  purpose?: string;
  issuedAt: Date;
  expiresAt: Date;
  revokedAt?: Date;
  revokeReason?: string;
  revokedBy?: string;
  revokeAttempts: number;
  revokeError?: string;
}

export function newLeaseId(): string {
  return timeOrderedId('lse_');
}

export function leaseFromRow(r: Selectable<BrokerLeasesTable>): Lease {
  return {
    id: r.id,
    spiffeId: r.spiffe_id,
    authMethod: r.auth_method,
    issuerKind: r.issuer_kind,
    issuerFingerprint: r.issuer_fingerprint,
    credential: r.credential,
    backend: r.backend,
    ...(r.backend_lease_id === null ? {} : { backendLeaseId: r.backend_lease_id }),
    reference: r.reference,
    policyVersion: r.policy_version,
    ...(r.purpose === null ? {} : { purpose: r.purpose }),
    issuedAt: new Date(r.issued_at),
    expiresAt: new Date(r.expires_at),
    ...(r.revoked_at === null ? {} : { revokedAt: new Date(r.revoked_at) }),
    ...(r.revoke_reason === null ? {} : { revokeReason: r.revoke_reason }),
    ...(r.revoked_by === null ? {} : { revokedBy: r.revoked_by }),
    revokeAttempts: Number(r.revoke_attempts ?? 0),
    ...(r.revoke_error === null ? {} : { revokeError: r.revoke_error }),
  };
}

export interface LeaseFilter {
  spiffeId?: string;
  credential?: string;
  /** Only leases not revoked yet. */
  active?: boolean;
  issuedSince?: Date;
  limit?: number;
}

export interface RevokeOutcome {
  outcome: 'revoked' | 'already-revoked' | 'busy' | 'failed' | 'not-found';
  lease?: Lease;
  error?: Error;
}

export interface LeaseManagerOptions {
  store: Store;
  writer: Writer;
  backends: ReadonlyMap<string, CredentialBackend>;
  logger: Logger;
  /** This process's id, recorded as claim holder and in audit records. */
  instance: string;
  clock: Clock;
  /** How long a claim protects a revocation in flight (default 300 s; longer than any backend timeout). */
  claimSeconds?: number;
  /** Back-off before a failed revocation is tried again (default 30 s). */
  retrySeconds?: number;
  /** Called after each recorded revocation (metrics). */
  onRevoked?: (record: AuditRecord) => void;
}

export interface SweepReport {
  /** False when another process holds the sweeper lock. */
  ran: boolean;
  revoked: string[];
  failed: { id: string; error: string }[];
  /** Due leases another process had claimed. */
  skipped: number;
}

export class LeaseManager {
  private readonly db: Kysely<BrokerTables>;
  private readonly claimMs: number;
  private readonly retryMs: number;
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<SweepReport> | undefined;
  private readonly auditLog: Logger;

  constructor(private readonly o: LeaseManagerOptions) {
    this.db = brokerDb(o.store);
    this.auditLog = auditLogger(o.logger);
    this.claimMs = (o.claimSeconds ?? 300) * 1000;
    this.retryMs = (o.retrySeconds ?? 30) * 1000;
  }

  async get(id: string): Promise<Lease | undefined> {
    const row = await this.db.selectFrom('broker_leases').selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : leaseFromRow(row);
  }

  async list(filter: LeaseFilter = {}): Promise<Lease[]> {
    let q = this.db.selectFrom('broker_leases').selectAll();
    if (filter.spiffeId !== undefined) q = q.where('spiffe_id', '=', filter.spiffeId);
    if (filter.credential !== undefined) q = q.where('credential', '=', filter.credential);
    if (filter.active === true) q = q.where('revoked_at', 'is', null);
    if (filter.issuedSince !== undefined) q = q.where('issued_at', '>=', filter.issuedSince.toISOString());
    const rows = await q
      .orderBy('issued_at', 'desc')
      .limit(filter.limit ?? 1000)
      .execute();
    return rows.map(leaseFromRow);
  }

  /** Counts for readiness, metrics and the dashboard. */
  async counts(): Promise<{ active: number; revoked: number; overdue: number }> {
    const now = this.now();
    const row = await this.db
      .selectFrom('broker_leases')
      .select([
        sql<number>`SUM(CASE WHEN revoked_at IS NULL THEN 1 ELSE 0 END)`.as('active'),
        sql<number>`SUM(CASE WHEN revoked_at IS NOT NULL THEN 1 ELSE 0 END)`.as('revoked'),
        sql<number>`SUM(CASE WHEN revoked_at IS NULL AND expires_at <= ${now} THEN 1 ELSE 0 END)`.as(
          'overdue',
        ),
      ])
      .executeTakeFirst();
    return {
      active: Number(row?.active ?? 0),
      revoked: Number(row?.revoked ?? 0),
      overdue: Number(row?.overdue ?? 0),
    };
  }

  /**
   * Claims a lease for revocation. `dueOnly`: only when it has expired (the sweeper).
   * Returns the lease when this process now holds the claim.
   */
  async claim(id: string, dueOnly: boolean): Promise<Lease | undefined> {
    const now = this.now();
    let q = this.db
      .updateTable('broker_leases')
      .set({
        claimed_by: this.o.instance,
        claimed_until: new Date(this.o.clock().getTime() + this.claimMs).toISOString(),
        revoke_attempts: sql`revoke_attempts + 1`,
      })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]));
    if (dueOnly) q = q.where('expires_at', '<=', now);
    if ((await this.write(q)) !== 1) return undefined;
    return this.get(id);
  }

  /**
   * One write through the store's batch path, as leases and audit records go: on SQLite
   * the writer thread's connection, so it never waits on that thread's lock with the
   * event loop blocked in SQLite's busy handler. Returns the rows it changed.
   */
  private async write(q: Compilable): Promise<number> {
    const [changed] = await this.o.store.batch([{ query: q.compile() }]);
    return changed ?? 0;
  }

  private async releaseClaim(id: string, error: string): Promise<void> {
    await this.write(
      this.db
        .updateTable('broker_leases')
        .set({
          claimed_by: null,
          claimed_until: new Date(this.o.clock().getTime() + this.retryMs).toISOString(),
          revoke_error: error.slice(0, 500),
        })
        .where('id', '=', id)
        .where('claimed_by', '=', this.o.instance),
    );
  }

  /**
   * Revokes one lease downstream and marks it, exactly once across processes.
   * `reason`: 'requested' (DELETE /v1/leases/:id) or 'expired' (the sweeper).
   */
  async revoke(
    id: string,
    reason: 'requested' | 'expired',
    context: Partial<AuditRecord> = {},
  ): Promise<RevokeOutcome> {
    const claimed = await this.claim(id, reason === 'expired');
    if (claimed === undefined) {
      const lease = await this.get(id);
      if (lease === undefined) return { outcome: 'not-found' };
      return { outcome: lease.revokedAt === undefined ? 'busy' : 'already-revoked', lease };
    }
    const backend = this.o.backends.get(claimed.backend);
    try {
      if (backend === undefined) {
        throw new Error(`backend "${claimed.backend}" of lease ${id} is not configured any more`);
      }
      if (claimed.backendLeaseId !== undefined) await backend.revoke(claimed.backendLeaseId);
    } catch (err) {
      await this.releaseClaim(id, (err as Error).message).catch(() => undefined);
      return { outcome: 'failed', lease: claimed, error: err as Error };
    }
    const at = this.now();
    const audit: AuditRecord = {
      id: newAuditId(),
      at,
      instance: this.o.instance,
      action: reason === 'expired' ? 'expire' : 'revoke',
      decision: 'allow',
      code: reason === 'expired' ? 'LEASE_EXPIRED' : 'LEASE_REVOKED',
      reason:
        reason === 'expired'
          ? `lease expired at ${claimed.expiresAt.toISOString()} and was revoked downstream`
          : 'the holder ended the lease; revoked downstream',
      status: 200,
      spiffeId: claimed.spiffeId,
      authMethod: claimed.authMethod,
      issuerKind: claimed.issuerKind,
      issuerFingerprint: claimed.issuerFingerprint,
      credential: claimed.credential,
      policyVersion: claimed.policyVersion,
      leaseId: claimed.id,
      reference: claimed.reference,
      ...context,
    };
    try {
      await this.o.writer.write({
        revocations: [{ id, claimedBy: this.o.instance, revokedAt: at, reason }],
        audits: [audit],
      });
    } catch (err) {
      await this.releaseClaim(id, `revoked downstream but not recorded: ${(err as Error).message}`).catch(
        () => undefined,
      );
      return { outcome: 'failed', lease: claimed, error: err as Error };
    }
    logAudit(this.auditLog, audit);
    try {
      this.o.onRevoked?.(audit);
    } catch {
      // metrics must never fail a revocation
    }
    return {
      outcome: 'revoked',
      lease: { ...claimed, revokedAt: new Date(at), revokeReason: reason, revokedBy: this.o.instance },
    };
  }

  /** Revokes every expired lease once, if this process gets the sweeper lock. */
  sweep(limit = 500): Promise<SweepReport> {
    // One sweep at a time in this process; a second caller shares it.
    this.sweeping ??= this.withSweeperLock(() => this.sweepDue(limit)).finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  /** Sweeps every `intervalMs` until `stop()`. Failures are logged, never thrown. */
  start(intervalMs: number): void {
    this.stop();
    const tick = async () => {
      try {
        const r = await this.sweep();
        if (r.revoked.length > 0 || r.failed.length > 0)
          this.o.logger.info(
            { revoked: r.revoked.length, failed: r.failed.length, skipped: r.skipped },
            'lease sweeper revoked expired leases',
          );
      } catch (err) {
        this.o.logger.warn({ err: { message: (err as Error).message } }, 'lease sweeper failed; will retry');
      }
    };
    this.timer = setInterval(() => void tick(), intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.sweeping?.catch(() => undefined);
  }

  private async sweepDue(limit: number): Promise<SweepReport> {
    const report: SweepReport = { ran: true, revoked: [], failed: [], skipped: 0 };
    const now = this.now();
    const due = await this.db
      .selectFrom('broker_leases')
      .select('id')
      .where('revoked_at', 'is', null)
      .where('expires_at', '<=', now)
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
      .orderBy('expires_at')
      .limit(limit)
      .execute();
    for (const { id } of due) {
      const r = await this.revoke(id, 'expired');
      if (r.outcome === 'revoked') report.revoked.push(id);
      else if (r.outcome === 'failed') report.failed.push({ id, error: r.error?.message ?? 'failed' });
      else report.skipped++;
    }
    return report;
  }

  private async withSweeperLock(fn: () => Promise<SweepReport>): Promise<SweepReport> {
    const skipped: SweepReport = { ran: false, revoked: [], failed: [], skipped: 0 };
    if (this.o.store.dialect === 'postgres') {
      return this.db.connection().execute(async (conn) => {
        const got = await sql<{
          ok: boolean;
        }>`SELECT pg_try_advisory_lock(${ADVISORY_LOCK_NAMESPACE}, ${SWEEPER_LOCK_KEY}) AS ok`.execute(conn);
        if (got.rows[0]?.ok !== true) return skipped;
        try {
          return await fn();
        } finally {
          await sql`SELECT pg_advisory_unlock(${ADVISORY_LOCK_NAMESPACE}, ${SWEEPER_LOCK_KEY})`.execute(conn);
        }
      });
    }
    const now = this.now();
    const until = new Date(this.o.clock().getTime() + this.claimMs).toISOString();
    await this.write(
      this.db
        .insertInto('broker_locks')
        .values({ name: SQLITE_LOCK_NAME, holder: this.o.instance, until })
        .onConflict((oc) =>
          oc
            .column('name')
            .doUpdateSet({ holder: sql`excluded.holder`, until: sql`excluded.until` })
            .where((eb) =>
              eb.or([eb('broker_locks.until', '<', now), eb('broker_locks.holder', '=', this.o.instance)]),
            ),
        ),
    );
    const held = await this.db
      .selectFrom('broker_locks')
      .select('holder')
      .where('name', '=', SQLITE_LOCK_NAME)
      .executeTakeFirst();
    if (held?.holder !== this.o.instance) return skipped;
    try {
      return await fn();
    } finally {
      await this.write(
        this.db
          .deleteFrom('broker_locks')
          .where('name', '=', SQLITE_LOCK_NAME)
          .where('holder', '=', this.o.instance),
      );
    }
  }

  private now(): string {
    return this.o.clock().toISOString();
  }
}

// ---------------------------------------------------------------- evidence for static-key retirement

export interface CredentialSighting {
  credential: string;
  spiffeId: string;
  firstSeen: Date;
  lastSeen: Date;
  lastAllowed?: Date;
  lastDenied?: Date;
  allowedCount: number;
  deniedCount: number;
  lastIssuerKind?: string;
  lastLeaseId?: string;
}

/**
 * Who asked the broker for `credential`, per SPIFFE ID, allowed or denied (issue 8's
 * evidence gates: "every expected consumer fetched it within the window; no
 * unexpected SPIFFE ID asked for it"). `since` keeps only IDs seen since then.
 */
export async function credentialSightings(
  store: Store,
  credential: string,
  opts: { since?: Date } = {},
): Promise<CredentialSighting[]> {
  let q = brokerDb(store)
    .selectFrom('broker_credential_sightings')
    .selectAll()
    .where('credential', '=', credential);
  if (opts.since !== undefined) q = q.where('last_seen', '>=', opts.since.toISOString());
  const rows = await q.orderBy('spiffe_id').execute();
  return rows.map((r) => ({
    credential: r.credential,
    spiffeId: r.spiffe_id,
    firstSeen: new Date(r.first_seen),
    lastSeen: new Date(r.last_seen),
    ...(r.last_allowed === null ? {} : { lastAllowed: new Date(r.last_allowed) }),
    ...(r.last_denied === null ? {} : { lastDenied: new Date(r.last_denied) }),
    allowedCount: Number(r.allowed_count),
    deniedCount: Number(r.denied_count),
    ...(r.last_issuer_kind === null ? {} : { lastIssuerKind: r.last_issuer_kind }),
    ...(r.last_lease_id === null ? {} : { lastLeaseId: r.last_lease_id }),
  }));
}

/** When a lease of `credential` was last issued (issue 8: "no lease of the static value for the window"). */
export async function lastLeaseIssued(store: Store, credential: string): Promise<Date | undefined> {
  const row = await brokerDb(store)
    .selectFrom('broker_leases')
    .select(sql<string | null>`MAX(issued_at)`.as('last'))
    .where('credential', '=', credential)
    .executeTakeFirst();
  return row?.last == null ? undefined : new Date(row.last);
}
