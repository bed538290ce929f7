/**
 * The dashboard's numbers, assembled by pure functions from a snapshot of the store
 * (`readSnapshot` in data.ts is the only part that does I/O). The page, the JSON API and
 * the Prometheus gauges all read the same `DashboardData`, so they cannot disagree.
 */
import { createHash } from 'node:crypto';
import type { StaticKeyFunnel } from '../credential-broker/static-keys/funnel.js';
import type { Transition } from '../cutover/history.js';
import { PHASES, type ScopeLevel } from '../cutover/scope.js';
import type { StatusReport } from '../cutover/status.js';

// ---------------------------------------------------------------- the snapshot (raw rows)

export interface CaCertificateRaw {
  fingerprint: string;
  role: 'anchor' | 'intermediate';
  mesh: string | null;
  cluster: string | null;
  subject: string;
  notBefore: string;
  notAfter: string;
}

export interface TrustRootRaw {
  origin: 'spire' | 'federated';
  trustDomain: string;
  fingerprint: string;
  subject: string | null;
  notBefore: string | null;
  notAfter: string | null;
}

/** Broker decisions per minute (`YYYY-MM-DDTHH:MM`), credential, decision and code. */
export interface AuditCountRaw {
  minute: string;
  credential: string | null;
  decision: 'allow' | 'deny' | 'error';
  code: string;
  count: number;
}

export interface LeaseCountRaw {
  credential: string;
  state: 'active' | 'expired' | 'revoked';
  count: number;
}

export interface Snapshot {
  now: string;
  /** `cutoverStatus`: every scope with its phase, progress and next gate. */
  status: StatusReport;
  /** `loadHistory`, oldest first. */
  transitions: Transition[];
  certificates: CaCertificateRaw[];
  trustRoots: TrustRootRaw[];
  /** Since `activitySince`. */
  audit: AuditCountRaw[];
  activitySince: string;
  leases: LeaseCountRaw[];
  staticKeys: StaticKeyFunnel;
  /** The planned overlap window, seconds. */
  overlapSeconds: number;
  brokerConfigured: boolean;
}

// ---------------------------------------------------------------- what is shown

export interface Blocker {
  code: string;
  message: string;
  /** The gate check that named it. */
  check?: string;
  /** Aggregated blockers: how many (`cutover plan` names each). */
  count?: number;
  examples?: string[];
}

export interface ScopeView {
  scope: string;
  level: ScopeLevel;
  parent: string | null;
  phase: string;
  workloads: number;
  onSpire: number;
  onMesh: number;
  /** Not yet classified, or federated. */
  other: number;
  /** onSpire / workloads (0 when there are none). */
  spireShare: number;
  next: { phase: string; ready: boolean; blockers: Blocker[] } | null;
  updatedAt: string;
  updatedBy: string | null;
}

export type TimelineKind = 'mesh-root' | 'mesh-issuer' | 'spire-root' | 'federated-root' | 'overlap';

export interface TimelineItem {
  kind: TimelineKind;
  label: string;
  /** Fingerprint for certificates, scope for overlap windows. */
  id: string;
  start: string;
  end: string;
  /** Seconds from now to `end` (negative: in the past). */
  secondsLeft: number;
  /** Overlap windows: planned (not started) or running. Certificates: expiring inside an overlap window. */
  status: 'ok' | 'expiring' | 'expired' | 'planned' | 'running';
  trustDomain: string | null;
  mesh: string | null;
}

export interface ActivityBucket {
  start: string;
  issued: number;
  denied: number;
  errors: number;
}

export interface BrokerView {
  configured: boolean;
  since: string;
  bucketSeconds: number;
  buckets: ActivityBucket[];
  totals: { allow: number; deny: number; error: number };
  byCredential: { credential: string; allow: number; deny: number; error: number }[];
  byReason: { code: string; decision: 'allow' | 'deny' | 'error'; count: number }[];
  /** Every (credential, decision, code) count since `since`: what /metrics exports. */
  requests: { credential: string; decision: 'allow' | 'deny' | 'error'; code: string; count: number }[];
  leases: { credential: string; active: number; expired: number; revoked: number }[];
}

