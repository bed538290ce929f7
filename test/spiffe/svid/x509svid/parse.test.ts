import { describe, expect, it } from 'vitest';
import { SpiffeError } from '../../../../src/spiffe/errors.js';
import { parsePrivateKey, parseX509Svid } from '../../../../src/spiffe/svid/x509svid/index.js';
import { readFixture } from '../../../helpers/fixtures.js';
import { createChain, createLeaf, createRoot } from '../../../helpers/pki.js';

const gs = (f: string) => readFixture('spiffe', 'go-spiffe', 'x509svid', f);
const RSA_KEY = 'key-pkcs8-rsa.pem';
const EC_KEY = 'key-pkcs8-ecdsa.pem';

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'OK';
  } catch (err) {
    expect(err).toBeInstanceOf(SpiffeError);
    return (err as SpiffeError).code;
  }
}

/** go-spiffe svid/x509svid/svid_test.go TestParse, as listed in fixtures/spiffe/SOURCES.md. */
const GO_SPIFFE_PARSE: [name: string, cert: string, key: string, expected: string, chainLength?: number][] = [
  ['Single certificate and key', 'good-leaf-only.pem', RSA_KEY, 'OK', 1],
  ['Certificate with intermediate and key', 'good-leaf-and-intermediate.pem', EC_KEY, 'OK', 2],
  ['Certificate and Key in the same byte array', 'good-cert-and-key.pem', 'good-cert-and-key.pem', 'OK', 1],
  ['Key and certificate in the same byte array', 'good-key-and-cert.pem', 'good-key-and-cert.pem', 'OK', 1],
  [
    'Certificate does not match private key (R94)',
    'good-leaf-and-intermediate.pem',
    RSA_KEY,
    'SVID_KEY_MISMATCH',
  ],
  ['ECDSA key does not match the RSA leaf', 'good-leaf-only.pem', EC_KEY, 'SVID_KEY_MISMATCH'],
  [
    'Leaf certificate with CA flag set to true (R27, R35)',
    'wrong-leaf-ca-true.pem',
    RSA_KEY,
    'SVID_LEAF_IS_CA',
  ],
  [
    'Leaf certificate with certSign as key usage (R32)',
    'wrong-leaf-cert-sign.pem',
    RSA_KEY,
    'SVID_LEAF_KEY_CERT_SIGN',
  ],
  [
    'Leaf certificate with cRLSign as key usage (R32)',
    'wrong-leaf-crl-sign.pem',
    RSA_KEY,
    'SVID_LEAF_CRL_SIGN',
  ],
  ['Certificate without SPIFFE ID (R21)', 'wrong-leaf-empty-id.pem', RSA_KEY, 'SVID_NO_URI_SAN'],
  [
    'Leaf certificate without digitalSignature as key usage (R31, reported before R32)',
    'wrong-leaf-no-digital-signature.pem',
    RSA_KEY,
    'SVID_LEAF_NO_DIGITAL_SIGNATURE',
  ],
  [
    'Signing certificate without CA flag (R27)',
    'wrong-intermediate-no-ca.pem',
    RSA_KEY,
    'SIGNING_CERT_NOT_CA',
  ],
  [
    "Signing certificate without 'keyCertSign' usage (R30)",
    'wrong-intermediate-no-key-cert-sign.pem',
    RSA_KEY,
    'SIGNING_CERT_NO_KEY_CERT_SIGN',
  ],
  ['Corrupt certificate', 'corrupt-cert.pem', RSA_KEY, 'CERT_MALFORMED'],
  ['Corrupt private key', 'good-leaf-only.pem', 'corrupt-key.pem', 'KEY_MALFORMED'],
  ['Certificate not PEM', 'not-pem', RSA_KEY, 'PEM_NOT_FOUND'],
  ['Private key not PEM', 'good-leaf-only.pem', 'not-pem', 'PEM_NOT_FOUND'],
  ['Key file holds only a certificate', 'good-leaf-only.pem', 'good-leaf-only.pem', 'KEY_NOT_FOUND'],
];

