import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { emit } from '../../src/mapper/emit/index.js';
import { parsePolicyDocuments } from '../../src/mapper/emit/policies.js';
import { mapWorkloads } from '../../src/mapper/map.js';
import { rulesFromObject } from '../../src/mapper/rules.js';
import { ISTIO, workload } from './helpers.js';

const TD = 'prod.example.org';

const ISTIO_POLICY = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: allow-shop
  namespace: shop
  resourceVersion: "42"
  uid: 0f1e
spec:
  action: ALLOW
  rules:
  - from:
    - source:
        principals:
        - cluster.local/ns/shop/sa/web
        - spiffe://cluster.local/ns/shop/sa/api
        - cluster.local/ns/ops/*
        - "*/ns/shop/sa/web"
        - "*/sa/api"
        - "*"
    - source:
        notPrincipals: ["cluster.local/ns/ops/sa/prober"]
    when:
    - key: source.principal
      values: ["cluster.local/ns/shop/sa/web"]
status:
  validationMessages: []
`;

const LINKERD_POLICY = `apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata:
  name: shop-clients
  namespace: shop
spec:
  identities:
  - web.shop.serviceaccount.identity.linkerd.cluster.local
  - "*.ops.serviceaccount.identity.linkerd.cluster.local"
  identityRefs:
  - kind: ServiceAccount
    name: api
---
apiVersion: v1
kind: ConfigMap
metadata: { name: not-a-policy }
`;

const workloads = [
  workload('spiffe://cluster.local/ns/shop/sa/web', { mesh: 'istio', cluster: 'east', n: 1 }),
  workload('spiffe://cluster.local/ns/shop/sa/api', { mesh: 'istio', cluster: 'west', n: 2 }),
  workload('spiffe://cluster.local/ns/ops/sa/prober', { mesh: 'istio', cluster: 'east', n: 3 }),
  workload('web.shop.serviceaccount.identity.linkerd.cluster.local', {
    mesh: 'linkerd',
    cluster: 'east',
    n: 4,
  }),
  workload('api.shop.serviceaccount.identity.linkerd.cluster.local', {
    mesh: 'linkerd',
    cluster: 'east',
    n: 5,
  }),
  workload('prober.ops.serviceaccount.identity.linkerd.cluster.local', {
    mesh: 'linkerd',
    cluster: 'east',
    n: 6,
  }),
  workload('probe2.ops.serviceaccount.identity.linkerd.cluster.local', {
    mesh: 'linkerd',
    cluster: 'east',
    n: 7,
  }),
];

function run(spiffeId: string | { match?: { mesh: 'istio' | 'linkerd' }; spiffeId: string }[]) {
  const rules = rulesFromObject({
    trustDomain: TD,
    rules: typeof spiffeId === 'string' ? [{ spiffeId }] : spiffeId,
  });
  const result = mapWorkloads(workloads, rules);
  expect(result.blocking).toBe(false);
  const policies = [
    ...parsePolicyDocuments(ISTIO_POLICY, 'istio.yaml').policies,
    ...parsePolicyDocuments(LINKERD_POLICY, 'linkerd.yaml').policies,
  ];
  const out = emit({ rules, result, emit: ['istio', 'linkerd'], policies });
  const file = (p: string) => out.files.find((f) => f.path === p)?.content ?? '';
  const docs = (p: string) => parseAllDocuments(file(p)).map((d) => d.toJS());
  return { out, file, docs };
}

describe('Istio policy translation', () => {
  const { out, file, docs } = run(
    'spiffe://{trustDomain}/k8s/{cluster}/{mesh}/ns/{namespace}/sa/{serviceAccount}',
  );

  it('sets meshConfig.trustDomain and aliases every old trust domain', () => {
    expect(parse(file('istio/istio-operator.yaml'))).toEqual({
      apiVersion: 'install.istio.io/v1alpha1',
      kind: 'IstioOperator',
      metadata: { name: 'meshbridge-trust-domain', namespace: 'istio-system' },
      spec: { meshConfig: { trustDomain: TD, trustDomainAliases: ['cluster.local'] } },
    });
    expect(parse(file('istio/values.yaml'))).toEqual({
      meshConfig: { trustDomain: TD, trustDomainAliases: ['cluster.local'] },
    });
  });

  it('keeps every old principal during the cutover and adds the new ones (exact, with and without spiffe://)', () => {
    const [policy] = docs('istio/authorization-policies.cutover.yaml');
    const principals = policy.spec.rules[0].from[0].source.principals as string[];
    expect(principals.slice(0, 6)).toEqual([
      'cluster.local/ns/shop/sa/web',
      'spiffe://cluster.local/ns/shop/sa/api',
      'cluster.local/ns/ops/*',
      '*/ns/shop/sa/web',
      '*/sa/api',
      '*',
    ]);
    // Exact: one new ID per cluster Istio runs in (the old principal admitted the account from any cluster).
    expect(principals).toContain(`${TD}/k8s/east/istio/ns/shop/sa/web`);
    expect(principals).toContain(`${TD}/k8s/west/istio/ns/shop/sa/web`);
    expect(principals).toContain(`${TD}/k8s/west/istio/ns/shop/sa/api`);
    // Prefix and suffix wildcards stay wildcards.
    expect(principals).toContain(`${TD}/k8s/east/istio/ns/ops/sa/*`);
    expect(principals).toContain('*/k8s/east/istio/ns/shop/sa/web');
    expect(principals).toContain('*/sa/api');
    expect(principals.some((p) => p.startsWith('spiffe://prod'))).toBe(false);
    expect(policy.metadata).toEqual({
      name: 'allow-shop',
      namespace: 'shop',
      annotations: {
        'meshbridge.io/phase': 'cutover',
        'meshbridge.io/rules-hash': expect.stringMatching(/^[0-9a-f]{64}$/),
      },
    });
    expect(policy.status).toBeUndefined();
    expect(policy.spec.rules[0].from[1].source.notPrincipals).toEqual([
      'cluster.local/ns/ops/sa/prober',
      `${TD}/k8s/east/istio/ns/ops/sa/prober`,
      `${TD}/k8s/west/istio/ns/ops/sa/prober`,
    ]);
    expect(policy.spec.rules[0].when[0].values).toContain(`${TD}/k8s/east/istio/ns/shop/sa/web`);
  });

  it('drops the old principals in the final version', () => {
    const [policy] = docs('istio/authorization-policies.final.yaml');
    const principals = policy.spec.rules[0].from[0].source.principals as string[];
    expect(principals).toContain('*');
    expect(principals.filter((p) => p.startsWith('cluster.local'))).toEqual([]);
    expect(policy.metadata.annotations['meshbridge.io/phase']).toBe('final');
  });

  it('says a principal with spiffe:// never matched in Istio', () => {
    expect(out.problems.map((p) => p.code)).toContain('POLICY_PRINCIPAL_HAS_SCHEME');
  });

  it('expands a wildcard the new template cannot keep, and says so', () => {
    const r = run('spiffe://{trustDomain}/sa/{serviceAccount}/ns/{namespace}/{mesh}/{cluster}');
    const [policy] = r.docs('istio/authorization-policies.cutover.yaml');
    const principals = policy.spec.rules[0].from[0].source.principals as string[];
    expect(principals).toContain(`${TD}/sa/prober/ns/ops/istio/east`);
    expect(principals).not.toContain(`${TD}/*`);
    expect(r.out.problems).toContainEqual(
      expect.objectContaining({
        code: 'POLICY_WILDCARD_EXPANDED',
        meshIdentity: 'cluster.local/ns/ops/*',
        blocking: false,
      }),
    );
  });
});

