/**
 * Linkerd anchor fixtures, per phase. No Linkerd-issued leaf exists upstream, so the
 * workload leaves are generated: under the fixture issuer (`issuer_valid-crt.pem`, whose
 * key is public), under a generated anchor -> issuer chain shaped as SOURCES.md
 * describes, plus the cfssl leaves of the linkerd2-proxy CA. The kernel's verdicts are
 * checked against `openssl verify` on each certificate.
 *
 * Finding: SOURCES.md says the fixture issuer is self-signed and NOT signed by
 * `trust-anchors_valid.pem`. The signature says otherwise: OpenSSL's own signature check
 * (node `X509Certificate.verify`) accepts `issuer_valid-crt.pem` under the anchor's key and
 * refuses it under its own key. `openssl verify` nevertheless refuses the chain (error 18,
 * "self-signed certificate"): it calls a certificate self-signed when subject == issuer
 * and no AKID says otherwise, and stops there. That is exactly N12 (never decide
 * self-signedness by names); the kernel builds the path by signature and accepts it. This
 * one disagreement is asserted on its own; on every other certificate the kernel and
 * `openssl verify` agree in every phase.
 */
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  BUNDLE_PHASES,
  bundleForPhase,
  composeTrust,
  identityOf,
  type Phase,
  pooledRoots,
  type RootInput,
  trustOfPhase,
  verifyPeer,
} from '../../src/dual-trust/index.js';
import type { Certificate } from '../../src/spiffe/x509/certificate.js';
import {
  AT,
  clock,
  fixtureCerts,
  fixtureKey,
  intermediateCa,
  linkerdLeaf,
  opensslVerify,
  selfSignedCa,
  spireCa,
  spireSvid,
} from './helpers.js';

const TD = 'cluster.local';
const MESH_ONLY: Record<Phase, boolean> = {
  inventoried: true,
  'dual-trust': true,
  'dual-issue': true,
  'spiffe-only': false,
  retired: false,
};
const SPIRE_ONLY: Record<Phase, boolean> = {
  inventoried: false,
  'dual-trust': true,
  'dual-issue': true,
  'spiffe-only': true,
  retired: true,
};
const NEVER: Record<Phase, boolean> = {
  inventoried: false,
  'dual-trust': false,
  'dual-issue': false,
  'spiffe-only': false,
  retired: false,
};

