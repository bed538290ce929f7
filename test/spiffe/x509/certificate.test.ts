import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SpiffeError } from '../../../src/spiffe/errors.js';
import {
  type Certificate,
  clearParseCache,
  configureParseCache,
  DEFAULT_PARSE_CACHE_SIZE,
  parseCacheSize,
  parseCertificate,
  parseCertificates,
} from '../../../src/spiffe/x509/certificate.js';
import { fixturePath, readFixture } from '../../helpers/fixtures.js';
import {
  createCert,
  createLeaf,
  createRoot,
  generateKeyPair,
  resign,
  unknownCriticalExtension,
} from '../../helpers/pki.js';

/** Every certificate-bearing fixture file (PEM or DER). */
const CERT_FILES: string[][] = [
  ...[
    'good-leaf-only.pem',
    'good-leaf-and-intermediate.pem',
    'good-cert-and-key.pem',
    'good-key-and-cert.pem',
    'wrong-intermediate-no-ca.pem',
    'wrong-intermediate-no-key-cert-sign.pem',
    'wrong-leaf-ca-true.pem',
    'wrong-leaf-cert-sign.pem',
    'wrong-leaf-crl-sign.pem',
    'wrong-leaf-empty-id.pem',
    'wrong-leaf-no-digital-signature.pem',
  ].map((f) => ['spiffe', 'go-spiffe', 'x509svid', f]),
  ['spiffe', 'go-spiffe', 'x509bundle', 'certs.pem'],
  ...['a', 'b', 'c', 'd', 'e'].map((x) => ['spiffe', 'java-spiffe', 'certs', `leaf-${x}.crt.der`]),
  ['spiffe', 'java-spiffe', 'workloadapi', 'svid.der'],
  ['spiffe', 'java-spiffe', 'workloadapi', 'federated-bundle.pem'],
  ['spiffe', 'rust-spiffe', 'svid', '1-svid-chain.der'],
  ['spiffe', 'rust-spiffe', 'svid', 'svid-with-dns.der'],
  ...['ca.der', 'spiffe_leaf.der', 'no_spiffe_leaf.der'].map((f) => ['spiffe', 'rust-spiffe', 'rustls', f]),
  ...[
    'ec-root-cert.pem',
    'ec-workload-cert.pem',
    'plugin-ca_ca-cert.pem',
    'plugin-ca_cert-chain.pem',
    'plugin-ca_root-cert-combined.pem',
    'plugin-ca_root-cert.pem',
    'selfsigned-ca_root-cert.pem',
    'selfsigned-ca_workload-cert-chain.pem',
    'testcerts-default_cert-chain.pem',
    'testcerts-default_root-cert.pem',
    'testcerts-mountedcerts-server_cert-chain.pem',
    'workload-foo-cert.pem',
    'workload-foo-root-certs.pem',
  ].map((f) => ['istio', f]),
  ...[
    'issuer_valid-crt.pem',
    'trust-anchors_valid.pem',
    'proxy-integration_ca1.pem',
    'proxy-integration_default-default_ca1-cert.pem',
    'proxy-integration_foo-ns1_ca1-cert.pem',
    'rsa-ca_ca.crt',
    'rsa-ca_issuer.crt',
  ].map((f) => ['linkerd', f]),
];

function errorOf(fn: () => unknown): SpiffeError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SpiffeError);
    return err as SpiffeError;
  }
  throw new Error('expected a SpiffeError');
}

/** openssl's RFC 2253 rendering of a DER certificate's subject and issuer (the referee). */
function opensslNames(der: Uint8Array): { subject: string; issuer: string } {
  const out = execFileSync(
    'openssl',
    ['x509', '-inform', 'DER', '-noout', '-subject', '-issuer', '-nameopt', 'RFC2253'],
    {
      input: der,
    },
  ).toString();
  const get = (k: string) => (new RegExp(`^${k}=(.*)$`, 'm').exec(out)?.[1] ?? '').trim();
  return { subject: get('subject'), issuer: get('issuer') };
}

function sanText(c: Certificate): string | undefined {
  const san = c.subjectAltName;
  if (san === undefined) return undefined;
  return [...san.dnsNames.map((d) => `DNS:${d}`), ...san.uris.map((u) => `URI:${u}`)].join(', ');
}