describe('Istio namespaces conditions', () => {
  const policy = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-others, namespace: shop }
spec:
  action: DENY
  rules:
  - from:
    - source:
        notNamespaces: ["shop"]
`;
  const check = (spiffeId: string) => {
    const rules = rulesFromObject({ trustDomain: TD, rules: [{ match: { mesh: 'istio' }, spiffeId }] });
    const result = mapWorkloads(workloads.slice(0, 1), rules);
    return emit({ rules, result, emit: ['istio'], policies: parsePolicyDocuments(policy, 'p.yaml').policies })
      .problems;
  };

  it('warns when the new IDs lose the /ns/<namespace>/ Istio reads namespaces from', () => {
    expect(check('spiffe://{trustDomain}/{namespace}/{serviceAccount}/{cluster}')).toContainEqual(
      expect.objectContaining({
        code: 'POLICY_NAMESPACES_UNMATCHED',
        message: expect.stringContaining('excludes nobody'),
      }),
    );
    expect(
      check('spiffe://{trustDomain}/k8s/{cluster}/ns/{namespace}/sa/{serviceAccount}').map((p) => p.code),
    ).not.toContain('POLICY_NAMESPACES_UNMATCHED');
  });
});

describe('Linkerd policy translation', () => {
  const { out, docs } = run([
    { match: { mesh: 'istio' }, spiffeId: 'spiffe://{trustDomain}/istio/ns/{namespace}/sa/{serviceAccount}' },
    { match: { mesh: 'linkerd' }, spiffeId: 'spiffe://{trustDomain}/ns/{namespace}/sa/{serviceAccount}' },
  ]);

  it('adds the SPIFFE IDs of exact identities, identityRefs and *.ns wildcards, keeping the old ones for the cutover', () => {
    const [auth] = docs('linkerd/meshtls-authentications.cutover.yaml');
    expect(auth.spec.identities).toEqual([
      'web.shop.serviceaccount.identity.linkerd.cluster.local',
      '*.ops.serviceaccount.identity.linkerd.cluster.local',
      `spiffe://${TD}/ns/ops/sa/probe2`,
      `spiffe://${TD}/ns/ops/sa/prober`,
      `spiffe://${TD}/ns/shop/sa/api`,
      `spiffe://${TD}/ns/shop/sa/web`,
    ]);
    expect(auth.spec.identityRefs).toEqual([{ kind: 'ServiceAccount', name: 'api' }]);
    expect(out.problems).toContainEqual(
      expect.objectContaining({
        code: 'POLICY_WILDCARD_EXPANDED',
        meshIdentity: '*.ops.serviceaccount.identity.linkerd.cluster.local',
      }),
    );
  });

  it('names only SPIFFE IDs in the final version', () => {
    const [auth] = docs('linkerd/meshtls-authentications.final.yaml');
    expect(auth.spec.identities.every((i: string) => i.startsWith('spiffe://'))).toBe(true);
    expect(auth.spec.identityRefs).toBeUndefined();
  });

  it('ignores kinds that are not policies', () => {
    expect(parsePolicyDocuments(LINKERD_POLICY, 'l.yaml')).toMatchObject({ ignored: 1 });
  });
});