export interface HistoryEntry {
  scope: string;
  from: string;
  to: string;
  kind: 'advance' | 'rollback';
  at: string;
  by: string;
  reason: string | null;
  evidence: string | null;
  via: string | null;
}

export interface DashboardData {
  generatedAt: string;
  /** Changes whenever anything shown changes (not with the time alone). */
  digest: string;
  summary: {
    scopes: number;
    workloads: number;
    onSpire: number;
    spireShare: number;
    phases: { phase: string; scopes: number }[];
    nextExpiry: { label: string; at: string } | null;
  };
  scopes: ScopeView[];
  timeline: { now: string; overlapSeconds: number; items: TimelineItem[] };
  staticKeys: StaticKeyFunnel;
  broker: BrokerView;
  history: HistoryEntry[];
}

// ---------------------------------------------------------------- assembly

export function dashboardData(s: Snapshot): DashboardData {
  const scopes = scopeViews(s);
  const timeline = timelineOf(s);
  const broker = brokerView(s);
  const history = historyOf(s);
  const meshes = scopes.filter((x) => x.level === 'mesh');
  const workloads = meshes.reduce((n, x) => n + x.workloads, 0);
  const onSpire = meshes.reduce((n, x) => n + x.onSpire, 0);
  const upcoming = timeline.items
    .filter((i) => i.kind !== 'overlap' && i.secondsLeft > 0)
    .sort((a, b) => a.secondsLeft - b.secondsLeft)[0];
  const phases = PHASES.map((phase) => ({ phase, scopes: scopes.filter((x) => x.phase === phase).length }));
  const body = {
    summary: {
      scopes: scopes.length,
      workloads,
      onSpire,
      spireShare: share(onSpire, workloads),
      phases,
      nextExpiry: upcoming === undefined ? null : { label: upcoming.label, at: upcoming.end },
    },
    scopes,
    timeline,
    staticKeys: s.staticKeys,
    broker,
    history,
  };
  return { generatedAt: s.now, digest: digestOf(body), ...body };
}

function share(part: number, whole: number): number {
  return whole === 0 ? 0 : Math.round((part / whole) * 10_000) / 10_000;
}

/** Digest of what is shown, without the parts that move with the clock alone. */
function digestOf(body: Omit<DashboardData, 'generatedAt' | 'digest'>): string {
  const stable = {
    ...body,
    timeline: {
      ...body.timeline,
      now: '',
      items: body.timeline.items.map((i) => ({ ...i, secondsLeft: 0 })),
    },
  };
  return createHash('sha256').update(JSON.stringify(stable)).digest('hex').slice(0, 16);
}

export function scopeViews(s: Snapshot): ScopeView[] {
  return [...s.status.scopes]
    .sort((a, b) => cmp(a.scope, b.scope))
    .map((x) => ({
      scope: x.scope,
      level: x.level,
      parent: x.parent,
      phase: x.phase,
      workloads: x.workloads,
      onSpire: x.onSpire,
      onMesh: x.onMesh,
      other: x.onOther,
      spireShare: share(x.onSpire, x.workloads),
      next:
        x.next === null
          ? null
          : {
              phase: x.next.phase,
              ready: x.next.ready,
              blockers: x.next.blockers.map((b) => ({
                code: b.code,
                message: b.message,
                ...(b.check === undefined ? {} : { check: b.check }),
                ...(b.count === undefined ? {} : { count: b.count }),
                ...(b.examples === undefined ? {} : { examples: b.examples }),
              })),
            },
      updatedAt: x.updatedAt,
      updatedBy: x.updatedBy,
    }));
}

