/**
 * Istio two-root rotation fixtures (`plugin-ca_root-cert-combined.pem`: old RSA-2048 root
 * + new RSA-4096 root; the plug-in "Istio CA" under the old root, with its key) plus a
 * SPIRE CA for the same trust domain. For every phase, the composed bundle verifies
 * exactly the certificates it should, and the kernel agrees with `openssl verify` on
 * each certificate.
 */
import { describe, expect, it } from 'vitest';
import {
  BUNDLE_PHASES,
  bundleForPhase,
  composeTrust,
  dryRun,
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
  istioLeaf,
  opensslVerify,
  spireCa,
  spireSvid,
} from './helpers.js';

const TD = 'trust-domain-foo';

function setup() {
  const oldRoot = fixtureCerts('istio', 'plugin-ca_root-cert.pem')[0]!;
  const combined = fixtureCerts('istio', 'plugin-ca_root-cert-combined.pem');
  const istioCa = {
    cert: fixtureCerts('istio', 'plugin-ca_ca-cert.pem')[0]!,
    key: fixtureKey('istio', 'plugin-ca_ca-key.pem'),
  };
  const spire = spireCa(TD);
  const roots: RootInput[] = [
    { cert: oldRoot, trustDomain: TD, origin: 'mesh', source: 'secret/istio-system/cacerts[root-cert.pem]' },
    ...combined.map((cert) => ({
      cert,
      trustDomain: TD,
      origin: 'mesh' as const,
      source: 'configmap/default/istio-ca-root-cert[root-cert.pem]',
    })),
    { cert: spire.cert, trustDomain: TD, origin: 'spire', source: 'spire/bundle.json' },
  ];
  const generated = istioLeaf(istioCa, `spiffe://${TD}/ns/shop/sa/web`);
  const certs: Record<string, { chain: Certificate[]; valid: Record<Phase, boolean> }> = {
    'fixture workload-foo (old root)': {
      chain: fixtureCerts('istio', 'workload-foo-cert.pem'),
      valid: {
        inventoried: true,
        'dual-trust': true,
        'dual-issue': true,
        'spiffe-only': false,
        retired: false,
      },
    },
    'generated Istio leaf under the plug-in CA': {
      chain: [generated.cert, istioCa.cert],
      valid: {
        inventoried: true,
        'dual-trust': true,
        'dual-issue': true,
        'spiffe-only': false,
        retired: false,
      },
    },
    'SPIRE-issued SVID': {
      chain: [spireSvid(spire, `spiffe://${TD}/ns/shop/sa/web`).cert],
      valid: {
        inventoried: false,
        'dual-trust': true,
        'dual-issue': true,
        'spiffe-only': true,
        retired: true,
      },
    },
    'expired istiod leaf of another root': {
      chain: fixtureCerts('istio', 'selfsigned-ca_workload-cert-chain.pem'),
      valid: {
        inventoried: false,
        'dual-trust': false,
        'dual-issue': false,
        'spiffe-only': false,
        retired: false,
      },
    },
    'test leaf of an unrelated root': {
      chain: fixtureCerts('istio', 'testcerts-default_cert-chain.pem'),
      valid: {
        inventoried: false,
        'dual-trust': false,
        'dual-issue': false,
        'spiffe-only': false,
        retired: false,
      },
    },
  };
  return { oldRoot, combined, spire, roots, certs };
}