describe('every fixture certificate parses, and agrees with node/OpenSSL', () => {
  it.each(CERT_FILES.map((p) => [p.join('/'), p] as const))('%s', (_name, parts) => {
    const certs = parseCertificates(readFixture(...parts));
    expect(certs.length).toBeGreaterThan(0);
    for (const c of certs) {
      const ref = new X509Certificate(c.der);
      expect(c.fingerprint).toBe(ref.fingerprint256.replace(/:/g, '').toLowerCase());
      expect(c.serialNumber).toBe(ref.serialNumber.toLowerCase());
      expect(c.notBefore.getTime()).toBe(new Date(ref.validFrom).getTime());
      expect(c.notAfter.getTime()).toBe(new Date(ref.validTo).getTime());
      // node's `ca` is OpenSSL's X509_check_ca: cA=TRUE and, when key usage is present, keyCertSign.
      const kuAllowsCa = c.keyUsage === undefined || c.keyUsage.flags.has('keyCertSign');
      expect(c.basicConstraints?.ca === true && kuAllowsCa).toBe(ref.ca);
      expect(c.publicKey.equals(ref.publicKey)).toBe(true);
      expect(c.isSelfSigned()).toBe(ref.verify(ref.publicKey));
      if (ref.subjectAltName !== undefined) {
        expect(sanText(c)?.split(', ').sort()).toEqual(ref.subjectAltName.split(', ').sort());
      }
      const names = opensslNames(c.der);
      expect(c.subject).toBe(names.subject);
      expect(c.issuer).toBe(names.issuer);
    }
  });
});