export function timelineOf(s: Snapshot): DashboardData['timeline'] {
  const nowMs = Date.parse(s.now);
  const items: TimelineItem[] = [];
  const secondsLeft = (end: string) => Math.round((Date.parse(end) - nowMs) / 1000);

  // Planned overlap windows, one per cluster: from when the cluster (or anything inside it)
  // first entered dual-trust, for the planned overlap; planned from now while nothing moved.
  const firstDualTrust = new Map<string, string>();
  for (const t of s.transitions) {
    if (t.to !== 'dual-trust' || t.kind !== 'advance') continue;
    const parts = t.scope.split('/');
    if (parts.length < 2) continue;
    const cluster = `${parts[0]}/${parts[1]}`;
    const cur = firstDualTrust.get(cluster);
    if (cur === undefined || t.at < cur) firstDualTrust.set(cluster, t.at);
  }
  const windows: { mesh: string; start: number; end: number }[] = [];
  for (const c of s.status.scopes
    .filter((x) => x.level === 'cluster')
    .sort((a, b) => cmp(a.scope, b.scope))) {
    const mesh = c.scope.split('/')[0]!;
    const started = firstDualTrust.get(c.scope);
    const start = started === undefined ? nowMs : Date.parse(started);
    const end = start + s.overlapSeconds * 1000;
    const endIso = new Date(end).toISOString();
    windows.push({ mesh, start, end });
    items.push({
      kind: 'overlap',
      label: `overlap ${c.scope}`,
      id: c.scope,
      start: new Date(start).toISOString(),
      end: endIso,
      secondsLeft: secondsLeft(endIso),
      status: started === undefined ? 'planned' : 'running',
      trustDomain: null,
      mesh,
    });
  }
  const statusOf = (mesh: string | null, notAfter: string): TimelineItem['status'] => {
    const end = Date.parse(notAfter);
    if (end <= nowMs) return 'expired';
    const horizon = nowMs + s.overlapSeconds * 1000;
    const inWindow = windows.some((w) => (mesh === null || w.mesh === mesh) && end < w.end);
    return end < horizon || inWindow ? 'expiring' : 'ok';
  };
  for (const c of [...s.certificates].sort(
    (a, b) => cmp(a.notAfter, b.notAfter) || cmp(a.fingerprint, b.fingerprint),
  )) {
    items.push({
      kind: c.role === 'anchor' ? 'mesh-root' : 'mesh-issuer',
      label: `${c.role === 'anchor' ? 'root' : 'issuer'} ${c.subject || '(empty subject)'}${c.cluster ? ` (${c.mesh ?? '-'}/${c.cluster})` : c.mesh ? ` (${c.mesh})` : ''}`,
      id: c.fingerprint,
      start: c.notBefore,
      end: c.notAfter,
      secondsLeft: secondsLeft(c.notAfter),
      status: statusOf(c.mesh, c.notAfter),
      trustDomain: null,
      mesh: c.mesh,
    });
  }
  for (const r of [...s.trustRoots].sort(
    (a, b) => cmp(a.trustDomain, b.trustDomain) || cmp(a.fingerprint, b.fingerprint),
  )) {
    if (r.notAfter === null) continue;
    const nowIso = new Date(nowMs).toISOString();
    items.push({
      kind: r.origin === 'spire' ? 'spire-root' : 'federated-root',
      label: `${r.origin === 'spire' ? 'SPIRE' : 'federated'} root ${r.trustDomain}${r.subject ? ` (${r.subject})` : ''}`,
      id: r.fingerprint,
      start: r.notBefore ?? nowIso,
      end: r.notAfter,
      secondsLeft: secondsLeft(r.notAfter),
      status:
        Date.parse(r.notAfter) <= nowMs
          ? 'expired'
          : Date.parse(r.notAfter) < nowMs + s.overlapSeconds * 1000
            ? 'expiring'
            : 'ok',
      trustDomain: r.trustDomain,
      mesh: null,
    });
  }
  return { now: s.now, overlapSeconds: s.overlapSeconds, items };
}

const BUCKETS = [60, 300, 900, 3600, 4 * 3600];
const MAX_BUCKETS = 48;

