import { describe, expect, it } from 'vitest';
import {
  brokerView,
  dashboardData,
  evidenceSummary,
  type Snapshot,
  timelineOf,
} from '../../src/dashboard/model.js';
import { renderPage } from '../../src/dashboard/render.js';

const NOW = '2026-03-10T12:00:00.000Z';
const DAY = 86_400_000;
const at = (days: number) => new Date(Date.parse(NOW) + days * DAY).toISOString();

function snapshot(over: Partial<Snapshot> = {}): Snapshot {
  return {
    now: NOW,
    status: {
      evaluatedAt: NOW,
      scopes: [
        scope('istio', 'mesh', null, 'inventoried', 4, 1, 3),
        scope('istio/east', 'cluster', 'istio', 'dual-trust', 4, 1, 3),
        scope('istio/east/a', 'namespace', 'istio/east', 'dual-issue', 4, 1, 3),
      ],
    },
    transitions: [
      {
        scope: 'istio/east',
        from: 'inventoried',
        to: 'dual-trust',
        at: at(-5),
        by: 'ops',
        reason: null,
        evidence: { checks: [{ id: 'mapping' }, { id: 'spire-roots' }] },
        kind: 'advance',
        via: null,
        version: 1,
        seq: 1,
      },
    ],
    certificates: [
      {
        fingerprint: 'a'.repeat(64),
        role: 'anchor',
        mesh: 'istio',
        cluster: 'east',
        subject: 'CN=Root',
        notBefore: at(-300),
        notAfter: at(3000),
      },
      {
        fingerprint: 'b'.repeat(64),
        role: 'intermediate',
        mesh: 'istio',
        cluster: 'east',
        subject: 'CN=Issuer',
        notBefore: at(-300),
        notAfter: at(10),
      },
    ],
    trustRoots: [
      {
        origin: 'spire',
        trustDomain: 'example.org',
        fingerprint: 'c'.repeat(64),
        subject: 'CN=SPIRE',
        notBefore: at(-1),
        notAfter: at(-0.5),
      },
    ],
    audit: [
      { minute: '2026-03-10T11:50', credential: 'db', decision: 'allow', code: 'OK', count: 3 },
      { minute: '2026-03-10T11:55', credential: 'db', decision: 'deny', code: 'POLICY_NO_RULE', count: 2 },
      { minute: '2026-03-10T11:59', credential: null, decision: 'deny', code: 'UNAUTHENTICATED', count: 1 },
    ],
    activitySince: at(-1),
    leases: [
      { credential: 'db', state: 'active', count: 2 },
      { credential: 'db', state: 'revoked', count: 1 },
    ],
    staticKeys: { total: 0, states: [], ready: [], interrupted: [], blockers: [] },
    overlapSeconds: 30 * 86_400,
    brokerConfigured: true,
    ...over,
  };
}

function scope(
  name: string,
  level: 'mesh' | 'cluster' | 'namespace',
  parent: string | null,
  phase: 'inventoried' | 'dual-trust' | 'dual-issue',
  n: number,
  spire: number,
  mesh: number,
) {
  return {
    scope: name,
    phase,
    workloads: n,
    onSpire: spire,
    onMesh: mesh,
    onOther: n - spire - mesh,
    next: {
      phase: 'dual-trust' as const,
      ready: false,
      blockers: [{ code: 'SPIRE_ROOTS_UNKNOWN' as const, message: 'no SPIRE root' }],
    },
    level,
    parent,
    version: 0,
    updatedAt: at(-5),
    updatedBy: null,
  };
}

describe('dashboardData (pure)', () => {
  it('sums progress over meshes and keeps each scope as the cutover reports it', () => {
    const d = dashboardData(snapshot());
    expect(d.summary).toMatchObject({ scopes: 3, workloads: 4, onSpire: 1, spireShare: 0.25 });
    expect(d.scopes[2]).toMatchObject({ scope: 'istio/east/a', spireShare: 0.25, next: { ready: false } });
    expect(d.history[0]).toMatchObject({ scope: 'istio/east', evidence: 'passed: mapping, spire-roots' });
  });

  it('times the overlap window from the first step into dual-trust and flags what expires inside it', () => {
    const t = timelineOf(snapshot());
    const overlap = t.items.find((i) => i.kind === 'overlap')!;
    expect(overlap).toMatchObject({ id: 'istio/east', status: 'running', start: at(-5), end: at(25) });
    expect(t.items.find((i) => i.kind === 'mesh-issuer')?.status).toBe('expiring');
    expect(t.items.find((i) => i.kind === 'mesh-root')?.status).toBe('ok');
    expect(t.items.find((i) => i.kind === 'spire-root')?.status).toBe('expired');
    const planned = timelineOf(snapshot({ transitions: [] })).items.find((i) => i.kind === 'overlap')!;
    expect(planned).toMatchObject({ status: 'planned', start: NOW });
  });

  it('buckets broker decisions and counts them by credential, reason and lease state', () => {
    const b = brokerView(snapshot());
    expect(b.totals).toEqual({ allow: 3, deny: 3, error: 0 });
    expect(b.buckets.reduce((n, x) => n + x.issued + x.denied, 0)).toBe(6);
    expect(b.bucketSeconds).toBe(60);
    expect(b.byCredential).toEqual([
      { credential: '(none)', allow: 0, deny: 1, error: 0 },
      { credential: 'db', allow: 3, deny: 2, error: 0 },
    ]);
    expect(b.byReason[0]).toEqual({ code: 'OK', decision: 'allow', count: 3 });
    expect(b.leases).toEqual([{ credential: 'db', active: 2, expired: 0, revoked: 1 }]);
  });

  it('changes its digest with the data, not with the clock', () => {
    const a = dashboardData(snapshot());
    const later = dashboardData(snapshot({ now: at(0.0001) }));
    expect(later.digest).toBe(a.digest);
    const moved = snapshot();
    moved.status.scopes[0]!.phase = 'dual-trust';
    expect(dashboardData(moved).digest).not.toBe(a.digest);
    expect(evidenceSummary(null)).toBeNull();
  });

  it('escapes everything it renders', () => {
    const s = snapshot();
    s.status.scopes[0]!.scope = 'istio<script>alert(1)</script>';
    const html = renderPage(dashboardData(s), {
      title: 'x',
      refreshSeconds: 5,
      apiPath: '/api',
      scriptPath: '/s.js',
      pagePath: '/',
    });
    expect(html).not.toContain('<script>alert');
    expect(html).toContain('istio&lt;script&gt;');
    expect(html.match(/<script/g)).toHaveLength(1);
  });
});