describe('parseX509Svid: go-spiffe x509svid fixtures (TestParse)', () => {
  it.each(GO_SPIFFE_PARSE)('%s', (_name, cert, key, expected, chainLength) => {
    expect(codeOf(() => parseX509Svid(gs(cert), gs(key)))).toBe(expected);
    if (expected === 'OK') {
      const svid = parseX509Svid(gs(cert), gs(key));
      expect(svid.id.toString()).toBe('spiffe://example.org/workload-1');
      expect(svid.certificates).toHaveLength(chainLength!);
    }
  });

  it('reads certificate and key given as text', () => {
    const svid = parseX509Svid(
      gs('good-cert-and-key.pem').toString(),
      gs('good-cert-and-key.pem').toString(),
    );
    expect(svid.privateKey.asymmetricKeyType).toBe('ec');
  });
});

describe('parseX509Svid: DER inputs (Workload API shapes)', () => {
  it('java-spiffe workloadapi svid.der + svid.key.der is valid', () => {
    const svid = parseX509Svid(
      readFixture('spiffe', 'java-spiffe', 'workloadapi', 'svid.der'),
      readFixture('spiffe', 'java-spiffe', 'workloadapi', 'svid.key.der'),
    );
    expect(svid.id.toString()).toBe('spiffe://example.org/workload-server');
  });

  it.each(['a', 'b', 'c', 'd', 'e'])('java-spiffe certs/leaf-%s is a valid leaf SVID with its key', (x) => {
    const svid = parseX509Svid(
      readFixture('spiffe', 'java-spiffe', 'certs', `leaf-${x}.crt.der`),
      readFixture('spiffe', 'java-spiffe', 'certs', `leaf-${x}.key.der`),
    );
    expect(svid.id.toString()).toBe(`spiffe://test/${x}`);
  });

  it('java-spiffe leaf-a with leaf-b key is SVID_KEY_MISMATCH', () => {
    expect(
      codeOf(() =>
        parseX509Svid(
          readFixture('spiffe', 'java-spiffe', 'certs', 'leaf-a.crt.der'),
          readFixture('spiffe', 'java-spiffe', 'certs', 'leaf-b.key.der'),
        ),
      ),
    ).toBe('SVID_KEY_MISMATCH');
  });

  it('rust-spiffe 1-svid-chain.der keeps leaf-then-CA order (test_x509_svid_leaf_and_chain_preserve_ordering)', () => {
    const svid = parseX509Svid(
      readFixture('spiffe', 'rust-spiffe', 'svid', '1-svid-chain.der'),
      readFixture('spiffe', 'rust-spiffe', 'svid', '1-key.der'),
    );
    expect(svid.id.toString()).toBe('spiffe://example.org/service');
    expect(svid.certificates.map((c) => c.subject)).toEqual([
      'CN=rust-spiffe test leaf',
      'CN=rust-spiffe test CA',
    ]);
  });

  it('rust-spiffe svid-with-dns.der: extra DNS SAN is allowed (R22)', () => {
    const svid = parseX509Svid(
      readFixture('spiffe', 'rust-spiffe', 'svid', 'svid-with-dns.der'),
      readFixture('spiffe', 'rust-spiffe', 'svid', 'svid-with-dns-key.der'),
    );
    expect(svid.id.toString()).toBe('spiffe://example.org/service');
    expect(svid.certificates[0]!.subjectAltName!.dnsNames).toEqual(['example.org']);
  });

  it('rust-spiffe svid-with-dns.der with a trailing byte is CERT_MALFORMED', () => {
    const der = Buffer.concat([
      readFixture('spiffe', 'rust-spiffe', 'svid', 'svid-with-dns.der'),
      Buffer.from([0]),
    ]);
    expect(
      codeOf(() => parseX509Svid(der, readFixture('spiffe', 'rust-spiffe', 'svid', 'svid-with-dns-key.der'))),
    ).toBe('CERT_MALFORMED');
  });

  it.each([
    ['spiffe_leaf.der + leaf.key.pkcs8 is valid', 'spiffe_leaf.der', 'leaf.key.pkcs8', 'OK'],
    // mismatched.key.pkcs8 is, despite its name, a DER PKCS#1 RSAPrivateKey.
    [
      'spiffe_leaf.der + mismatched.key.pkcs8 is rejected',
      'spiffe_leaf.der',
      'mismatched.key.pkcs8',
      'SVID_KEY_MISMATCH',
    ],
    ['no_spiffe_leaf.der has no SPIFFE ID (R21)', 'no_spiffe_leaf.der', 'leaf.key.pkcs8', 'SVID_NO_URI_SAN'],
    ['ca.der presented as a leaf is rejected (R26)', 'ca.der', 'leaf.key.pkcs8', 'SVID_NO_URI_SAN'],
  ])('rust-spiffe rustls: %s', (_name, cert, key, expected) => {
    expect(
      codeOf(() =>
        parseX509Svid(
          readFixture('spiffe', 'rust-spiffe', 'rustls', cert),
          readFixture('spiffe', 'rust-spiffe', 'rustls', key),
        ),
      ),
    ).toBe(expected);
  });
});