export function brokerView(s: Snapshot): BrokerView {
  const nowMs = Date.parse(s.now);
  const sinceMs = Date.parse(s.activitySince);
  const first = s.audit.reduce((m, a) => Math.min(m, Date.parse(`${a.minute}:00.000Z`)), nowMs);
  const spanStart = Math.max(sinceMs, Math.min(first, nowMs - 30 * 60_000));
  const span = nowMs - spanStart;
  const bucketSeconds = BUCKETS.find((b) => span / (b * 1000) <= MAX_BUCKETS) ?? BUCKETS[BUCKETS.length - 1]!;
  const bucketMs = bucketSeconds * 1000;
  const startMs = Math.floor(spanStart / bucketMs) * bucketMs;
  const count = Math.max(1, Math.floor((nowMs - startMs) / bucketMs) + 1);
  const buckets: ActivityBucket[] = Array.from({ length: count }, (_, i) => ({
    start: new Date(startMs + i * bucketMs).toISOString(),
    issued: 0,
    denied: 0,
    errors: 0,
  }));
  const totals = { allow: 0, deny: 0, error: 0 };
  const byCredential = new Map<string, { allow: number; deny: number; error: number }>();
  const byReason = new Map<string, { code: string; decision: 'allow' | 'deny' | 'error'; count: number }>();
  const requests = new Map<string, BrokerView['requests'][number]>();
  for (const a of s.audit) {
    const t = Date.parse(`${a.minute}:00.000Z`);
    const i = Math.floor((t - startMs) / bucketMs);
    const b = buckets[Math.min(Math.max(i, 0), buckets.length - 1)]!;
    if (a.decision === 'allow') b.issued += a.count;
    else if (a.decision === 'deny') b.denied += a.count;
    else b.errors += a.count;
    totals[a.decision] += a.count;
    const cred = a.credential ?? '(none)';
    const c = byCredential.get(cred) ?? { allow: 0, deny: 0, error: 0 };
    c[a.decision] += a.count;
    byCredential.set(cred, c);
    const rk = `${a.decision}\u0000${a.code}`;
    const r = byReason.get(rk) ?? { code: a.code, decision: a.decision, count: 0 };
    r.count += a.count;
    byReason.set(rk, r);
    const qk = `${cred}\u0000${a.decision}\u0000${a.code}`;
    const q = requests.get(qk) ?? { credential: cred, decision: a.decision, code: a.code, count: 0 };
    q.count += a.count;
    requests.set(qk, q);
  }
  const leases = new Map<string, { credential: string; active: number; expired: number; revoked: number }>();
  for (const l of s.leases) {
    const e = leases.get(l.credential) ?? { credential: l.credential, active: 0, expired: 0, revoked: 0 };
    e[l.state] += l.count;
    leases.set(l.credential, e);
  }
  return {
    configured: s.brokerConfigured,
    since: new Date(startMs).toISOString(),
    bucketSeconds,
    buckets,
    totals,
    byCredential: [...byCredential.entries()]
      .map(([credential, c]) => ({ credential, ...c }))
      .sort((a, b) => cmp(a.credential, b.credential)),
    byReason: [...byReason.values()].sort((a, b) => b.count - a.count || cmp(a.code, b.code)),
    requests: [...requests.values()].sort(
      (a, b) => cmp(a.credential, b.credential) || cmp(a.decision, b.decision) || cmp(a.code, b.code),
    ),
    leases: [...leases.values()].sort((a, b) => cmp(a.credential, b.credential)),
  };
}

export function historyOf(s: Snapshot): HistoryEntry[] {
  return [...s.transitions]
    .sort((a, b) => b.seq - a.seq)
    .map((t) => ({
      scope: t.scope,
      from: t.from,
      to: t.to,
      kind: t.kind,
      at: t.at,
      by: t.by,
      reason: t.reason,
      evidence: evidenceSummary(t.evidence),
      via: t.via,
    }));
}

/** One line for the evidence an advance passed on: the checks it ran. */
export function evidenceSummary(evidence: Record<string, unknown> | null): string | null {
  if (evidence === null) return null;
  const checks = evidence.checks;
  if (Array.isArray(checks)) {
    const ids = checks
      .map((c) => (typeof c === 'object' && c !== null ? (c as { id?: unknown }).id : undefined))
      .filter((id): id is string => typeof id === 'string');
    return ids.length > 0 ? `passed: ${ids.join(', ')}` : `${checks.length} check(s) passed`;
  }
  return 'gate evidence recorded';
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