describe('parseCertificate', () => {
  it('reads the go-spiffe leaf + intermediate fields', () => {
    const [leaf, inter] = parseCertificates(
      readFixture('spiffe', 'go-spiffe', 'x509svid', 'good-leaf-and-intermediate.pem'),
    );
    expect(leaf).toMatchObject({
      version: 3,
      keyAlgorithm: 'EC P-256',
      signatureAlgorithm: { oid: '1.2.840.10045.4.3.3', name: 'ecdsa-with-SHA384' },
      basicConstraints: { ca: false, critical: true },
      subject: 'O=SPIRE,C=US',
      issuer: 'O=SPIFFE,C=US',
      unhandledCriticalExtensions: [],
    });
    expect([...leaf!.keyUsage!.flags].sort()).toEqual([
      'digitalSignature',
      'keyAgreement',
      'keyEncipherment',
    ]);
    expect(leaf!.keyUsage!.critical).toBe(true);
    expect(leaf!.extKeyUsage!.oids).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    expect(leaf!.subjectAltName!.uris).toEqual(['spiffe://example.org/workload-1']);
    expect(leaf!.authorityKeyId).toBe(inter!.subjectKeyId);
    expect(inter!.keyAlgorithm).toBe('EC P-384');
  });

  it.each([
    ['spiffe/go-spiffe/x509bundle/certs.pem', 'RSA 768', 1],
    ['spiffe/rust-spiffe/rustls/ca.der', 'RSA 2048', 3],
    ['istio/plugin-ca_root-cert-combined.pem', 'RSA 2048', 3],
    ['spiffe/java-spiffe/workloadapi/federated-bundle.pem', 'EC P-384', 3],
  ])('labels the key of %s as %s (version %i)', (path, label, version) => {
    const [c] = parseCertificates(readFixture(...path.split('/')));
    expect(c!.keyAlgorithm).toBe(label);
    expect(c!.version).toBe(version);
  });

  it('labels Ed25519 and RSA 4096 keys', async () => {
    const ed = await createCert({ key: 'Ed25519' });
    expect(ed.cert.keyAlgorithm).toBe('Ed25519');
    expect(ed.cert.signatureAlgorithm.name).toBe('ed25519');
    const [, rsa4096] = parseCertificates(readFixture('istio', 'plugin-ca_root-cert-combined.pem'));
    expect(rsa4096!.keyAlgorithm).toBe('RSA 4096');
  });

  it('rejects trailing bytes after a single DER certificate (rust-spiffe test_certificate_rejects_trailing_bytes)', () => {
    const der = readFixture('spiffe', 'rust-spiffe', 'svid', 'svid-with-dns.der');
    expect(parseCertificate(der).subjectAltName!.dnsNames).toEqual(['example.org']);
    const err = errorOf(() => parseCertificate(Buffer.concat([der, Buffer.from([0x00])])));
    expect(err.code).toBe('CERT_MALFORMED');
    expect(err.category).toBe('input');
  });

  it('parses serial number 0 (N13)', async () => {
    const c = await createCert({ serial: '00', ca: true, keyUsage: ['keyCertSign'] });
    expect(c.cert.serialNumber).toBe('00');
    expect(c.cert.isSelfSigned()).toBe(true);
    expect(execFileSync('openssl', ['x509', '-noout', '-serial'], { input: c.pem }).toString().trim()).toBe(
      'serial=00',
    );
  });

  it('decides self-signedness by signature, not by names (N12)', () => {
    const [issuer] = parseCertificates(readFixture('linkerd', 'issuer_valid-crt.pem'));
    const [anchor] = parseCertificates(readFixture('linkerd', 'trust-anchors_valid.pem'));
    expect(issuer!.subject).toBe(issuer!.issuer);
    expect(issuer!.isSelfSigned()).toBe(false);
    expect(anchor!.isSelfSigned()).toBe(true);
    const [, inter] = parseCertificates(
      readFixture('spiffe', 'go-spiffe', 'x509svid', 'good-leaf-and-intermediate.pem'),
    );
    expect(inter!.subject).toBe(inter!.issuer);
    expect(inter!.isSelfSigned()).toBe(false);
  });

  it('lists unknown critical extensions and ignores unknown non-critical ones', async () => {
    const root = await createRoot();
    const leaf = await createLeaf(root, {
      extensions: [
        unknownCriticalExtension('1.3.6.1.4.1.55555.9'),
        unknownCriticalExtension('1.3.6.1.4.1.55555.8'),
      ],
    });
    expect(leaf.cert.unhandledCriticalExtensions).toEqual(['1.3.6.1.4.1.55555.9', '1.3.6.1.4.1.55555.8']);
    expect(root.cert.unhandledCriticalExtensions).toEqual([]);
  });

  it('reads IP and email SANs', async () => {
    const c = await createCert({
      uris: ['spiffe://td/x'],
      ips: ['10.1.2.3', '2001:db8::1'],
      emails: ['a@b.example'],
    });
    expect(c.cert.subjectAltName).toMatchObject({
      ips: ['10.1.2.3', '2001:db8::1'],
      emails: ['a@b.example'],
    });
  });

  it('reads name constraints (R28)', async () => {
    // SEQUENCE { [0] { SEQUENCE { [6] "example.org" } } }
    const uri = Buffer.from('example.org');
    const subtree = Buffer.concat([Buffer.from([0x30, uri.length + 2, 0x86, uri.length]), uri]);
    const value = Buffer.concat([Buffer.from([0x30, subtree.length + 2, 0xa0, subtree.length]), subtree]);
    const { Extension } = await import('@peculiar/x509');
    const ca = await createCert({
      ca: true,
      keyUsage: ['keyCertSign'],
      extensions: [new Extension('2.5.29.30', true, value)],
    });
    expect(ca.cert.nameConstraints).toMatchObject({
      critical: true,
      permitted: { uris: ['example.org'], unsupported: 0 },
    });
    expect(ca.cert.unhandledCriticalExtensions).toEqual([]);
  });

  it.each<[string, (i: number, tlv: Uint8Array) => Uint8Array]>([
    [
      'inner and outer signature algorithms differ',
      (i, t) => (i === 2 ? Buffer.from('300a06082a8648ce3d040303', 'hex') : t),
    ],
    ['version 4', (i, t) => (i === 0 ? Buffer.from('a003020103', 'hex') : t)],
    ['an empty serial', (i, t) => (i === 1 ? Buffer.from('0200', 'hex') : t)],
    [
      'a malformed validity',
      (i, t) => (i === 4 ? Buffer.from('300f170d3230303133313030303030305a', 'hex') : t),
    ],
  ])('rejects a certificate with %s as CERT_MALFORMED', async (_name, mutate) => {
    const key = await generateKeyPair();
    const good = await createCert({ key });
    const bad = resign(good.der, key, undefined, mutate);
    expect(errorOf(() => parseCertificate(bad)).code).toBe('CERT_MALFORMED');
  });

  it('rejects a duplicated extension', async () => {
    const root = await createRoot();
    const leaf = await createLeaf(root, { extensions: [unknownCriticalExtension('2.5.29.15')] });
    expect(errorOf(() => leaf.cert).message).toMatch(/duplicate extension 2\.5\.29\.15/);
  });
});

