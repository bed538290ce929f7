/**
 * The files of the full demo, as text: what `kubectl get -o yaml` and `istioctl
 * proxy-config secret -o json` would print for a generated Istio mesh, the mapping
 * rules, the broker policy and the `meshbridge.yaml` of `meshbridge serve`. Pure: the
 * demo command writes them.
 */
import { stringify } from 'yaml';
import type { DemoIstioMesh, DemoWorkload } from './mesh.js';

export const DEMO_CLUSTER = 'east';
export const DEMO_SPIRE_TRUST_DOMAIN = 'prod.example.org';
export const DEMO_BROKER_ID = `spiffe://${DEMO_SPIRE_TRUST_DOMAIN}/ns/meshbridge/sa/meshbridge`;

const yaml = (...docs: unknown[]): string => docs.map((d) => stringify(d, { lineWidth: 0 })).join('---\n');
const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** The plug-in CA Secret (`kubectl -n istio-system get secret cacerts -o yaml`). */
export function cacertsSecret(mesh: DemoIstioMesh, caKeyPem: string): string {
  return yaml({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'cacerts', namespace: 'istio-system' },
    type: 'Opaque',
    data: {
      'ca-cert.pem': b64(mesh.intermediate.pem),
      'ca-key.pem': b64(caKeyPem),
      'root-cert.pem': b64(mesh.root.pem),
      'cert-chain.pem': b64(mesh.intermediate.pem + mesh.root.pem),
    },
  });
}

/** `istio-ca-root-cert` as istiod writes it into every namespace. */
export function rootCertConfigMaps(mesh: DemoIstioMesh, namespaces: string[]): string {
  return yaml({
    apiVersion: 'v1',
    kind: 'List',
    items: namespaces.map((ns) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'istio-ca-root-cert', namespace: ns, labels: { 'istio.io/config': 'true' } },
      data: { 'root-cert.pem': mesh.root.pem },
    })),
  });
}

/** `istioctl proxy-config secret deploy/<sa> -n <ns> -o json` of one sidecar (key redacted, as istioctl does). */
export function proxySecretDump(mesh: DemoIstioMesh, w: DemoWorkload, at: Date): string {
  const chain = w.chain.map((c) => c.pem).join('');
  const when = at.toISOString();
  return `${JSON.stringify(
    {
      dynamicActiveSecrets: [
        {
          name: 'default',
          versionInfo: when,
          lastUpdated: when,
          secret: {
            '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
            name: 'default',
            tlsCertificate: {
              certificateChain: { inlineBytes: b64(chain) },
              privateKey: { inlineBytes: b64('[redacted]') },
            },
          },
        },
        {
          name: 'ROOTCA',
          versionInfo: when,
          lastUpdated: when,
          secret: {
            '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
            name: 'ROOTCA',
            validationContext: { trustedCa: { inlineBytes: b64(mesh.root.pem) } },
          },
        },
      ],
    },
    null,
    2,
  )}\n`;
}

export function mappingRules(): string {
  return `# Mapping rules of the demo: every Istio identity keeps its namespace and service account
# in SPIRE's trust domain. \`meshbridge map --rules rules.yaml\` reads this.
version: 1
trustDomain: ${DEMO_SPIRE_TRUST_DOMAIN}
rules:
  - name: istio-${DEMO_CLUSTER}
    match: { mesh: istio, cluster: ${DEMO_CLUSTER} }
    spiffeId: "spiffe://{trustDomain}/ns/{namespace}/sa/{serviceAccount}"
    parentId: "spiffe://{trustDomain}/k8s/{cluster}/nodes"
defaults:
  x509SvidTtl: 1h
  jwtSvidTtl: 5m
`;
}

export function brokerPolicy(meshTrustDomain: string): string {
  const spire = DEMO_SPIRE_TRUST_DOMAIN;
  return `# Broker policy of the demo. Default deny: only these rules give anything.
version: demo-1
defaults: { ttl: 5m, maxTtl: 15m }
credentials:
  orders-db:
    description: Password for the orders database, minted per request
    spec: { type: ephemeral, kind: password, username: orders }
  payments-db:
    description: Password for the payments ledger database, minted per request
    spec: { type: ephemeral, kind: password, username: payments, symbols: false }
    maxTtl: 10m
  reporting-api-key:
    description: API key for the reporting service
    spec: { type: ephemeral, kind: api-key, prefix: rpt_ }
rules:
  # shop is in dual-trust: its workloads still present mesh certificates, and those count.
  - name: shop-web-reads-orders
    subjects: [spiffe://${meshTrustDomain}/ns/shop/sa/web, spiffe://${spire}/ns/shop/sa/web]
    credentials: [orders-db]
  # payments is in dual-issue: from here on only SPIRE-issued SVIDs get the ledger password.
  - name: payments-on-spire-only
    subjects: [spiffe://${meshTrustDomain}/ns/payments/sa/*, spiffe://${spire}/ns/payments/sa/*]
    credentials: [payments-db]
    issuer: spire
  - name: anyone-in-payments-reports
    subjects: [spiffe://${spire}/ns/payments/**]
    credentials: [reporting-api-key]
`;
}

export interface ServeYamlInput {
  dashboardPort: number;
  brokerPort: number;
  meshTrustDomain: string;
  /** Relative to the demo folder. */
  meshBundle: string;
  spireBundle: string;
}

export function serveYaml(i: ServeYamlInput): string {
  return `# meshbridge.yaml written by \`meshbridge demo\`: run \`meshbridge serve --config <this file>\`.
# Paths are relative to this file.
listen: { host: 127.0.0.1, port: ${i.dashboardPort} }
store: meshbridge.db
dashboard:
  title: "meshbridge demo: Istio (${i.meshTrustDomain}) to SPIRE (${DEMO_SPIRE_TRUST_DOMAIN})"
  refresh: 3s
bundleEndpoint: { path: /bundle, phase: auto }
cutover: { overlap: 30d }
broker:
  listen: { host: 127.0.0.1, port: ${i.brokerPort} }
  # The broker's own X.509-SVID from the demo SPIRE CA (DNS name localhost, for curl).
  tls: { cert: spire/meshbridge.pem, key: spire/meshbridge.key }
  # The dual-trust bundle: mesh-issued and SPIRE-issued certificates are both accepted.
  trust:
    - { kind: mesh, trustDomain: ${i.meshTrustDomain}, bundles: [${i.meshBundle}] }
    - { kind: spire, trustDomain: ${DEMO_SPIRE_TRUST_DOMAIN}, bundles: [${i.spireBundle}] }
  audience: [${DEMO_BROKER_ID}]
  policy: broker/policy.yaml
  backends: [{ type: ephemeral }]
  sweeper: { interval: 30s }
  rateLimit: { ratePerSecond: 50, burst: 100 }
`;
}
