import { createHash, randomBytes } from 'node:crypto';
import type { CertRow, SaveImportInput } from '../../src/store/index.js';

export function fp(seed: string): string {
  return createHash('sha256').update(seed).digest('hex');
}

/** DER-sized base64 filler: the store treats DER as opaque. */
export function fakeDer(bytes = 600): string {
  return randomBytes(bytes).toString('base64');
}

/** A small Istio-shaped import: anchor -> intermediate -> 3 workloads, 2 sources, problems, a key. */
export function smallImport(overrides: Partial<SaveImportInput> = {}): SaveImportInput {
  const anchor = fp('anchor');
  const inter = fp('intermediate');
  const der = fakeDer();
  const workloads: CertRow[] = ['web', 'api', 'db'].map((sa, i) => ({
    fingerprint: fp(`workload-${sa}`),
    role: 'workload',
    subject: '',
    issuer: 'O=cluster.local',
    serial: `0${i + 1}`,
    notBefore: '2026-01-01T00:00:00Z',
    notAfter: `2026-01-0${i + 2}T00:00:00.000Z`,
    keyAlgorithm: 'ECDSA P-256',
    keySize: 256,
    spiffeId: `spiffe://cluster.local/ns/shop/sa/${sa}`,
    meshIdentity: `spiffe://cluster.local/ns/shop/sa/${sa}`,
    namespace: 'shop',
    serviceAccount: sa,
    san: [`URI:spiffe://cluster.local/ns/shop/sa/${sa}`],
    issuerFingerprint: inter,
    anchorFingerprint: anchor,
    der,
    sources: ['pods/config_dump.json'],
  }));
  return {
    mesh: 'istio',
    cluster: 'east',
    sources: [
      { kind: 'istio-cacerts', locator: 'secret/istio-system/cacerts' },
      { kind: 'envoy-config-dump', locator: 'pods/config_dump.json' },
    ],
    certificates: [
      {
        fingerprint: anchor,
        role: 'anchor',
        subject: 'O=Istio,CN=Root CA',
        issuer: 'O=Istio,CN=Root CA',
        serial: 'aa',
        notBefore: '2025-01-01T00:00:00Z',
        notAfter: '2035-01-01T00:00:00Z',
        keyAlgorithm: 'RSA',
        keySize: 4096,
        der,
        sources: ['secret/istio-system/cacerts', 'pods/config_dump.json'],
      },
      {
        fingerprint: inter,
        role: 'intermediate',
        subject: 'O=Istio,CN=Intermediate CA,L=east',
        issuer: 'O=Istio,CN=Root CA',
        serial: 'bb',
        notBefore: '2025-06-01T00:00:00Z',
        notAfter: '2027-06-01T00:00:00Z',
        keyAlgorithm: 'RSA',
        keySize: 4096,
        issuerFingerprint: anchor,
        anchorFingerprint: anchor,
        der,
        sources: ['secret/istio-system/cacerts'],
      },
      ...workloads,
    ],
    problems: [
      {
        code: 'CERT_EXPIRING',
        source: 'pods/config_dump.json',
        message: 'expires within 20% of its lifetime',
        fingerprint: workloads[0]!.fingerprint,
        details: { window: '20%' },
      },
      {
        code: 'PEM_CORRUPT',
        source: 'secret/istio-system/cacerts#ca-crl.pem',
        message: 'block 2 is truncated',
      },
    ],
    keys: [{ source: 'secret/istio-system/cacerts', keyType: 'rsa-4096', matchesFingerprint: inter }],
    ...overrides,
  };
}

/** `n` workload certificates under one synthetic anchor, all from one source. */
export function bulkImport(n: number, tag = 'bulk', derBytes = 600): SaveImportInput {
  const anchor = fp(`${tag}-anchor`);
  const der = fakeDer(derBytes);
  const certificates: CertRow[] = [
    {
      fingerprint: anchor,
      role: 'anchor',
      subject: `CN=${tag} root`,
      issuer: `CN=${tag} root`,
      serial: '01',
      notBefore: '2025-01-01T00:00:00.000Z',
      notAfter: '2035-01-01T00:00:00.000Z',
      keyAlgorithm: 'ECDSA P-256',
      der,
      sources: [`${tag}.pem`],
    },
  ];
  for (let i = 0; i < n; i++) {
    const ns = `ns${i % 50}`;
    certificates.push({
      fingerprint: fp(`${tag}-${i}`),
      role: 'workload',
      subject: '',
      issuer: `CN=${tag} root`,
      serial: i.toString(16),
      notBefore: '2026-01-01T00:00:00.000Z',
      notAfter: new Date(Date.UTC(2026, 0, 2) + (i % 1000) * 60_000).toISOString(),
      keyAlgorithm: 'ECDSA P-256',
      keySize: 256,
      spiffeId: `spiffe://example.org/ns/${ns}/sa/sa${i}`,
      meshIdentity: `spiffe://example.org/ns/${ns}/sa/sa${i}`,
      namespace: ns,
      serviceAccount: `sa${i}`,
      san: [`URI:spiffe://example.org/ns/${ns}/sa/sa${i}`],
      issuerFingerprint: anchor,
      anchorFingerprint: anchor,
      der,
      sources: [`${tag}.pem`],
    });
  }
  return {
    mesh: 'istio',
    cluster: tag,
    sources: [{ kind: 'pem-file', locator: `${tag}.pem` }],
    certificates,
  };
}