describe('cluster-spiffeid emitter', () => {
  const rules = rulesFromObject({
    trustDomain: TD,
    rules: [
      {
        name: 'payments',
        match: { mesh: 'istio', namespace: 'payments-*' },
        spiffeId: 'spiffe://{trustDomain}/pay/{serviceAccount}',
        owner: 'pay-team',
      },
      {
        match: { mesh: 'istio' },
        spiffeId: 'spiffe://{trustDomain}/k8s/{cluster}/ns/{namespace}/sa/{serviceAccount}',
      },
    ],
    defaults: { x509SvidTtl: '1h' },
  });
  const result = mapWorkloads(
    [
      workload('spiffe://cluster.local/ns/payments-eu/sa/api', { mesh: 'istio', cluster: 'east', n: 1 }),
      workload('spiffe://cluster.local/ns/shop/sa/web', { mesh: 'istio', cluster: 'east', n: 2 }),
      workload('spiffe://cluster.local/ns/shop/sa/web', { mesh: 'istio', cluster: 'west', n: 3 }),
    ],
    rules,
  );
  const files = emit({ rules, result, emit: ['cluster-spiffeid'] }).files;

  it('writes one file per cluster, in the shape of the real ClusterSPIFFEID (istio/spire_clusterspiffeid.yaml)', () => {
    expect(files.map((f) => f.path)).toEqual(['cluster-spiffeid/east.yaml', 'cluster-spiffeid/west.yaml']);
    const real = parse(readFileSync(join(ISTIO, 'spire_clusterspiffeid.yaml'), 'utf8'));
    const east = parseAllDocuments(files[0]!.content).map((d) => d.toJS());
    for (const m of east) {
      expect(m.apiVersion).toBe(real.apiVersion);
      expect(m.kind).toBe(real.kind);
      expect(m.spec.spiffeIDTemplate).toMatch(/^spiffe:\/\/\{\{ \.TrustDomain \}\}\//);
    }
  });

  it('makes first-match-wins explicit: each manifest selects the namespaces its rule wins, and the mesh pods', () => {
    const east = parseAllDocuments(files[0]!.content).map((d) => d.toJS());
    expect(
      east.map((m) => [
        m.metadata.name,
        m.spec.namespaceSelector.matchExpressions[0].values,
        m.spec.spiffeIDTemplate,
      ]),
    ).toEqual([
      [
        'meshbridge-east-payments-istio',
        ['payments-eu'],
        'spiffe://{{ .TrustDomain }}/pay/{{ .PodSpec.ServiceAccountName }}',
      ],
      [
        'meshbridge-east-rule1-istio',
        ['shop'],
        'spiffe://{{ .TrustDomain }}/k8s/east/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}',
      ],
    ]);
    expect(east[0].spec).toMatchObject({
      podSelector: { matchExpressions: [{ key: 'security.istio.io/tlsMode', operator: 'Exists' }] },
      ttl: '1h',
      hint: 'meshbridge:pay-team',
    });
    expect(east[0].metadata.annotations['meshbridge.io/owner']).toBe('pay-team');
  });
});