describe('Linkerd trust anchors + SPIRE, phase by phase', () => {
  const fixtureAnchor = fixtureCerts('linkerd', 'trust-anchors_valid.pem')[0]!;
  const proxyCa = fixtureCerts('linkerd', 'proxy-integration_ca1.pem')[0]!;
  const fixtureIssuer = {
    cert: fixtureCerts('linkerd', 'issuer_valid-crt.pem')[0]!,
    key: fixtureKey('linkerd', 'issuer_valid-key.pem'),
  };
  const anchor = selfSignedCa('CN=root.linkerd.cluster.local', { pathLen: 1 });
  const issuer = intermediateCa(anchor, 'CN=identity.linkerd.cluster.local', { pathLen: 0 });
  const spire = spireCa(TD);
  const stray = intermediateCa(
    selfSignedCa('CN=root.linkerd.cluster.local'),
    'CN=identity.linkerd.cluster.local',
  );
  const roots: RootInput[] = [
    {
      cert: fixtureAnchor,
      trustDomain: TD,
      origin: 'mesh',
      source: 'configmap/linkerd/linkerd-identity-trust-roots[ca-bundle.crt]',
    },
    {
      cert: anchor.cert,
      trustDomain: TD,
      origin: 'mesh',
      source: 'configmap/linkerd/linkerd-identity-trust-roots[ca-bundle.crt]',
    },
    { cert: proxyCa, trustDomain: TD, origin: 'mesh', source: 'proxy-integration_ca1.pem' },
    { cert: spire.cert, trustDomain: TD, origin: 'spire', source: 'unix:///run/spire/sockets/agent.sock' },
  ];
  const identity = (sa: string, ns: string) => `${sa}.${ns}.serviceaccount.identity.linkerd.cluster.local`;
  const certs: Record<string, { chain: Certificate[]; valid: Record<Phase, boolean>; opensslN12?: true }> = {
    'generated leaf, generated anchor -> issuer': {
      chain: [linkerdLeaf(issuer, identity('web', 'emojivoto')).cert, issuer.cert],
      valid: MESH_ONLY,
    },
    'fixture proxy leaf foo.ns1 (cfssl CA)': {
      chain: fixtureCerts('linkerd', 'proxy-integration_foo-ns1_ca1-cert.pem'),
      valid: MESH_ONLY,
    },
    'fixture proxy leaf default.default (cfssl CA)': {
      chain: fixtureCerts('linkerd', 'proxy-integration_default-default_ca1-cert.pem'),
      valid: MESH_ONLY,
    },
    'generated leaf under the fixture issuer': {
      chain: [linkerdLeaf(fixtureIssuer, identity('voting', 'emojivoto')).cert, fixtureIssuer.cert],
      valid: MESH_ONLY,
      opensslN12: true,
    },
    'generated leaf under an issuer no bundle holds': {
      chain: [linkerdLeaf(stray, identity('emoji', 'emojivoto')).cert, stray.cert],
      valid: NEVER,
    },
    'SPIRE-issued SVID': {
      chain: [spireSvid(spire, 'spiffe://cluster.local/ns/emojivoto/sa/web').cert],
      valid: SPIRE_ONLY,
    },
  };
  const composition = composeTrust(roots, [], { clock });

  it('reads Linkerd identities (DNS SAN) and SPIFFE IDs to the same workload key', () => {
    const linkerd = identityOf(certs['generated leaf, generated anchor -> issuer']!.chain[0]!);
    const spiffe = identityOf(certs['SPIRE-issued SVID']!.chain[0]!);
    expect(linkerd).toMatchObject({
      kind: 'mesh',
      trustDomain: 'cluster.local',
      workloadKey: 'ns/emojivoto/sa/web',
    });
    expect(spiffe).toMatchObject({
      kind: 'spiffe',
      trustDomain: 'cluster.local',
      workloadKey: 'ns/emojivoto/sa/web',
    });
  });

  for (const phase of BUNDLE_PHASES) {
    it(`${phase}: verifies exactly the certificates it should, and openssl agrees on each`, () => {
      const bundle = bundleForPhase(composition, phase);
      const trust = trustOfPhase(bundle);
      const pooled = pooledRoots(bundle).map((r) => r.cert);
      for (const [name, c] of Object.entries(certs)) {
        const kernel = verifyPeer(c.chain, trust, { clock });
        expect({ name, kernel: kernel.valid, code: kernel.valid ? undefined : kernel.code }).toMatchObject({
          name,
          kernel: c.valid[phase],
        });
        const openssl = opensslVerify(pooled, c.chain, AT);
        if (c.opensslN12) expect({ name, openssl }).toEqual({ name, openssl: false });
        else expect({ name, openssl }).toEqual({ name, openssl: kernel.valid });
      }
    });
  }

  it('the fixture issuer is signed by the fixture anchor: OpenSSL signature check yes, openssl verify no (N12)', () => {
    const anchorX = new X509Certificate(Buffer.from(fixtureAnchor.der));
    const issuerX = new X509Certificate(Buffer.from(fixtureIssuer.cert.der));
    expect(issuerX.verify(anchorX.publicKey)).toBe(true);
    expect(issuerX.verify(issuerX.publicKey)).toBe(false);
    expect(opensslVerify([fixtureAnchor], [fixtureIssuer.cert])).toBe(false);
    const only = composeTrust([roots[0]!], [], { clock });
    const chain = certs['generated leaf under the fixture issuer']!.chain;
    const v = verifyPeer(chain, trustOfPhase(bundleForPhase(only, 'inventoried')), { clock });
    expect(v.valid && v.anchor.fingerprint).toBe(fixtureAnchor.fingerprint);
  });

  it('names why a leaf of an unknown issuer fails: no path to any anchor', () => {
    const c = certs['generated leaf under an issuer no bundle holds']!;
    const v = verifyPeer(c.chain, trustOfPhase(bundleForPhase(composition, 'dual-trust')), { clock });
    expect(v.valid).toBe(false);
    expect(v.valid ? '' : v.code).toMatch(/^CHAIN_/);
  });
});
