import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createJwtAuthority } from '../../../src/spiffe/bundle/jwtbundle.js';
import { MAX_SEQUENCE_NUMBER, SpiffeBundle } from '../../../src/spiffe/bundle/spiffebundle.js';
import { SpiffeError } from '../../../src/spiffe/errors.js';
import { TrustDomain } from '../../../src/spiffe/spiffeid/index.js';
import { parseCertificates } from '../../../src/spiffe/x509/certificate.js';
import { readFixture } from '../../helpers/fixtures.js';

const td = TrustDomain.parse('example.org');
const fixture = (name: string) => readFixture('spiffe', 'go-spiffe', 'spiffebundle', name).toString('utf8');

const codeOf = (fn: () => unknown) => {
  try {
    fn();
    return 'OK';
  } catch (err) {
    expect(err).toBeInstanceOf(SpiffeError);
    return (err as SpiffeError).code;
  }
};

describe('R57: spiffe_sequence is read exactly, past 2^53', () => {
  it.each<[string, bigint | string]>([
    ['0', 0n],
    ['1', 1n],
    ['9007199254740993', 9007199254740993n], // JSON.parse would give ...992
    ['18446744073709551615', MAX_SEQUENCE_NUMBER],
    ['1e3', 1000n],
    ['18446744073709551616', 'BUNDLE_SEQUENCE_INVALID'],
    ['-1', 'BUNDLE_SEQUENCE_INVALID'],
    ['1.5', 'BUNDLE_SEQUENCE_INVALID'],
    ['1e20', 'BUNDLE_SEQUENCE_INVALID'],
    ['"1"', 'BUNDLE_SEQUENCE_INVALID'],
    ['null', 'BUNDLE_SEQUENCE_INVALID'],
  ])('spiffe_sequence %s', (text, expected) => {
    const doc = `{"keys": [], "spiffe_sequence": ${text}}`;
    if (typeof expected === 'string') {
      expect(codeOf(() => SpiffeBundle.parse(td, doc))).toBe(expected);
      return;
    }
    const { bundle } = SpiffeBundle.parse(td, doc);
    expect(bundle.sequenceNumber).toBe(expected);
    expect(bundle.marshal()).toBe(`{"keys":[],"spiffe_sequence":${expected}}`);
  });

  it('JSON.parse really does lose it', () => {
    expect(BigInt(JSON.parse('{"s": 9007199254740993}').s)).not.toBe(9007199254740993n);
  });
});

describe('R58: spiffe_refresh_hint is whole seconds', () => {
  it.each<[string, number | string]>([
    ['0', 0],
    ['300', 300],
    ['-1', 'BUNDLE_REFRESH_HINT_INVALID'],
    ['1.5', 'BUNDLE_REFRESH_HINT_INVALID'],
    ['"60"', 'BUNDLE_REFRESH_HINT_INVALID'],
    ['99999999999999999999', 'BUNDLE_REFRESH_HINT_INVALID'],
  ])('spiffe_refresh_hint %s', (text, expected) => {
    const doc = `{"keys": [], "spiffe_refresh_hint": ${text}}`;
    if (typeof expected === 'string') expect(codeOf(() => SpiffeBundle.parse(td, doc))).toBe(expected);
    else expect(SpiffeBundle.parse(td, doc).bundle.refreshHint).toBe(expected);
  });
});

