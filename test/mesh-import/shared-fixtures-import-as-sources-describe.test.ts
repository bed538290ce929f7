/**
 * Every file of ../shared/fixtures/istio and ../shared/fixtures/linkerd imports with the
 * identities and chains its SOURCES.md describes, judged on the day SOURCES.md was
 * written (2026-11-23).
 *
 * Two SOURCES.md claims do not survive a signature check, and the inventory follows the
 * signatures (the architecture: link by signature, never by name):
 * - linkerd issuer_valid-crt.pem is NOT self-signed: the trust anchor's key signed it.
 * - istio ec-workload-cert.pem is NOT self-signed: ec-root-cert.pem's key signed it.
 * Both are named exactly like their issuer (self-issued), so `openssl verify` stops at
 * them with "self-signed certificate" (error 18) without trying the issuer's key; that is
 * what SOURCES.md recorded. `openssl dgst -verify` on the to-be-signed bytes settles it
 * below, and the inventory reports the real trap: SAME_SUBJECT_DIFFERENT_KEY.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readContent } from '../../src/mesh-import/index.js';
import { fixturePath } from '../helpers/fixtures.js';
import { byFp, codes, fixtureFp, importPaths, opensslSignedBy } from './helpers.js';

const istio = (f: string, i = 0) => fixtureFp('istio', f, i);
const linkerd = (f: string, i = 0) => fixtureFp('linkerd', f, i);
const text = (mesh: string, f: string) => readFileSync(fixturePath(mesh, f), 'utf8');
/** The O=cluster.local root (2023) inside envoy-secrets_config_dump.json (ROOTCA). */
const ENVOY_ROOT = '44aa7838aacdebf783f104ad39ed06ab0288f8dc37fe32ba753b7f6d09992acb';

describe('every shared fixture file imports on its own', () => {
  for (const mesh of ['istio', 'linkerd'] as const) {
    const files = readdirSync(fixturePath(mesh)).filter((f) => f !== 'SOURCES.md');
    it.each(files)(`${mesh}/%s is read without an error`, async (file) => {
      const inv = await importPaths([`${mesh}/${file}`]);
      expect(inv.stats.skippedFiles).toBe(0);
      expect(inv.problems.filter((p) => p.code === 'CORRUPT_PEM_BLOCK')).toEqual([]);
    });
  }

  it('SOURCES.md in a walked folder is skipped, not an error', async () => {
    const inv = await importPaths(['istio']);
    expect(inv.stats.skippedFiles).toBe(1);
  });
});

