import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explainIdentity, mapWorkloads, type PreviousMapping } from '../../src/mapper/map.js';
import { MAPPING_PROBLEM_CODES } from '../../src/mapper/problems.js';
import { rulesFromObject } from '../../src/mapper/rules.js';
import { loadInventory } from '../../src/store/index.js';
import {
  ISTIO_WORKLOAD_FILES,
  importInto,
  LINKERD_WORKLOAD_FILES,
  type TempStore,
  tempStore,
  workload,
} from './helpers.js';

const TD = 'prod.example.org';

const RULES = rulesFromObject({
  trustDomain: TD,
  rules: [
    {
      name: 'istio-east',
      match: { mesh: 'istio', cluster: 'east' },
      spiffeId: 'spiffe://{trustDomain}/k8s/{cluster}/ns/{namespace}/sa/{serviceAccount}',
      owner: 'platform',
    },
    {
      match: { mesh: 'linkerd' },
      spiffeId: 'spiffe://{trustDomain}/ns/{namespace}/sa/{serviceAccount}',
      owner: 'team-l',
    },
  ],
  defaults: { x509SvidTtl: '1h', jwtSvidTtl: '5m' },
});

describe('mapping the imported Istio and Linkerd fixtures', () => {
  let t: TempStore;
  beforeAll(async () => {
    t = await tempStore();
    // Built through the inventory's own importer (issue 3), as `meshbridge import` does.
    await importInto(t.store, ISTIO_WORKLOAD_FILES, { mesh: 'istio', cluster: 'east' });
    await importInto(t.store, LINKERD_WORKLOAD_FILES, { mesh: 'linkerd', cluster: 'west' });
  });
  afterAll(async () => t.cleanup());

  it('gives every workload the ID its rule says, Istio SPIFFE IDs and Linkerd DNS identities alike', async () => {
    const inv = await loadInventory(t.store, { role: 'workload', problems: 'none' });
    const result = mapWorkloads(inv.certificates, RULES);
    const byIdentity = Object.fromEntries(result.mappings.map((m) => [m.meshIdentity, m]));
    expect(byIdentity['spiffe://cluster.local/ns/default/sa/default']).toMatchObject({
      mesh: 'istio',
      cluster: 'east',
      spiffeId: `spiffe://${TD}/k8s/east/ns/default/sa/default`,
      rule: 0,
      owner: 'platform',
    });
    expect(byIdentity['spiffe://cluster.local/ns/mounted-certs/sa/server']?.spiffeId).toBe(
      `spiffe://${TD}/k8s/east/ns/mounted-certs/sa/server`,
    );
    expect(byIdentity['spiffe://cluster.local/ns/istio-system/sa/prometheus']?.spiffeId).toBe(
      `spiffe://${TD}/k8s/east/ns/istio-system/sa/prometheus`,
    );
    // A workload of another old trust domain lands in the target one too.
    expect(byIdentity['spiffe://trust-domain-foo/ns/foo/sa/foo']?.spiffeId).toBe(
      `spiffe://${TD}/k8s/east/ns/foo/sa/foo`,
    );
    expect(byIdentity['foo.ns1.serviceaccount.identity.linkerd.cluster.local']).toMatchObject({
      mesh: 'linkerd',
      cluster: 'west',
      spiffeId: `spiffe://${TD}/ns/ns1/sa/foo`,
      rule: 1,
      owner: 'team-l',
    });
    expect(byIdentity['default.default.serviceaccount.identity.linkerd.cluster.local']?.spiffeId).toBe(
      `spiffe://${TD}/ns/default/sa/default`,
    );
    expect(result.blocking).toBe(false);
    expect(result.mappings.length + result.unmapped.length).toBe(inv.certificates.length);
  });
});

