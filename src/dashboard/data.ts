/**
 * The only I/O of the dashboard: one read of the store into a `Snapshot` (read-only,
 * but for turning imports not yet seen into observations first, as every cutover
 * command does, so progress never lags an import). `loadDashboard` is the snapshot run
 * through the pure `dashboardData`.
 */
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { brokerDb } from '../credential-broker/schema.js';
import { type StaticKeyFunnel, staticKeyFunnel } from '../credential-broker/static-keys/funnel.js';
import { StaticKeyLedger } from '../credential-broker/static-keys/service.js';
import { KEY_STATES } from '../credential-broker/static-keys/states.js';
import { recordObservationsFromInventory } from '../cutover/observations.js';
import { dbOf } from '../cutover/schema.js';
import type { ScopeLevel } from '../cutover/scope.js';
import type { Clock } from '../spiffe/errors.js';
import { loadTrustRoots } from '../store/dual-trust-repo.js';
import { loadInventory, type Store } from '../store/index.js';
import {
  type AuditCountRaw,
  type CaCertificateRaw,
  type DashboardData,
  dashboardData,
  type GateEvidenceRaw,
  type LeaseCountRaw,
  type Snapshot,
  type TransitionRaw,
} from './model.js';

export interface SnapshotOptions {
  clock?: Clock;
  /** The planned overlap window in seconds (default 30 days). */
  overlapSeconds?: number;
  /** Broker activity shown: this far back (default 24 h). */
  activitySeconds?: number;
  /** Transitions shown, newest first (default 200). */
  historyLimit?: number;
  brokerConfigured?: boolean;
  /** Ingest imports not yet turned into observations (default true). */
  ingest?: boolean;
}

const EMPTY_FUNNEL: StaticKeyFunnel = {
  total: 0,
  states: KEY_STATES.map((state) => ({ state, count: 0 })),
  ready: [],
  interrupted: [],
  blockers: [],
};