describe('istio fixtures', () => {
  it('finds the anchors, the one intermediate and the six workloads, chained by signature', async () => {
    const inv = await importPaths(['istio']);
    expect(inv.anchors.map((a) => a.fingerprint).sort()).toEqual(
      [
        istio('plugin-ca_root-cert.pem'),
        istio('plugin-ca_root-cert-combined.pem', 1),
        istio('selfsigned-ca_root-cert.pem'),
        istio('testcerts-default_root-cert.pem'),
        istio('ec-root-cert.pem'),
        // the envoy dump's O=cluster.local root (2023), not the 2020 one of the same name
        ENVOY_ROOT,
      ].sort(),
    );
    expect(inv.intermediates.map((a) => a.fingerprint)).toEqual([istio('plugin-ca_ca-cert.pem')]);
    expect(inv.workloads).toHaveLength(6);

    const foo = byFp(inv, istio('workload-foo-cert.pem'));
    expect(foo).toMatchObject({
      spiffeId: 'spiffe://trust-domain-foo/ns/foo/sa/foo',
      meshIdentity: 'spiffe://trust-domain-foo/ns/foo/sa/foo',
      namespace: 'foo',
      serviceAccount: 'foo',
      mesh: 'istio',
      issuerFingerprint: istio('plugin-ca_ca-cert.pem'),
      anchorFingerprint: istio('plugin-ca_root-cert.pem'),
      subject: '',
    });
    expect(byFp(inv, istio('plugin-ca_ca-cert.pem')).anchorFingerprint).toBe(
      istio('plugin-ca_root-cert.pem'),
    );

    const prometheus = byFp(inv, istio('selfsigned-ca_workload-cert-chain.pem'));
    expect(prometheus).toMatchObject({
      spiffeId: 'spiffe://cluster.local/ns/istio-system/sa/prometheus',
      namespace: 'istio-system',
      serviceAccount: 'prometheus',
      anchorFingerprint: istio('selfsigned-ca_root-cert.pem'),
    });
    expect(codes(inv, prometheus.fingerprint)).toEqual(['CERT_EXPIRED']);

    expect(byFp(inv, istio('testcerts-default_cert-chain.pem'))).toMatchObject({
      spiffeId: 'spiffe://cluster.local/ns/default/sa/default',
      anchorFingerprint: istio('testcerts-default_root-cert.pem'),
    });
    const server = byFp(inv, istio('testcerts-mountedcerts-server_cert-chain.pem'));
    expect(server).toMatchObject({
      spiffeId: 'spiffe://cluster.local/ns/mounted-certs/sa/server',
      namespace: 'mounted-certs',
      serviceAccount: 'server',
      anchorFingerprint: istio('testcerts-default_root-cert.pem'),
    });
    expect(server.san.dnsNames).toEqual(['server.mounted-certs.svc']);
  });

  it('reads the Envoy config dump: default chain (leaf + root) and ROOTCA, base64 inline_bytes, redacted key skipped', async () => {
    const inv = await importPaths(['istio/envoy-secrets_config_dump.json']);
    const root = ENVOY_ROOT;
    expect(inv.anchors.map((a) => a.fingerprint)).toEqual([root]);
    expect(inv.anchors[0]!.sources).toEqual([
      'istio/envoy-secrets_config_dump.json#configs[0].dynamic_active_secrets[ROOTCA][validation_context.trusted_ca]',
      'istio/envoy-secrets_config_dump.json#configs[0].dynamic_active_secrets[default][tls_certificate.certificate_chain]',
    ]);
    expect(inv.workloads).toHaveLength(1);
    expect(inv.workloads[0]).toMatchObject({
      spiffeId: 'spiffe://cluster.local/ns/ambient/sa/namespace-istio-waypoint',
      namespace: 'ambient',
      anchorFingerprint: root,
      mesh: 'istio',
    });
    expect(codes(inv)).toEqual(['CERT_EXPIRED']);
    expect(inv.keys).toEqual([]);
    expect(inv.sources.every((s) => s.kind === 'envoy-config-dump')).toBe(true);
  });

  it('does not link same-name unrelated CAs: the two O=cluster.local roots each keep their own leaf', async () => {
    const inv = await importPaths([
      'istio/selfsigned-ca_root-cert.pem',
      'istio/envoy-secrets_config_dump.json',
      'istio/selfsigned-ca_workload-cert-chain.pem',
    ]);
    const oldRoot = istio('selfsigned-ca_root-cert.pem');
    const newRoot = ENVOY_ROOT;
    expect(byFp(inv, istio('selfsigned-ca_workload-cert-chain.pem')).anchorFingerprint).toBe(oldRoot);
    expect(inv.workloads.find((w) => w.namespace === 'ambient')!.anchorFingerprint).toBe(newRoot);
    expect(codes(inv, oldRoot)).toEqual(['SAME_SUBJECT_DIFFERENT_KEY']);
    expect(codes(inv, newRoot)).toEqual(['SAME_SUBJECT_DIFFERENT_KEY']);
  });

  it('ec-workload-cert.pem is a workload (CA:FALSE), never an anchor, carries no SPIFFE ID, and its same-name issuer is reported', async () => {
    const inv = await importPaths(['istio/ec-root-cert.pem', 'istio/ec-workload-cert.pem']);
    const root = istio('ec-root-cert.pem');
    const leaf = byFp(inv, istio('ec-workload-cert.pem'));
    expect(inv.anchors.map((a) => a.fingerprint)).toEqual([root]);
    expect(leaf).toMatchObject({
      role: 'workload',
      spiffeId: null,
      meshIdentity: null,
      namespace: null,
      selfSigned: false,
    });
    expect(leaf.san.dnsNames).toEqual(['watt']);
    // Linked because ec-root's key verifies its signature (OpenSSL agrees), not because of the name.
    expect(opensslSignedBy(text('istio', 'ec-workload-cert.pem'), text('istio', 'ec-root-cert.pem'))).toBe(
      true,
    );
    expect(
      opensslSignedBy(text('istio', 'ec-workload-cert.pem'), text('istio', 'ec-workload-cert.pem')),
    ).toBe(false);
    expect(leaf.issuerFingerprint).toBe(root);
    expect(codes(inv, leaf.fingerprint)).toEqual(['SAME_SUBJECT_DIFFERENT_KEY']);
    expect(inv.problems.find((p) => p.fingerprint === leaf.fingerprint)!.message).toMatch(/self-issued/);
  });

  it('ec-workload-cert.pem alone reaches no anchor and is not made one', async () => {
    const inv = await importPaths(['istio/ec-workload-cert.pem']);
    expect(inv.anchors).toEqual([]);
    expect(codes(inv)).toEqual(['CHAIN_NO_ANCHOR']);
  });

  it('a chain file alone reports the missing root instead of inventing one', async () => {
    const inv = await importPaths(['istio/workload-foo-cert.pem']);
    expect(inv.anchors).toEqual([]);
    expect(inv.intermediates.map((c) => c.fingerprint)).toEqual([istio('plugin-ca_ca-cert.pem')]);
    expect(codes(inv)).toEqual(['CHAIN_NO_ANCHOR', 'CHAIN_NO_ANCHOR']);
  });

  it('records private keys by type and match only', async () => {
    const inv = await importPaths([
      'istio/plugin-ca_ca-cert.pem',
      'istio/plugin-ca_ca-key.pem',
      'istio/workload-foo-key.pem',
    ]);
    expect(inv.keys).toEqual([
      {
        source: 'istio/plugin-ca_ca-key.pem',
        keyType: 'rsa-2048',
        matchesFingerprint: istio('plugin-ca_ca-cert.pem'),
        matchesCertificate: null,
      },
      {
        source: 'istio/workload-foo-key.pem',
        keyType: 'rsa-2048',
        matchesFingerprint: null,
        matchesCertificate: null,
      },
    ]);
    expect(JSON.stringify(inv)).not.toMatch(/PRIVATE KEY|MIIE/);
  });

  it('the two-root bundle gives two anchors with different keys and names, both RSA', async () => {
    const inv = await importPaths(['istio/plugin-ca_root-cert-combined.pem']);
    expect(inv.anchors.map((a) => a.keyAlgorithm).sort()).toEqual(['RSA 2048', 'RSA 4096']);
    expect(inv.problems).toEqual([]);
  });

  it('manifests without certificate material (injected Deployment, SPIRE objects) import empty', async () => {
    const inv = await importPaths([
      'istio/injected-sidecar_hello.yaml',
      'istio/spire_clusterspiffeid.yaml',
      'istio/spire_istio-spire-config.yaml',
    ]);
    expect(inv.stats).toMatchObject({ files: 3, skippedFiles: 0, certificatesSeen: 0 });
  });
});

