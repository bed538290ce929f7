/**
 * The only I/O of the dashboard: one read of the store into a `Snapshot`, through the
 * other rooms' own readers (`cutoverStatus` and `loadHistory` of the cutover, the
 * static-key ledger's `list` + `staticKeyFunnel`, the inventory and trust-root
 * repositories) plus two GROUP BYs over the broker's audit and lease tables. Read-only,
 * but for `cutoverStatus` turning imports not yet seen into observations first, as every
 * cutover command does. `loadDashboard` runs the snapshot through the pure `dashboardData`.
 */
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { brokerDb } from '../credential-broker/schema.js';
import { type StaticKeyFunnel, staticKeyFunnel } from '../credential-broker/static-keys/funnel.js';
import { StaticKeyLedger } from '../credential-broker/static-keys/service.js';
import { KEY_STATES } from '../credential-broker/static-keys/states.js';
import { loadHistory } from '../cutover/history.js';
import { cutoverStatus } from '../cutover/status.js';
import type { Clock } from '../spiffe/errors.js';
import { loadTrustRoots } from '../store/dual-trust-repo.js';
import { loadInventory, type Store } from '../store/index.js';
import {
  type AuditCountRaw,
  type CaCertificateRaw,
  type DashboardData,
  dashboardData,
  type LeaseCountRaw,
  type Snapshot,
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
  /** Turn imports not yet seen into observations first, as every cutover command does (default true). */
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
  const clock = () => now;
  const bdb = brokerDb(store);
  const since = new Date(now.getTime() - (opts.activitySeconds ?? 86_400) * 1000).toISOString();
  const nowIso = now.toISOString();
  const overlapSeconds = opts.overlapSeconds ?? 30 * 86_400;

  // The cutover's own status (it ingests new imports first): phases, progress, next gates.
  const status = await cutoverStatus(store, { clock, overlapSeconds, ingest: opts.ingest !== false });
  const [history, inventory, roots, audit, leases, staticKeys] = await Promise.all([
    loadHistory(store),
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
    readFunnel(store, clock),
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
  const limit = opts.historyLimit ?? 200;

  return {
    now: nowIso,
    status,
    transitions: history.slice(-limit).map((t) => ({ ...t, evidence: t.evidence })),
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
    overlapSeconds,
    brokerConfigured: opts.brokerConfigured ?? false,
  };
}

export async function loadDashboard(store: Store, opts: SnapshotOptions = {}): Promise<DashboardData> {
  return dashboardData(await readSnapshot(store, opts));
}

async function readFunnel(store: Store, clock?: Clock): Promise<StaticKeyFunnel> {
  try {
    const ledger = new StaticKeyLedger({ store, ...(clock === undefined ? {} : { clock }) });
    return staticKeyFunnel(await ledger.list());
  } catch {
    return EMPTY_FUNNEL;
  }
}

function fingerprintOf(keyId: string, material: string): string {
  if (/^[0-9a-f]{64}$/.test(keyId)) return keyId;
  return createHash('sha256').update(Buffer.from(material, 'base64')).digest('hex');
}
