import { describe, expect, it } from 'vitest';
import { X509Bundle, X509BundleSet } from '../../../src/spiffe/bundle/x509bundle.js';
import { SpiffeError } from '../../../src/spiffe/errors.js';
import { TrustDomain } from '../../../src/spiffe/spiffeid/index.js';
import { parseCertificates } from '../../../src/spiffe/x509/certificate.js';
import { readFixture } from '../../helpers/fixtures.js';
import { createRoot } from '../../helpers/pki.js';

const td = TrustDomain.parse('domain.test');

function errorOf(fn: () => unknown): SpiffeError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SpiffeError);
    return err as SpiffeError;
  }
  throw new Error('expected a SpiffeError');
}

describe('go-spiffe x509bundle fixtures get their SOURCES.md verdicts', () => {
  it('certs.pem parses to 2 authorities (CA-ness of entries is not checked)', () => {
    const b = X509Bundle.parse(td, readFixture('spiffe', 'go-spiffe', 'x509bundle', 'certs.pem'));
    expect(b.authorities().map((c) => c.subject)).toEqual(['CN=PEMUTILTEST1', 'CN=PEMUTILTEST2']);
    expect(b.authorities().every((c) => c.basicConstraints === undefined)).toBe(true);
  });

  it('empty.pem is an empty bundle that trusts nothing (R60)', () => {
    const b = X509Bundle.parse(td, readFixture('spiffe', 'go-spiffe', 'x509bundle', 'empty.pem'));
    expect(b.isEmpty()).toBe(true);
    expect(b.authorities()).toEqual([]);
  });

  it('corrupted.pem is rejected with its position', () => {
    const err = errorOf(() =>
      X509Bundle.parse(td, readFixture('spiffe', 'go-spiffe', 'x509bundle', 'corrupted.pem')),
    );
    expect(err.code).toBe('CERT_MALFORMED');
    expect(err.message).toMatch(/cannot parse certificate/);
    expect(err.details).toMatchObject({ block: 1, line: 1, trustDomain: 'domain.test' });
  });

  it('a damaged PEM body is PEM_MALFORMED with block and line', () => {
    const text = readFixture('istio', 'plugin-ca_root-cert-combined.pem')
      .toString()
      .replace(/\n(MII)/g, '\n$1')
      .split('\n');
    const at = text.findIndex((l, i) => i > 5 && l.startsWith('-----BEGIN')) + 3;
    text[at] = `${text[at]!.slice(0, 10)}%${text[at]!.slice(11)}`;
    const err = errorOf(() => X509Bundle.parse(td, text.join('\n')));
    expect(err.code).toBe('PEM_MALFORMED');
    expect(err.details).toMatchObject({ block: 2, line: at + 1 });
  });

  it('federated-bundle.pem (the spiffe://local root) parses from PEM and from DER', () => {
    const pem = X509Bundle.parse(
      'example.org',
      readFixture('spiffe', 'java-spiffe', 'workloadapi', 'federated-bundle.pem'),
    );
    const der = X509Bundle.parse('example.org', pem.toDer());
    expect(der.equals(pem)).toBe(true);
    expect(pem.authorities()[0]!.keyAlgorithm).toBe('EC P-384');
  });
});

describe('X509Bundle', () => {
  it('adds, finds and removes authorities by fingerprint; duplicates are kept once', async () => {
    const [a, b] = await Promise.all([createRoot(), createRoot()]);
    const bundle = new X509Bundle(td, [a.cert, a.cert]);
    expect(bundle.size).toBe(1);
    bundle.addAuthority(b.cert);
    bundle.addAuthority(a.cert);
    expect(bundle.authorities()).toEqual([a.cert, b.cert]);
    expect(bundle.hasAuthority(b.cert.fingerprint.toUpperCase())).toBe(true);
    expect(bundle.removeAuthority(a.cert)).toBe(true);
    expect(bundle.removeAuthority(a.cert.fingerprint)).toBe(false);
    expect(bundle.authorities()).toEqual([b.cert]);
  });

  it('toPem is stable (insertion order) and round-trips', () => {
    const input = readFixture('istio', 'plugin-ca_root-cert-combined.pem');
    const bundle = X509Bundle.parse(td, input);
    const pem = bundle.toPem();
    expect(pem).toBe(bundle.toPem());
    expect(parseCertificates(pem).map((c) => c.fingerprint)).toEqual(
      bundle.authorities().map((c) => c.fingerprint),
    );
    expect(X509Bundle.parse(td, pem).toPem()).toBe(pem);
  });

  it('answers only for its own trust domain (R20), else BUNDLE_NOT_FOUND (verdict)', () => {
    const bundle = new X509Bundle(td);
    expect(bundle.getX509BundleForTrustDomain(TrustDomain.parse('domain.test'))).toBe(bundle);
    const err = errorOf(() => bundle.getX509BundleForTrustDomain(TrustDomain.parse('other.test')));
    expect(err).toMatchObject({ code: 'BUNDLE_NOT_FOUND', category: 'verdict', rule: 20 });
  });

  it('finds issuer candidates by subject name and by SKI, never trusting either alone', () => {
    const [leaf, inter] = parseCertificates(
      readFixture('spiffe', 'go-spiffe', 'x509svid', 'good-leaf-and-intermediate.pem'),
    );
    const root = X509Bundle.parse(
      td,
      readFixture('spiffe', 'java-spiffe', 'workloadapi', 'federated-bundle.pem'),
    );
    expect(root.candidateIssuers(inter!)).toHaveLength(1);
    // The leaf's issuer reads "O=SPIFFE,C=US" like the root's subject (other string types): a candidate only.
    expect(leaf!.issuer).toBe(root.authorities()[0]!.subject);
    expect(root.candidateIssuers(leaf!)).toEqual(root.authorities());
  });
});

describe('X509BundleSet', () => {
  it('keeps one bundle per trust domain and never pools them (R20)', async () => {
    const a = new X509Bundle(TrustDomain.parse('a.test'), [(await createRoot()).cert]);
    const b = new X509Bundle(TrustDomain.parse('b.test'));
    const set = new X509BundleSet([a, b]);
    expect(set.getX509BundleForTrustDomain(TrustDomain.parse('a.test'))).toBe(a);
    expect(set.get('spiffe://b.test')).toBe(b);
    expect(set.all().map((x) => x.trustDomain.name)).toEqual(['a.test', 'b.test']);
    expect(errorOf(() => set.getX509BundleForTrustDomain(TrustDomain.parse('c.test'))).code).toBe(
      'BUNDLE_NOT_FOUND',
    );
    const a2 = new X509Bundle(TrustDomain.parse('a.test'));
    set.add(a2);
    expect(set.get('a.test')).toBe(a2);
    expect(set.remove('a.test')).toBe(true);
    expect(set.size).toBe(1);
  });
});