describe('mapWorkloads', () => {
  const noCluster = rulesFromObject({
    trustDomain: TD,
    rules: [
      { match: { mesh: 'istio' }, spiffeId: 'spiffe://{trustDomain}/ns/{namespace}/sa/{serviceAccount}' },
    ],
  });

  it('refuses one ID for cluster.local/ns/a/sa/x from two clusters, naming both sources', () => {
    const ws = [
      workload('spiffe://cluster.local/ns/a/sa/x', { mesh: 'istio', cluster: 'east', n: 1 }),
      workload('spiffe://cluster.local/ns/a/sa/x', { mesh: 'istio', cluster: 'west', n: 2 }),
    ];
    const result = mapWorkloads(ws, noCluster);
    const collision = result.problems.find((p) => p.code === 'ID_COLLISION');
    expect(collision).toBeDefined();
    expect(collision!.blocking).toBe(true);
    expect(collision!.spiffeId).toBe(`spiffe://${TD}/ns/a/sa/x`);
    expect(collision!.sources!.map((s) => [s.cluster, s.meshIdentity, s.fingerprints])).toEqual([
      ['east', 'spiffe://cluster.local/ns/a/sa/x', [ws[0]!.fingerprint]],
      ['west', 'spiffe://cluster.local/ns/a/sa/x', [ws[1]!.fingerprint]],
    ]);
    expect(collision!.message).toContain('istio/east spiffe://cluster.local/ns/a/sa/x');
    expect(collision!.message).toContain('istio/west spiffe://cluster.local/ns/a/sa/x');
    expect(result.blocking).toBe(true);
  });

  it('sees a collision across meshes too, and none once the template tells them apart', () => {
    const ws = [
      workload('spiffe://cluster.local/ns/a/sa/x', { mesh: 'istio', cluster: 'east', n: 1 }),
      workload('x.a.serviceaccount.identity.linkerd.cluster.local', {
        mesh: 'linkerd',
        cluster: 'east',
        n: 2,
      }),
    ];
    const merged = rulesFromObject({
      trustDomain: TD,
      rules: [{ spiffeId: 'spiffe://{trustDomain}/ns/{namespace}/sa/{serviceAccount}' }],
    });
    expect(mapWorkloads(ws, merged).problems.map((p) => p.code)).toContain('ID_COLLISION');
    const apart = rulesFromObject({
      trustDomain: TD,
      rules: [{ spiffeId: 'spiffe://{trustDomain}/{mesh}/ns/{namespace}/sa/{serviceAccount}' }],
    });
    const r = mapWorkloads(ws, apart);
    expect(r.blocking).toBe(false);
    expect(r.mappings.map((m) => m.spiffeId).sort()).toEqual([
      `spiffe://${TD}/istio/ns/a/sa/x`,
      `spiffe://${TD}/linkerd/ns/a/sa/x`,
    ]);
  });

  it('does not call replicas or rotated certificates of one identity a collision', () => {
    const ws = [1, 2, 3].map((n) =>
      workload('spiffe://cluster.local/ns/a/sa/x', { mesh: 'istio', cluster: 'east', n }),
    );
    const r = mapWorkloads(ws, noCluster);
    expect(r.problems.filter((p) => p.code === 'ID_COLLISION')).toEqual([]);
    expect(r.mappings).toHaveLength(3);
    expect(r.identities).toHaveLength(1);
  });

  it('reads Istio principals without spiffe:// and Linkerd names without an imported namespace', () => {
    const rules = rulesFromObject({
      trustDomain: TD,
      rules: [{ spiffeId: 'spiffe://{trustDomain}/{mesh}/{namespace}/{serviceAccount}' }],
    });
    const r = mapWorkloads(
      [
        workload('cluster.local/ns/shop/sa/web', { n: 1 }),
        workload('api.v2.shop.serviceaccount.identity.linkerd.cluster.local', { n: 2 }),
      ],
      rules,
    );
    expect(r.mappings.map((m) => [m.mesh, m.spiffeId]).sort()).toEqual([
      ['istio', `spiffe://${TD}/istio/shop/web`],
      ['linkerd', `spiffe://${TD}/linkerd/shop/api.v2`],
    ]);
  });

  it('reports an unmatched workload in unmapped, never drops it', () => {
    const r = mapWorkloads(
      [
        workload('spiffe://cluster.local/ns/a/sa/x', { mesh: 'istio', n: 1 }),
        workload('x.a.serviceaccount.identity.linkerd.cluster.local', { mesh: 'linkerd', n: 2 }),
        workload(null, { mesh: 'istio', n: 3 }),
      ],
      noCluster,
    );
    expect(r.mappings).toHaveLength(1);
    expect(r.unmapped.map((u) => [u.meshIdentity, u.reason])).toEqual([
      [null, 'NO_MESH_IDENTITY'],
      ['x.a.serviceaccount.identity.linkerd.cluster.local', 'NO_RULE_MATCHED'],
    ]);
    const codes = Object.fromEntries(r.problems.map((p) => [p.code, p.blocking]));
    expect(codes).toMatchObject({ NO_RULE_MATCHED: true, NO_MESH_IDENTITY: false });
  });

  it('flags an ID outside the target trust domain', () => {
    const rules = rulesFromObject({
      trustDomain: TD,
      rules: [{ spiffeId: 'spiffe://legacy.example.org/ns/{namespace}/sa/{serviceAccount}' }],
    });
    const r = mapWorkloads([workload('spiffe://cluster.local/ns/a/sa/x', { n: 1 })], rules);
    expect(r.problems).toEqual([
      expect.objectContaining({
        code: 'OUTSIDE_TRUST_DOMAIN',
        blocking: true,
        spiffeId: 'spiffe://legacy.example.org/ns/a/sa/x',
      }),
    ]);
  });

  it('flags a rendered ID that is not a SPIFFE ID, naming the kernel code and rule', () => {
    const rules = rulesFromObject({
      trustDomain: TD,
      rules: [{ spiffeId: 'spiffe://{trustDomain}/k8s/{cluster}/{serviceAccount}' }],
    });
    const r = mapWorkloads(
      [workload('spiffe://cluster.local/ns/a/sa/x', { cluster: 'East Cluster', n: 1 })],
      rules,
    );
    expect(r.problems[0]).toMatchObject({
      code: 'INVALID_SPIFFE_ID',
      blocking: true,
      details: { error: 'ID_PATH_CHARS', spiffeRule: 8 },
    });
    expect(r.unmapped).toHaveLength(1);
  });

  it('needs a cluster when the template asks for one', () => {
    const rules = rulesFromObject({
      trustDomain: TD,
      rules: [{ spiffeId: 'spiffe://{trustDomain}/k8s/{cluster}/{serviceAccount}' }],
    });
    const r = mapWorkloads([workload('spiffe://cluster.local/ns/a/sa/x', { n: 1 })], rules);
    expect(r.problems[0]).toMatchObject({ code: 'TEMPLATE_VALUE_MISSING', details: { missing: 'cluster' } });
  });

  describe('continuity with the stored mapping', () => {
    const ws = [workload('spiffe://cluster.local/ns/a/sa/x', { mesh: 'istio', cluster: 'east', n: 1 })];
    const prev = (spiffeId: string, meshIdentity = 'spiffe://cluster.local/ns/a/sa/x'): PreviousMapping => ({
      rulesHash: 'a'.repeat(64),
      createdAt: '2026-11-01T00:00:00.000Z',
      identities: [{ mesh: 'istio', cluster: 'east', meshIdentity, spiffeId }],
    });

    it('is quiet when the ID is the one stored (whatever form the identity was stored in)', () => {
      const r = mapWorkloads(ws, noCluster, prev(`spiffe://${TD}/ns/a/sa/x`, 'cluster.local/ns/a/sa/x'));
      expect(r.problems).toEqual([]);
    });

    it('blocks an ID that changed, and lets it through when changes are allowed', () => {
      const r = mapWorkloads(ws, noCluster, prev(`spiffe://${TD}/old/a/x`));
      expect(r.problems).toEqual([
        expect.objectContaining({
          code: 'ID_CHANGED',
          blocking: true,
          details: expect.objectContaining({ previous: `spiffe://${TD}/old/a/x` }),
        }),
      ]);
      const allowed = mapWorkloads(ws, noCluster, prev(`spiffe://${TD}/old/a/x`), { allowIdChanges: true });
      expect(allowed.problems[0]).toMatchObject({ code: 'ID_CHANGED', blocking: false });
      expect(allowed.blocking).toBe(false);
    });

    it('blocks an ID handed over to another identity', () => {
      const r = mapWorkloads(
        ws,
        noCluster,
        prev(`spiffe://${TD}/ns/a/sa/x`, 'spiffe://cluster.local/ns/b/sa/y'),
      );
      expect(r.problems.map((p) => p.code)).toEqual(['ID_REASSIGNED']);
      expect(r.blocking).toBe(true);
    });
  });

  it('warns about a rule that matches nothing', () => {
    const rules = rulesFromObject({
      trustDomain: TD,
      rules: [
        { spiffeId: 'spiffe://{trustDomain}/ns/{namespace}/sa/{serviceAccount}' },
        { match: { mesh: 'istio' }, spiffeId: 'spiffe://{trustDomain}/shadowed/{serviceAccount}' },
      ],
    });
    const r = mapWorkloads([workload('spiffe://cluster.local/ns/a/sa/x', { n: 1 })], rules);
    expect(r.problems).toEqual([expect.objectContaining({ code: 'RULE_UNUSED', rule: 1, blocking: false })]);
  });

  it('gives every problem code a fixed blocking flag', () => {
    expect(MAPPING_PROBLEM_CODES.ID_COLLISION).toBe(true);
    expect(MAPPING_PROBLEM_CODES.OUTSIDE_TRUST_DOMAIN).toBe(true);
    expect(MAPPING_PROBLEM_CODES.RULE_UNUSED).toBe(false);
  });
});