export async function readSnapshot(store: Store, opts: SnapshotOptions = {}): Promise<Snapshot> {
  const now = (opts.clock ?? (() => new Date()))();
  if (opts.ingest !== false) {
    try {
      await recordObservationsFromInventory(store, opts.clock === undefined ? {} : { clock: opts.clock });
    } catch {
      // Progress is then shown as of the last ingest; the next read tries again.
    }
  }
  const db = dbOf(store);
  const bdb = brokerDb(store);
  const since = new Date(now.getTime() - (opts.activitySeconds ?? 86_400) * 1000).toISOString();
  const nowIso = now.toISOString();

  const [scopes, workloads, gates, transitions, inventory, roots, audit, leases, staticKeys] = await Promise.all([
    db.selectFrom('cutover_scopes').selectAll().execute(),
    db
      .selectFrom('cutover_workloads')
      .select(['mesh', 'cluster', 'namespace', 'last_issuer_kind', sql<number>`COUNT(*)`.as('n')])
      .groupBy(['mesh', 'cluster', 'namespace', 'last_issuer_kind'])
      .execute(),
    latestGates(store),
    db
      .selectFrom('cutover_transitions')
      .selectAll()
      .orderBy('seq', 'desc')
      .limit(opts.historyLimit ?? 200)
      .execute(),
    loadInventory(store, { role: ['anchor', 'intermediate'], problems: 'none' }),
    loadTrustRoots(store),
    bdb
      .selectFrom('broker_audit')
      .select([
        sql<string>`SUBSTR(at, 1, 16)`.as('minute'),
        'credential',
        'decision',
        'code',
        sql<number>`COUNT(*)`.as('n'),
      ])
      .where('at', '>=', since)
      .groupBy([sql`SUBSTR(at, 1, 16)`, 'credential', 'decision', 'code'])
      .execute(),
    bdb
      .selectFrom('broker_leases')
      .select([
        'credential',
        sql<string>`CASE WHEN revoked_at IS NOT NULL THEN 'revoked' WHEN expires_at <= ${nowIso} THEN 'expired' ELSE 'active' END`.as(
          'state',
        ),
        sql<number>`COUNT(*)`.as('n'),
      ])
      .groupBy([
        'credential',
        sql`CASE WHEN revoked_at IS NOT NULL THEN 'revoked' WHEN expires_at <= ${nowIso} THEN 'expired' ELSE 'active' END`,
      ])
      .execute(),
    readFunnel(store, opts.clock),
  ]);

  const certificates: CaCertificateRaw[] = inventory.certificates.map((c) => ({
    fingerprint: c.fingerprint,
    role: c.role as 'anchor' | 'intermediate',
    mesh: c.mesh,
    cluster: c.cluster,
    subject: c.subject,
    notBefore: c.notBefore,
    notAfter: c.notAfter,
  }));

  return {
    now: nowIso,
    scopes: scopes.map((r) => ({
      scope: r.scope,
      parent: r.parent,
      level: r.level as ScopeLevel,
      mesh: r.mesh,
      cluster: r.cluster,
      namespace: r.namespace,
      phase: r.phase,
      version: Number(r.version),
      updatedAt: r.updated_at,
      updatedBy: r.updated_by,
    })),
    workloads: workloads.map((w) => ({
      mesh: w.mesh,
      cluster: w.cluster,
      namespace: w.namespace,
      issuerKind: w.last_issuer_kind,
      count: Number(w.n),
    })),
    gates,
    transitions: transitions.map(
      (t): TransitionRaw => ({
        seq: Number(t.seq),
        scope: t.scope,
        from: t.from_phase,
        to: t.to_phase,
        kind: t.kind,
        at: t.at,
        by: t.by_user,
        reason: t.reason,
        evidenceId: t.evidence_id,
        via: t.via,
      }),
    ),
    certificates,
    trustRoots: roots
      .filter((r) => r.kind === 'x509-svid')
      .map((r) => ({
        origin: r.origin,
        trustDomain: r.trustDomain,
        fingerprint: fingerprintOf(r.keyId, r.material),
        subject: r.subject,
        notBefore: r.notBefore,
        notAfter: r.notAfter,
      })),
    audit: audit.map(
      (a): AuditCountRaw => ({
        minute: a.minute,
        credential: a.credential,
        decision: a.decision,
        code: a.code,
        count: Number(a.n),
      }),
    ),
    activitySince: since,
    leases: leases.map(
      (l): LeaseCountRaw => ({
        credential: l.credential,
        state: l.state as LeaseCountRaw['state'],
        count: Number(l.n),
      }),
    ),
    staticKeys,
    overlapSeconds: opts.overlapSeconds ?? 30 * 86_400,
    brokerConfigured: opts.brokerConfigured ?? false,
  };
}

export async function loadDashboard(store: Store, opts: SnapshotOptions = {}): Promise<DashboardData> {
  return dashboardData(await readSnapshot(store, opts));
}

/** The latest evaluation of each (scope, from, to) gate. */
async function latestGates(store: Store): Promise<GateEvidenceRaw[]> {
  const db = dbOf(store);
  const rows = await db
    .selectFrom('cutover_gate_evidence as g')
    .selectAll('g')
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('cutover_gate_evidence as h')
            .select('h.id')
            .whereRef('h.scope', '=', 'g.scope')
            .whereRef('h.from_phase', '=', 'g.from_phase')
            .whereRef('h.phase', '=', 'g.phase')
            .whereRef('h.evaluated_at', '>', 'g.evaluated_at'),
        ),
      ),
    )
    .execute();
  return rows.map((g) => ({
    scope: g.scope,
    fromPhase: g.from_phase,
    phase: g.phase,
    evaluatedAt: g.evaluated_at,
    passed: Number(g.passed) === 1,
    evidence: parseJson(g.evidence),
  }));
}

async function readFunnel(store: Store, clock?: Clock): Promise<StaticKeyFunnel> {
  try {
    const ledger = new StaticKeyLedger({ store, ...(clock === undefined ? {} : { clock }) });
    return staticKeyFunnel(await ledger.list());
  } catch {
    return EMPTY_FUNNEL;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function fingerprintOf(keyId: string, material: string): string {
  if (/^[0-9a-f]{64}$/.test(keyId)) return keyId;
  return createHash('sha256').update(Buffer.from(material, 'base64')).digest('hex');
}