describe('parseCertificates auto-detects PEM and concatenated DER', () => {
  it('reads two concatenated DER certificates (the x509_svid wire format)', () => {
    const certs = parseCertificates(readFixture('spiffe', 'rust-spiffe', 'svid', '1-svid-chain.der'));
    expect(certs.map((c) => c.subject)).toEqual(['CN=rust-spiffe test leaf', 'CN=rust-spiffe test CA']);
  });

  it('skips non-certificate PEM blocks unless asked to reject them', () => {
    const blob = readFixture('spiffe', 'go-spiffe', 'x509svid', 'good-key-and-cert.pem');
    expect(parseCertificates(blob)).toHaveLength(1);
    expect(parseCertificates(blob.toString())).toHaveLength(1);
    const err = errorOf(() => parseCertificates(blob, { rejectOtherBlocks: true }));
    expect(err.code).toBe('PEM_UNEXPECTED_BLOCK');
    expect(err.details).toMatchObject({ block: 1, line: 1, type: 'PRIVATE KEY' });
  });

  it('treats empty and whitespace-only input as no certificates', () => {
    expect(parseCertificates(new Uint8Array())).toEqual([]);
    expect(parseCertificates(' \n')).toEqual([]);
  });

  it.each([
    [
      'go-spiffe x509svid/corrupt-cert.pem',
      ['spiffe', 'go-spiffe', 'x509svid', 'corrupt-cert.pem'],
      'CERT_MALFORMED',
      { block: 1, line: 1 },
    ],
    [
      'go-spiffe x509bundle/corrupted.pem',
      ['spiffe', 'go-spiffe', 'x509bundle', 'corrupted.pem'],
      'CERT_MALFORMED',
      { block: 1, line: 1 },
    ],
    [
      'go-spiffe x509svid/not-pem',
      ['spiffe', 'go-spiffe', 'x509svid', 'not-pem'],
      'PEM_NOT_FOUND',
      undefined,
    ],
  ])('%s is rejected with its position', (_name, parts, code, where) => {
    const err = errorOf(() => parseCertificates(readFixture(...parts)));
    expect(err.code).toBe(code);
    if (where !== undefined) expect(err.details).toMatchObject(where);
  });

  it('names the DER certificate and byte offset that is damaged', () => {
    const chain = readFixture('spiffe', 'rust-spiffe', 'svid', '1-svid-chain.der');
    const [first] = parseCertificates(chain);
    const damaged = Buffer.from(chain);
    damaged[first!.der.length + 10] = 0xff;
    const err = errorOf(() => parseCertificates(damaged, { cache: false }));
    expect(err.code).toBe('CERT_MALFORMED');
    expect(err.details).toMatchObject({ index: 1, offset: first!.der.length });
  });
});

describe('parse cache keyed by SHA-256 of the DER', () => {
  it('returns the same object for the same bytes, unaffected by later mutation of the input', () => {
    const der = new Uint8Array(readFixture('spiffe', 'rust-spiffe', 'rustls', 'ca.der'));
    const a = parseCertificate(der);
    const b = parseCertificate(new Uint8Array(der));
    expect(b).toBe(a);
    der[der.length - 1] = der[der.length - 1]! ^ 0xff;
    expect(a.der[a.der.length - 1]).not.toBe(der[der.length - 1]);
    expect(parseCertificate(der)).not.toBe(a);
  });

  it('is bounded', () => {
    try {
      clearParseCache();
      configureParseCache(2);
      for (const f of ['leaf-a', 'leaf-b', 'leaf-c'])
        parseCertificate(readFixture('spiffe', 'java-spiffe', 'certs', `${f}.crt.der`));
      expect(parseCacheSize()).toBe(2);
    } finally {
      configureParseCache(DEFAULT_PARSE_CACHE_SIZE);
    }
  });

  it('can be bypassed per call', () => {
    const der = readFixture('spiffe', 'rust-spiffe', 'rustls', 'spiffe_leaf.der');
    expect(parseCertificate(der, { cache: false })).not.toBe(parseCertificate(der, { cache: false }));
  });
});

it('fixture paths resolve', () => {
  expect(fixturePath('istio')).toMatch(/shared\/fixtures\/istio$/);
});