describe('explainIdentity', () => {
  const rules = rulesFromObject({
    trustDomain: TD,
    rules: [
      {
        name: 'payments',
        match: { mesh: 'istio', namespace: 'payments-*' },
        spiffeId: 'spiffe://{trustDomain}/pay/{serviceAccount}',
      },
      {
        match: { mesh: 'istio' },
        spiffeId: 'spiffe://{trustDomain}/k8s/{cluster}/ns/{namespace}/sa/{serviceAccount}',
      },
    ],
  });

  it('says which rule matched in each cluster and why the earlier ones did not', () => {
    const ws = [
      workload('spiffe://cluster.local/ns/shop/sa/web', { mesh: 'istio', cluster: 'east', n: 1 }),
      workload('spiffe://cluster.local/ns/shop/sa/web', { mesh: 'istio', cluster: 'west', n: 2 }),
    ];
    const e = explainIdentity('cluster.local/ns/shop/sa/web', rules, ws)!;
    expect(e.inInventory).toBe(true);
    expect(e.subjects.map((s) => [s.cluster, s.rule, s.spiffeId])).toEqual([
      ['east', 1, `spiffe://${TD}/k8s/east/ns/shop/sa/web`],
      ['west', 1, `spiffe://${TD}/k8s/west/ns/shop/sa/web`],
    ]);
    expect(e.subjects[0]!.rules[0]).toMatchObject({
      matched: false,
      checks: [
        { field: 'mesh', ok: true },
        { field: 'cluster', ok: true },
        { field: 'namespace', patterns: ['payments-*'], value: 'shop', ok: false },
      ],
    });
  });

  it('explains an identity the inventory does not hold from its own parts', () => {
    const e = explainIdentity('spiffe://cluster.local/ns/payments-eu/sa/api', rules, [], {
      cluster: 'east',
    })!;
    expect(e.inInventory).toBe(false);
    expect(e.subjects[0]).toMatchObject({ rule: 0, spiffeId: `spiffe://${TD}/pay/api` });
    expect(explainIdentity('not an identity', rules, [])).toBeNull();
  });
});
