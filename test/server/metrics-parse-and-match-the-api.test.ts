import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PHASES } from '../../src/cutover/scope.js';
import type { DashboardData } from '../../src/dashboard/model.js';
import { type DemoServer, demoServer } from './demo-server.js';
import { type Family, parseExposition, sampleValue } from './prometheus.js';

describe('/metrics of the demo server', () => {
  let demo: DemoServer;
  let families: Map<string, Family>;
  let api: DashboardData;
  let contentType: string;

  beforeAll(async () => {
    demo = await demoServer();
    const base = demo.server.urls.dashboard;
    // The API first: /metrics then reads the same cached data (the server reuses one read for a second).
    api = (await (await fetch(`${base}/api/v1/overview`)).json()) as DashboardData;
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    contentType = res.headers.get('content-type') ?? '';
    families = parseExposition(await res.text());
  }, 60_000);

  afterAll(async () => {
    await demo?.close();
  });

  it('parses as the Prometheus text format and says so', () => {
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(families.get('meshbridge_build_info')?.type).toBe('gauge');
    expect(families.get('process_cpu_user_seconds_total')?.type).toBe('counter');
    for (const f of families.values()) expect(f.help, f.name).not.toBe('');
  });

  it('has the workloads of every scope per issuer and phase, as the API shows them', () => {
    expect(api.scopes.length).toBe(4);
    for (const s of api.scopes) {
      const at = { scope: s.scope, phase: s.phase };
      expect(
        sampleValue(families, 'meshbridge_cutover_scope_workloads', { ...at, issuer: 'spire' }),
        s.scope,
      ).toBe(s.onSpire);
      expect(
        sampleValue(families, 'meshbridge_cutover_scope_workloads', { ...at, issuer: 'mesh' }),
        s.scope,
      ).toBe(s.onMesh);
      expect(sampleValue(families, 'meshbridge_cutover_scope_phase', { scope: s.scope }), s.scope).toBe(
        (PHASES as readonly string[]).indexOf(s.phase),
      );
      if (s.next !== null) {
        expect(
          sampleValue(families, 'meshbridge_cutover_gate_ready', { scope: s.scope, next: s.next.phase }),
        ).toBe(s.next.ready ? 1 : 0);
        expect(
          sampleValue(families, 'meshbridge_cutover_gate_blockers', { scope: s.scope, next: s.next.phase }),
        ).toBe(s.next.blockers.length);
      }
    }
    // Per mesh, phase and issuer, each workload once (namespaces): 1 of payments' 2 on SPIRE.
    expect(
      sampleValue(families, 'meshbridge_cutover_workloads', {
        mesh: 'istio',
        phase: 'dual-issue',
        issuer: 'spire',
      }),
    ).toBe(1);
    expect(
      sampleValue(families, 'meshbridge_cutover_workloads', {
        mesh: 'istio',
        phase: 'dual-trust',
        issuer: 'mesh',
      }),
    ).toBe(3);
  });

  it('has the seconds until each root and issuer expires', () => {
    const certs = api.timeline.items.filter((i) => i.kind !== 'overlap');
    expect(certs.map((c) => c.kind).sort()).toEqual(['mesh-issuer', 'mesh-root', 'spire-root']);
    for (const c of certs) {
      const v = sampleValue(families, 'meshbridge_certificate_expiry_seconds', { id: c.id });
      expect(v, c.label).toBeDefined();
      expect(Math.abs(v! - c.secondsLeft)).toBeLessThanOrEqual(5);
    }
  });

  it('has the broker decisions by credential, decision and code, and the leases', () => {
    expect(api.broker.requests.length).toBeGreaterThan(0);
    let total = 0;
    for (const r of api.broker.requests) {
      const labels = { credential: r.credential, decision: r.decision, code: r.code };
      expect(sampleValue(families, 'meshbridge_broker_requests', labels), JSON.stringify(labels)).toBe(
        r.count,
      );
      total += r.count;
    }
    expect(total).toBe(demo.traffic.length);
    expect(
      sampleValue(families, 'meshbridge_broker_requests', {
        credential: 'payments-db',
        decision: 'deny',
        code: 'POLICY_ISSUER_NOT_ALLOWED',
      }),
    ).toBe(1);
    for (const l of api.broker.leases) {
      expect(
        sampleValue(families, 'meshbridge_broker_leases', { credential: l.credential, state: 'active' }),
      ).toBe(l.active);
    }
    const issued = demo.traffic.filter((t) => t.status === 200).length;
    const bucket = families.get('meshbridge_broker_backend_duration_seconds');
    expect(bucket?.type).toBe('histogram');
    expect(
      sampleValue(families, 'meshbridge_broker_backend_duration_seconds_count', {
        backend: 'ephemeral',
        operation: 'issue',
        outcome: 'ok',
      }),
    ).toBe(issued);
  });

  it('has the static-key funnel', () => {
    for (const s of api.staticKeys.states) {
      expect(sampleValue(families, 'meshbridge_static_keys', { state: s.state }), s.state).toBe(s.count);
    }
    expect(sampleValue(families, 'meshbridge_static_key_blockers', {})).toBe(api.staticKeys.blockers.length);
  });
});