describe('marshal', () => {
  it.each([
    ['spiffebundle_valid_1.json'],
    ['spiffebundle_valid_2.json'],
    ['spiffebundle_valid_with_wit.json'],
  ])('%s round-trips to the same document (same member order)', (name) => {
    const text = fixture(name);
    const { bundle } = SpiffeBundle.parse(td, text);
    expect(bundle.marshal()).toBe(JSON.stringify(JSON.parse(text)));
    expect(SpiffeBundle.parse(td, bundle.marshal()).bundle.equals(bundle)).toBe(true);
  });

  it('writes go-spiffe’s own layout byte for byte with indent 4', () => {
    const text = fixture('spiffebundle_valid_1.json');
    expect(SpiffeBundle.parse(td, text).bundle.marshal({ indent: 4 })).toBe(text.trimEnd());
  });

  it('obeys R36-R38, R51-R52 and R63, in a stable order', () => {
    const certs = [
      ...parseCertificates(readFixture('spiffe', 'java-spiffe', 'workloadapi', 'federated-bundle.pem')),
      ...parseCertificates(readFixture('spiffe', 'rust-spiffe', 'rustls', 'ca.der')),
    ];
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const bundle = new SpiffeBundle(td, {
      x509Authorities: certs,
      jwtAuthorities: [
        createJwtAuthority('ec-1', ec.privateKey),
        createJwtAuthority('rsa-1', rsa.privateKey),
      ],
      refreshHint: 300,
      sequenceNumber: 12345678901234567890n,
    });
    const text = bundle.marshal();
    expect(text).toContain('"spiffe_sequence":12345678901234567890}');
    const doc = JSON.parse(text) as { keys: Record<string, unknown>[] } & Record<string, unknown>;
    expect(Object.keys(doc)).toEqual(['keys', 'spiffe_refresh_hint', 'spiffe_sequence']);
    expect(doc.keys.map((k) => Object.keys(k))).toEqual([
      ['use', 'kty', 'crv', 'x', 'y', 'x5c'],
      ['use', 'kty', 'n', 'e', 'x5c'],
      ['use', 'kty', 'kid', 'crv', 'x', 'y'],
      ['use', 'kty', 'kid', 'n', 'e'],
    ]);
    for (const k of doc.keys.slice(0, 2)) {
      expect(k.use).toBe('x509-svid'); // R36
      expect(k).not.toHaveProperty('kid'); // R37
      expect(k.x5c).toHaveLength(1); // R38
      expect((k.x5c as string[])[0]).toMatch(/^[A-Za-z0-9+/]+=*$/);
    }
    for (const k of doc.keys.slice(2)) {
      expect(k.use).toBe('jwt-svid'); // R51
      expect(typeof k.kid).toBe('string'); // R52
    }
    for (const m of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(text).not.toContain(`"${m}":`); // R63
    expect(bundle.marshal()).toBe(text);
    const back = SpiffeBundle.parse(td, text, { strict: true });
    expect(back.warnings).toEqual([]);
    expect(back.bundle.equals(bundle)).toBe(true);
    expect(back.bundle.marshal()).toBe(text);
  });

  it('round-trips any mix of authorities, hint and sequence (property)', () => {
    const certs = [
      ...parseCertificates(readFixture('spiffe', 'java-spiffe', 'workloadapi', 'federated-bundle.pem')),
      ...parseCertificates(readFixture('spiffe', 'rust-spiffe', 'rustls', 'ca.der')),
      ...parseCertificates(readFixture('spiffe', 'go-spiffe', 'x509bundle', 'certs.pem')),
    ];
    const keys = [
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey,
      generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey,
      generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey,
      generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey,
    ];
    fc.assert(
      fc.property(
        fc.subarray(certs),
        fc.uniqueArray(fc.tuple(fc.string({ minLength: 1, maxLength: 12 }), fc.nat(keys.length - 1)), {
          selector: ([kid]) => kid,
          maxLength: 5,
        }),
        fc.option(fc.nat({ max: 10_000_000 }), { nil: undefined }),
        fc.option(fc.bigInt({ min: 0n, max: MAX_SEQUENCE_NUMBER }), { nil: undefined }),
        (x509, jwt, hint, seq) => {
          const b = new SpiffeBundle(td, {
            x509Authorities: x509,
            jwtAuthorities: jwt.map(([kid, i]) => createJwtAuthority(kid, keys[i]!)),
            ...(hint === undefined ? {} : { refreshHint: hint }),
            ...(seq === undefined ? {} : { sequenceNumber: seq }),
          });
          const text = b.marshal();
          const back = SpiffeBundle.parse(td, text).bundle;
          expect(back.equals(b)).toBe(true);
          expect(back.marshal()).toBe(text);
          expect(back.sequenceNumber).toBe(seq);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('toX509Bundle / toJwtBundle are copies; the bundle answers as a source for its own trust domain only', () => {
    const { bundle } = SpiffeBundle.parse(td, fixture('spiffebundle_valid_2.json'));
    const x = bundle.toX509Bundle();
    const j = bundle.toJwtBundle();
    expect(x.size).toBe(1);
    expect(j.size).toBe(6);
    j.removeAuthority(j.authorities()[0]!.kid);
    expect(bundle.jwtAuthorities).toHaveLength(6);
    expect(bundle.getJwtBundleForTrustDomain(td).size).toBe(6);
    expect(bundle.getX509BundleForTrustDomain(td).size).toBe(1);
    const other = TrustDomain.parse('other.org');
    expect(codeOf(() => bundle.getJwtBundleForTrustDomain(other))).toBe('BUNDLE_NOT_FOUND');
    expect(codeOf(() => bundle.getX509BundleForTrustDomain(other))).toBe('BUNDLE_NOT_FOUND');
  });

  it('refuses out-of-range values set by code', () => {
    const b = new SpiffeBundle(td);
    expect(
      codeOf(() => {
        b.sequenceNumber = MAX_SEQUENCE_NUMBER + 1n;
      }),
    ).toBe('BUNDLE_SEQUENCE_INVALID');
    expect(
      codeOf(() => {
        b.refreshHint = 1.5;
      }),
    ).toBe('BUNDLE_REFRESH_HINT_INVALID');
  });
});