describe('linkerd fixtures', () => {
  const anchor = () => linkerd('trust-anchors_valid.pem');
  const issuer = () => linkerd('issuer_valid-crt.pem');

  it('install_default.golden: anchors from ca-bundle.crt and identityTrustAnchorsPEM, the issuer from the Secret and values', async () => {
    const inv = await importPaths(['linkerd/install_default.golden.yaml']);
    expect(inv.anchors.map((a) => a.fingerprint)).toEqual([anchor()]);
    expect(inv.anchors[0]!.sources).toEqual(
      expect.arrayContaining([
        'linkerd/install_default.golden.yaml#configmap/linkerd/linkerd-identity-trust-roots[ca-bundle.crt]',
        'linkerd/install_default.golden.yaml#configmap/linkerd/linkerd-config[values][identityTrustAnchorsPEM]',
      ]),
    );
    expect(inv.intermediates.map((a) => a.fingerprint)).toEqual([issuer()]);
    expect(inv.intermediates[0]!.sources).toEqual(
      expect.arrayContaining([
        'linkerd/install_default.golden.yaml#secret/linkerd/linkerd-identity-issuer[crt.pem]',
        'linkerd/install_default.golden.yaml#configmap/linkerd/linkerd-config[values][identity.issuer.tls.crtPEM]',
      ]),
    );
    expect(inv.anchors[0]!.mesh).toBe('linkerd');
    const secretKey = inv.keys.find((k) => k.source.endsWith('linkerd-identity-issuer[key.pem]'));
    expect(secretKey).toEqual({
      source: 'linkerd/install_default.golden.yaml#secret/linkerd/linkerd-identity-issuer[key.pem]',
      keyType: 'ec-p256',
      matchesFingerprint: issuer(),
      matchesCertificate: true,
    });
    expect(
      inv.sources.find((s) => s.locator.endsWith('linkerd-identity-trust-roots[ca-bundle.crt]'))!.kind,
    ).toBe('linkerd-trust-roots');
    expect(inv.sources.find((s) => s.locator.endsWith('linkerd-identity-issuer[crt.pem]'))!.kind).toBe(
      'linkerd-identity-issuer',
    );
  });

  it('the "valid" issuer is linked to the anchor because the anchor key signed it (OpenSSL agrees), and the shared name is reported', async () => {
    const inv = await importPaths(['linkerd/trust-anchors_valid.pem', 'linkerd/issuer_valid-crt.pem']);
    expect(
      opensslSignedBy(text('linkerd', 'issuer_valid-crt.pem'), text('linkerd', 'trust-anchors_valid.pem')),
    ).toBe(true);
    expect(
      opensslSignedBy(text('linkerd', 'issuer_valid-crt.pem'), text('linkerd', 'issuer_valid-crt.pem')),
    ).toBe(false);
    const i = byFp(inv, issuer());
    expect(i).toMatchObject({
      role: 'intermediate',
      selfSigned: false,
      issuerFingerprint: anchor(),
      anchorFingerprint: anchor(),
    });
    expect(codes(inv)).toEqual(['SAME_SUBJECT_DIFFERENT_KEY', 'SAME_SUBJECT_DIFFERENT_KEY']);
  });

  it('the RSA anchor signs the P-256 issuer; the name-only look-alikes are not linked to it', async () => {
    const inv = await importPaths(['linkerd']);
    expect(byFp(inv, linkerd('rsa-ca_issuer.crt'))).toMatchObject({
      role: 'intermediate',
      keyAlgorithm: 'EC P-256',
      issuerFingerprint: linkerd('rsa-ca_ca.crt'),
      anchorFingerprint: linkerd('rsa-ca_ca.crt'),
    });
    expect(inv.anchors.map((a) => a.fingerprint).sort()).toEqual(
      [anchor(), linkerd('rsa-ca_ca.crt'), linkerd('proxy-integration_ca1.pem')].sort(),
    );
    expect(inv.intermediates.map((a) => a.fingerprint).sort()).toEqual(
      [issuer(), linkerd('rsa-ca_issuer.crt')].sort(),
    );
    expect(codes(inv)).toEqual(Array(3).fill('SAME_SUBJECT_DIFFERENT_KEY'));
  });

  it('proxy leaves: the DNS identity gives namespace and service account, mesh linkerd, no SPIFFE ID', async () => {
    const inv = await importPaths([
      'linkerd/proxy-integration_ca1.pem',
      'linkerd/proxy-integration_foo-ns1_ca1-cert.pem',
      'linkerd/proxy-integration_default-default_ca1-cert.pem',
    ]);
    expect(byFp(inv, linkerd('proxy-integration_foo-ns1_ca1-cert.pem'))).toMatchObject({
      meshIdentity: 'foo.ns1.serviceaccount.identity.linkerd.cluster.local',
      spiffeId: null,
      namespace: 'ns1',
      serviceAccount: 'foo',
      trustDomain: 'cluster.local',
      mesh: 'linkerd',
      anchorFingerprint: linkerd('proxy-integration_ca1.pem'),
    });
    expect(byFp(inv, linkerd('proxy-integration_default-default_ca1-cert.pem'))).toMatchObject({
      namespace: 'default',
      serviceAccount: 'default',
    });
    // The CA takes the mesh of the leaves it signed.
    expect(inv.anchors[0]!.mesh).toBe('linkerd');
    expect(inv.problems).toEqual([]);
  });

  it('the injected Deployment contributes its inline trust anchors (LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS)', async () => {
    const inv = await importPaths(['linkerd/inject_emojivoto_deployment.golden.yaml']);
    expect(inv.anchors.map((a) => a.fingerprint)).toEqual([anchor()]);
    expect(inv.sources.map((s) => s.kind)).toEqual(['linkerd-proxy-env']);
    expect(inv.anchors[0]!.sources[0]).toMatch(/#deployment\/emojivoto\/web\[.*env\[\d+\]\.value\]$/);
  });

  it('detects the shape from content: a .crt file is PEM, a .golden.yaml is a manifest', () => {
    expect(readContent(readFileSync(fixturePath('linkerd', 'rsa-ca_ca.crt')), 'x.bin').shape).toBe('pem');
    expect(
      readContent(readFileSync(fixturePath('linkerd', 'install_default.golden.yaml')), 'x.txt').shape,
    ).toBe('kubernetes');
  });
});