describe('parseX509Svid: structural rules on generated SVIDs', () => {
  it('rejects a leaf whose SPIFFE ID has no path (R23)', async () => {
    const root = await createRoot();
    const leaf = await createLeaf(root, { id: 'spiffe://example.org' });
    expect(codeOf(() => parseX509Svid(leaf.pem, leaf.key.pkcs8Pem))).toBe('SVID_ID_NO_PATH');
  });

  it('rejects two URI SANs (R21)', async () => {
    const root = await createRoot();
    const leaf = await createLeaf(root, { uris: ['spiffe://example.org/a', 'spiffe://example.org/b'] });
    expect(codeOf(() => parseX509Svid(leaf.pem, leaf.key.pkcs8Pem))).toBe('SVID_MULTIPLE_URI_SANS');
  });

  it('rejects an invalid SPIFFE ID in the URI SAN, keeping the ID rule', async () => {
    const root = await createRoot();
    const leaf = await createLeaf(root, { id: 'spiffe://Example.org/a' });
    try {
      parseX509Svid(leaf.pem, leaf.key.pkcs8Pem);
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({
        code: 'SVID_ID_INVALID',
        rule: 5,
        details: { idCode: 'ID_TRUST_DOMAIN_CHARS' },
      });
    }
  });

  it('accepts PKCS#1 and SEC1 keys as well as PKCS#8, and rejects encrypted keys', async () => {
    const { leaf, intermediate } = await createChain({ key: 'P-256' });
    const sec1 = leaf.key.privateKey.export({ format: 'pem', type: 'sec1' }).toString();
    expect(parseX509Svid(leaf.pem + intermediate.pem, sec1).id.toString()).toMatch(
      /^spiffe:\/\/example.org\//,
    );
    const rsa = parsePrivateKey(readFixture('istio', 'workload-foo-key.pem'));
    expect(rsa.asymmetricKeyType).toBe('rsa');
    const encrypted = leaf.key.privateKey.export({
      format: 'pem',
      type: 'pkcs8',
      cipher: 'aes-128-cbc',
      passphrase: 'x',
    });
    expect(codeOf(() => parsePrivateKey(encrypted.toString()))).toBe('KEY_MALFORMED');
  });

  it('istio workload-foo-cert.pem + workload-foo-key.pem (PKCS#1) is a valid SVID', () => {
    const svid = parseX509Svid(
      readFixture('istio', 'workload-foo-cert.pem'),
      readFixture('istio', 'workload-foo-key.pem'),
    );
    expect(svid.id.toString()).toBe('spiffe://trust-domain-foo/ns/foo/sa/foo');
    expect(svid.certificates).toHaveLength(2);
  });
});
