/**
 * The material the upstream repositories lack, generated in the shapes the control planes
 * and tools write (generate-fixtures.ts), imports with the right roles, chains and
 * identities; a healthy export has no problems, and each broken file shows its code.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Inventory, toInventoryJson } from '../../src/mesh-import/index.js';
import { type GeneratedFixtures, generateFixtures } from './generate-fixtures.js';
import { all, byFp, codes, importPaths } from './helpers.js';

const NOW = new Date('2026-11-23T12:00:00Z');
let dir: string;
let g: GeneratedFixtures;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mb-generated-'));
  g = generateFixtures(join(dir, 'fixtures'), { now: NOW });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const load = (paths: string[], mesh?: 'istio' | 'linkerd'): Promise<Inventory> =>
  importPaths(paths, { cwd: join(dir, 'fixtures'), clock: () => NOW, ...(mesh ? { mesh } : {}) });

describe('generated Linkerd material', () => {
  it('anchor -> issuer -> proxy leaves: every leaf reaches the old anchor through the issuer', async () => {
    const inv = await load(['realistic/linkerd']);
    expect(inv.problems).toEqual([]);
    expect(inv.anchors.map((a) => a.fingerprint).sort()).toEqual(
      [g.linkerd.oldAnchor, g.linkerd.newAnchor].sort(),
    );
    expect(inv.intermediates.map((a) => a.fingerprint).sort()).toEqual(
      [g.linkerd.issuer, g.linkerd.tlsIssuer].sort(),
    );
    expect(byFp(inv, g.linkerd.issuer).anchorFingerprint).toBe(g.linkerd.oldAnchor);
    expect(byFp(inv, g.linkerd.tlsIssuer).anchorFingerprint).toBe(g.linkerd.newAnchor);
    for (const leaf of g.linkerd.leaves) {
      expect(byFp(inv, leaf.fingerprint)).toMatchObject({
        role: 'workload',
        mesh: 'linkerd',
        meshIdentity: leaf.identity,
        spiffeId: null,
        namespace: leaf.namespace,
        serviceAccount: leaf.serviceAccount,
        issuerFingerprint: g.linkerd.issuer,
        anchorFingerprint: leaf.anchor,
      });
    }
    expect(all(inv).every((c) => c.mesh === 'linkerd')).toBe(true);
  });

  it('a two-anchor ca-bundle.crt gives both anchors from the one ConfigMap key', async () => {
    const inv = await load(['realistic/linkerd/trust-roots.yaml']);
    expect(inv.anchors).toHaveLength(2);
    for (const a of inv.anchors)
      expect(a.sources).toEqual([
        'realistic/linkerd/trust-roots.yaml#configmap/linkerd/linkerd-identity-trust-roots[ca-bundle.crt]',
      ]);
  });

  it('a kubernetes.io/tls issuer Secret: tls.crt is the issuer, tls.key matches it, ca.crt is its anchor', async () => {
    const inv = await load(['realistic/linkerd/issuer-tls-secret.yaml']);
    expect(inv.intermediates.map((c) => c.fingerprint)).toEqual([g.linkerd.tlsIssuer]);
    expect(inv.anchors.map((c) => c.fingerprint)).toEqual([g.linkerd.newAnchor]);
    expect(inv.keys).toEqual([
      {
        source: 'realistic/linkerd/issuer-tls-secret.yaml#secret/linkerd/linkerd-identity-issuer[tls.key]',
        keyType: 'ec-p256',
        matchesFingerprint: g.linkerd.tlsIssuer,
        matchesCertificate: true,
      },
    ]);
    expect(inv.sources.every((s) => s.kind === 'linkerd-identity-issuer' && s.mesh === 'linkerd')).toBe(true);
    expect(inv.problems).toEqual([]);
  });

  it('Helm values: identityTrustAnchorsPEM are anchors, identity.issuer.tls.crtPEM is the issuer', async () => {
    const inv = await load(['realistic/linkerd/values.yaml']);
    expect(inv.anchors).toHaveLength(2);
    expect(inv.intermediates.map((c) => c.fingerprint)).toEqual([g.linkerd.issuer]);
    expect(inv.sources.map((s) => s.kind)).toEqual(['linkerd-values', 'linkerd-values']);
  });
});

describe('generated Istio material', () => {
  it('a healthy Istio export imports without problems and chains every workload to the plug-in root', async () => {
    const inv = await load(['realistic/istio']);
    expect(inv.problems).toEqual([]);
    expect(inv.anchors.map((a) => a.fingerprint).sort()).toEqual(
      [g.istio.root, g.istio.selfSignedRoot, g.istio.spiffeBundles['remote.example']!].sort(),
    );
    expect(inv.intermediates.map((a) => a.fingerprint).sort()).toEqual(
      [g.istio.intermediate, g.istio.tlsIntermediate].sort(),
    );
    for (const leaf of g.istio.leaves) {
      expect(byFp(inv, leaf.fingerprint)).toMatchObject({
        mesh: 'istio',
        spiffeId: leaf.identity,
        meshIdentity: leaf.identity,
        namespace: leaf.namespace,
        serviceAccount: leaf.serviceAccount,
        anchorFingerprint: leaf.anchor,
        issuerFingerprint: g.istio.intermediate,
      });
    }
  });

  it('cacerts (Opaque): ca-cert.pem is the issuer, root-cert.pem the anchor, ca-key.pem matches ca-cert.pem', async () => {
    const inv = await load(['realistic/istio/cacerts.yaml']);
    expect(inv.intermediates.map((c) => c.fingerprint)).toEqual([g.istio.intermediate]);
    expect(inv.anchors.map((c) => c.fingerprint)).toEqual([g.istio.root]);
    expect(inv.keys).toEqual([
      expect.objectContaining({
        keyType: 'ec-p256',
        matchesFingerprint: g.istio.intermediate,
        matchesCertificate: true,
      }),
    ]);
    expect(new Set(inv.sources.map((s) => s.kind))).toEqual(new Set(['istio-cacerts']));
  });

  it('cacerts (cert-manager, kubernetes.io/tls): tls.crt is the issuer and ca.crt the anchor', async () => {
    const inv = await load(['realistic/istio/cacerts-cert-manager.yaml']);
    expect(inv.intermediates.map((c) => c.fingerprint)).toEqual([g.istio.tlsIntermediate]);
    expect(inv.anchors.map((c) => c.fingerprint)).toEqual([g.istio.root]);
    expect(inv.keys[0]!.matchesCertificate).toBe(true);
  });

  it('istio-ca-secret (istio.io/ca-root): the self-signed O=<trust domain> root, empty cert-chain.pem and key.pem ignored', async () => {
    const inv = await load(['realistic/istio/istio-ca-secret.yaml']);
    expect(inv.anchors.map((c) => [c.fingerprint, c.subject, c.keyAlgorithm])).toEqual([
      [g.istio.selfSignedRoot, 'O=cluster.local', 'RSA 2048'],
    ]);
    expect(inv.keys).toEqual([expect.objectContaining({ keyType: 'rsa-2048', matchesCertificate: true })]);
    expect(inv.sources.every((s) => s.kind === 'istio-ca-secret')).toBe(true);
  });

  it('istio-ca-root-cert ConfigMaps in several namespaces (multi-document YAML): one anchor, one source per namespace', async () => {
    const inv = await load(['realistic/istio/root-cert-configmaps.yaml']);
    expect(inv.anchors.map((c) => c.fingerprint)).toEqual([g.istio.root]);
    expect(inv.anchors[0]!.sources).toEqual([
      'realistic/istio/root-cert-configmaps.yaml#configmap/default/istio-ca-root-cert[root-cert.pem]',
      'realistic/istio/root-cert-configmaps.yaml#configmap/payments/istio-ca-root-cert[root-cert.pem]',
      'realistic/istio/root-cert-configmaps.yaml#configmap/shop/istio-ca-root-cert[root-cert.pem]',
    ]);
  });

  it('a kubectl List with stringData reads the cacerts item and ignores a Secret without certificates', async () => {
    const inv = await load(['realistic/istio/secrets-list.json']);
    expect(inv.intermediates.map((c) => c.fingerprint)).toEqual([g.istio.intermediate]);
    expect(inv.anchors.map((c) => c.fingerprint)).toEqual([g.istio.root]);
    expect(inv.sources.some((s) => s.locator.includes('db-password'))).toBe(true);
  });

  it('istioctl proxy-config secret -o json (camelCase): default chain and ROOTCA', async () => {
    const inv = await load(['realistic/istio/pc-secret-web.json']);
    expect(inv.sources.every((s) => s.kind === 'istioctl-secret-dump')).toBe(true);
    expect(inv.workloads.map((w) => w.spiffeId)).toEqual(['spiffe://cluster.local/ns/shop/sa/web']);
    expect(inv.workloads[0]!.anchorFingerprint).toBe(g.istio.root);
    expect(inv.anchors[0]!.sources).toContain(
      'realistic/istio/pc-secret-web.json#dynamic_active_secrets[ROOTCA][validation_context.trusted_ca]',
    );
    expect(inv.keys).toEqual([]);
  });

  it('Envoy SPIFFE validator: one trust bundle per trust domain, each an anchor', async () => {
    const inv = await load(['realistic/istio/envoy-spiffe-config-dump.json']);
    const remote = byFp(inv, g.istio.spiffeBundles['remote.example']!);
    expect(remote.role).toBe('anchor');
    expect(remote.sources).toEqual([
      'realistic/istio/envoy-spiffe-config-dump.json#configs[1].dynamic_active_secrets[ROOTCA][validation_context.custom_validator_config.trust_domains[remote.example]]',
    ]);
    expect(byFp(inv, g.istio.root).role).toBe('anchor');
    expect(inv.workloads.map((w) => w.serviceAccount)).toEqual(['cart']);
  });

  it('ztunnel certificate dump: certChain (leaf first) and rootCerts, base64-encoded PEM', async () => {
    const inv = await load(['realistic/istio/ztunnel-config-dump.json']);
    expect(inv.sources.every((s) => s.kind === 'ztunnel-cert-dump')).toBe(true);
    expect(inv.workloads.map((w) => [w.spiffeId, w.anchorFingerprint])).toEqual([
      ['spiffe://cluster.local/ns/payments/sa/api', g.istio.root],
    ]);
  });
});

describe('generated problem material', () => {
  it('reports each problem code on the certificate that has it', async () => {
    const inv = await load(['realistic/istio', 'problems']);
    for (const [code, fingerprint] of Object.entries(g.problems)) {
      if (code === 'CORRUPT_PEM_BLOCK') continue;
      expect(codes(inv, fingerprint), code).toContain(code);
    }
  });

  it('v1 CA: a v1 certificate that signs is a CA, reported for having no extensions', async () => {
    const inv = await load(['problems/v1-ca-chain.pem']);
    expect(byFp(inv, g.problems.CA_V1_WITHOUT_EXTENSIONS!).role).toBe('anchor');
    expect(inv.workloads[0]!.anchorFingerprint).toBe(g.problems.CA_V1_WITHOUT_EXTENSIONS);
    expect(codes(inv)).toEqual(['CA_V1_WITHOUT_EXTENSIONS']);
  });

  it('a corrupt PEM block is reported with its position and the rest of the file still imports', async () => {
    const inv = await load(['problems/corrupt-block.pem']);
    expect(inv.anchors.map((a) => a.fingerprint)).toEqual([g.istio.root]);
    const p = inv.problems.find((x) => x.code === 'CORRUPT_PEM_BLOCK')!;
    expect(p.source).toBe('problems/corrupt-block.pem');
    expect(p.message).toMatch(/^PEM block 2 \(line \d+\)/);
    expect(p.details).toMatchObject({ block: 2 });
  });

  it('a key that is not the pair of its certificate in a cacerts Secret is KEY_CERT_MISMATCH', async () => {
    const inv = await load(['problems/key-mismatch-cacerts.yaml']);
    expect(inv.keys[0]).toMatchObject({ matchesCertificate: false, matchesFingerprint: null });
    expect(codes(inv, g.problems.KEY_CERT_MISMATCH)).toEqual(['KEY_CERT_MISMATCH']);
  });

  it('a root listed twice in one bundle is DUPLICATE_ROOT, with the block of the repeat', async () => {
    const inv = await load(['problems/duplicate-root-bundle.pem']);
    expect(inv.anchors).toHaveLength(1);
    expect(codes(inv)).toEqual(['DUPLICATE_ROOT']);
    expect(inv.problems[0]).toMatchObject({
      source: 'problems/duplicate-root-bundle.pem',
      details: { block: 2 },
    });
  });

  it('two anchor certificates with one key are DUPLICATE_ROOT too (a root re-issued with new dates)', async () => {
    const inv = await load(['realistic/istio/cacerts.yaml', 'problems/reissued-root.pem']);
    expect(inv.anchors).toHaveLength(2);
    expect(codes(inv)).toEqual(['DUPLICATE_ROOT', 'DUPLICATE_ROOT']);
  });

  it('a leaf is expiring soon in the last 20% of its lifetime, not before; a CA within 30 days', async () => {
    const inv = await load(['realistic/istio', 'problems/expiring-leaf.pem']);
    expect(codes(inv, g.problems.CERT_EXPIRING_SOON)).toEqual(['CERT_EXPIRING_SOON']);
    const later = await importPaths(['realistic/linkerd/trust-roots.yaml'], {
      cwd: join(dir, 'fixtures'),
      clock: () => new Date(NOW.getTime() + 290 * 86_400_000),
    });
    expect(codes(later, g.linkerd.oldAnchor)).toEqual(['CERT_EXPIRING_SOON']);
    expect(codes(later, g.linkerd.newAnchor)).toEqual([]);
  });

  it('checking leaf signatures on a worker thread gives the same inventory, problems included', async () => {
    const paths = ['realistic', 'problems'];
    const inline = await load(paths);
    const threaded = await importPaths(paths, {
      cwd: join(dir, 'fixtures'),
      clock: () => NOW,
      workerThread: true,
    });
    expect(toInventoryJson(threaded)).toEqual(toInventoryJson(inline));
    expect(all(threaded).map((c) => [c.fingerprint, c.issuerFingerprint])).toEqual(
      all(inline).map((c) => [c.fingerprint, c.issuerFingerprint]),
    );
  });

  it('--mesh forces the mesh of every certificate', async () => {
    const inv = await load(['realistic/istio/cacerts.yaml'], 'linkerd');
    expect(all(inv).every((c) => c.mesh === 'linkerd')).toBe(true);
  });
});