describe('Istio two-root rotation + SPIRE, phase by phase', () => {
  const { oldRoot, combined, spire, roots, certs } = setup();
  const composition = composeTrust(roots, [], { clock });

  it('collapses the old root seen in two sources into one root with both sources', () => {
    const td = composition.trustDomains.find((t) => t.name === TD)!;
    expect(td.roots.map((r) => r.fingerprint).sort()).toEqual(
      [combined[0]!.fingerprint, combined[1]!.fingerprint, spire.cert.fingerprint].sort(),
    );
    expect(combined[0]!.fingerprint).toBe(oldRoot.fingerprint);
    const old = td.roots.find((r) => r.fingerprint === oldRoot.fingerprint)!;
    expect(old.sources).toEqual([
      'configmap/default/istio-ca-root-cert[root-cert.pem]',
      'secret/istio-system/cacerts[root-cert.pem]',
    ]);
    expect(old.origins).toEqual(['mesh']);
    expect([old.entersAt, old.leavesAt]).toEqual(['inventoried', 'spiffe-only']);
  });

  it('puts the mesh roots in until spiffe-only and SPIRE from dual-trust on', () => {
    const fps = (p: Phase) => pooledRoots(bundleForPhase(composition, p)).map((r) => r.fingerprint);
    expect(fps('inventoried')).toEqual([combined[0]!.fingerprint, combined[1]!.fingerprint]);
    expect(fps('dual-trust')).toEqual([
      combined[0]!.fingerprint,
      combined[1]!.fingerprint,
      spire.cert.fingerprint,
    ]);
    expect(fps('dual-issue')).toEqual(fps('dual-trust'));
    expect(fps('spiffe-only')).toEqual([spire.cert.fingerprint]);
  });

  for (const phase of BUNDLE_PHASES) {
    it(`${phase}: verifies exactly the certificates it should, and openssl agrees on each`, () => {
      const bundle = bundleForPhase(composition, phase);
      const trust = trustOfPhase(bundle);
      const pooled = pooledRoots(bundle).map((r) => r.cert);
      for (const [name, c] of Object.entries(certs)) {
        const kernel = verifyPeer(c.chain, trust, { clock });
        const openssl = opensslVerify(pooled, c.chain, AT);
        expect({ name, kernel: kernel.valid }).toEqual({ name, kernel: c.valid[phase] });
        expect({ name, openssl }).toEqual({ name, openssl: kernel.valid });
      }
    });
  }

  it('the dry run of spiffe-only against today (inventoried) names every mesh certificate as a break', () => {
    const candidates = Object.entries(certs).map(([source, c]) => ({ source, chain: c.chain }));
    const today = trustOfPhase(bundleForPhase(composition, 'inventoried'));
    const early = dryRun(candidates, {
      bundle: trustOfPhase(bundleForPhase(composition, 'spiffe-only')),
      current: today,
      clock,
    });
    expect(early.breaks.map((b) => b.source).sort()).toEqual([
      'fixture workload-foo (old root)',
      'generated Istio leaf under the plug-in CA',
    ]);
    const safe = dryRun(candidates, {
      bundle: trustOfPhase(bundleForPhase(composition, 'dual-trust')),
      current: today,
      clock,
    });
    expect(safe.breaks).toEqual([]);
    expect(safe).toMatchObject({ total: 5, valid: 3, invalid: 2 });
    const expired = safe.results.find((r) => r.source === 'expired istiod leaf of another root')!;
    expect(expired).toMatchObject({
      valid: false,
      spiffeId: 'spiffe://cluster.local/ns/istio-system/sa/prometheus',
    });
    expect(expired.code).toMatch(/BUNDLE_NOT_FOUND|SVID_EXPIRED/);
  });
});

describe('expiry inside the overlap window', () => {
  const { roots } = setup();

  it('refuses a root expiring inside the overlap (the new root ends 2033-12-08) unless allowed', () => {
    const eightYears = 8 * 365 * 86_400;
    const err = (() => {
      try {
        composeTrust(roots, [], { clock, overlapSeconds: eightYears });
        return undefined;
      } catch (e) {
        return e as { code: string; details: { roots: { subject: string }[] } };
      }
    })();
    expect(err?.code).toBe('BUNDLE_ROOT_EXPIRING');
    expect(err?.details.roots.map((r) => r.subject)).toEqual(['CN=Root CA,O=Istio']);
    const allowed = composeTrust(roots, [], { clock, overlapSeconds: eightYears, allowExpiring: true });
    expect(allowed.warnings.map((w) => w.code)).toContain('BUNDLE_ROOT_EXPIRING');
  });

  it('refuses an expired root with BUNDLE_ROOT_EXPIRED', () => {
    const later = () => new Date('2034-01-01T00:00:00Z');
    expect(() =>
      composeTrust(
        roots.filter((r) => r.origin === 'mesh'),
        [],
        { clock: later },
      ),
    ).toThrow(expect.objectContaining({ code: 'BUNDLE_ROOT_EXPIRED' }));
  });
});
