import { describe, expect, it } from 'vitest';
import { loadBundle } from '../../../src/spiffe/bundle/index.js';
import { SpiffeError } from '../../../src/spiffe/errors.js';
import { readFixture } from '../../helpers/fixtures.js';

const td = 'example.org';

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'OK';
  } catch (err) {
    expect(err).toBeInstanceOf(SpiffeError);
    return (err as SpiffeError).code;
  }
}

describe('loadBundle: what a --bundle file holds, whatever its form', () => {
  it('PEM: the spiffe://local root (java-spiffe federated-bundle.pem)', () => {
    const r = loadBundle(readFixture('spiffe', 'java-spiffe', 'workloadapi', 'federated-bundle.pem'), {
      trustDomain: td,
    });
    expect(r.format).toBe('pem');
    expect(r.x509?.size).toBe(1);
    expect(r.jwt).toBeUndefined();
    expect(r.bundle.x509Authorities).toHaveLength(1);
  });

  it('PEM as a string, with two certificates (go-spiffe x509bundle/certs.pem)', () => {
    const r = loadBundle(readFixture('spiffe', 'go-spiffe', 'x509bundle', 'certs.pem').toString(), {
      trustDomain: td,
    });
    expect([r.format, r.x509?.size]).toEqual(['pem', 2]);
  });

  it('DER (rust-spiffe rustls/ca.der)', () => {
    const r = loadBundle(readFixture('spiffe', 'rust-spiffe', 'rustls', 'ca.der'), { trustDomain: td });
    expect([r.format, r.x509?.size]).toEqual(['der', 1]);
  });

  it('an empty file: an empty bundle that trusts nothing (R60)', () => {
    const r = loadBundle(readFixture('spiffe', 'go-spiffe', 'x509bundle', 'empty.pem'), { trustDomain: td });
    expect([r.format, r.x509?.size]).toEqual(['pem', 0]);
    expect(r.warnings.map((w) => w.code)).toEqual(['BUNDLE_EMPTY']);
  });

  it('a corrupted PEM certificate is refused', () => {
    expect(
      codeOf(() =>
        loadBundle(readFixture('spiffe', 'go-spiffe', 'x509bundle', 'corrupted.pem'), { trustDomain: td }),
      ),
    ).toMatch(/^(CERT|PEM)_MALFORMED$/);
  });

  it('SPIFFE bundle: X.509 and JWT authorities', () => {
    const r = loadBundle(readFixture('spiffe', 'go-spiffe', 'spiffebundle', 'spiffebundle_valid_2.json'), {
      trustDomain: td,
    });
    expect(r.format).toBe('spiffe');
    expect([r.x509?.size, r.jwt?.size]).toEqual([1, 6]);
    expect(r.bundle.sequenceNumber).toBe(1n);
  });

  it('SPIFFE bundle holding JWT keys only (java-spiffe bundle.json)', () => {
    const r = loadBundle(readFixture('spiffe', 'java-spiffe', 'workloadapi', 'bundle.json'), {
      trustDomain: td,
    });
    expect([r.format, r.x509, r.jwt?.size]).toEqual(['spiffe', undefined, 3]);
  });

  it('plain JWKS from the Workload API: keys without use are JWT authorities (N7)', () => {
    const r = loadBundle(readFixture('spiffe', 'go-spiffe', 'jwtbundle', 'jwks_valid_2.json'), {
      trustDomain: td,
    });
    expect([r.format, r.x509, r.jwt?.size]).toEqual(['jwks', undefined, 2]);
    expect(r.bundle.jwtAuthorities).toHaveLength(2);
  });

  it('refusals keep their codes: missing kid (N5), missing keys (R59)', () => {
    expect(
      codeOf(() =>
        loadBundle(readFixture('spiffe', 'go-spiffe', 'jwtbundle', 'jwks_missing_kid.json'), {
          trustDomain: td,
        }),
      ),
    ).toBe('JWT_BUNDLE_KID_MISSING');
    expect(
      codeOf(() =>
        loadBundle(readFixture('spiffe', 'go-spiffe', 'spiffebundle', 'spiffebundle_no_keys.json'), {
          trustDomain: td,
        }),
      ),
    ).toBe('BUNDLE_KEYS_MISSING');
  });

  it('strict is passed on (N4)', () => {
    const doc = JSON.parse(
      readFixture('spiffe', 'go-spiffe', 'spiffebundle', 'spiffebundle_valid_1.json').toString(),
    );
    doc.keys[0].x5c.push(doc.keys[0].x5c[0]);
    const text = JSON.stringify(doc);
    expect(loadBundle(text, { trustDomain: td }).warnings.map((w) => w.code)).toEqual([
      'BUNDLE_X5C_MULTIPLE',
    ]);
    expect(codeOf(() => loadBundle(text, { trustDomain: td, strict: true }))).toBe('BUNDLE_X5C_MULTIPLE');
  });

  it('bundle map: takes the entry of the trust domain, BUNDLE_NOT_FOUND without one', () => {
    const b = readFixture('spiffe', 'go-spiffe', 'spiffebundle', 'spiffebundle_valid_1.json').toString();
    const map = `{"trust_domains": {"example.org": ${b}, "other.org": {"keys": []}}}`;
    const r = loadBundle(map, { trustDomain: td });
    expect([r.format, r.x509?.size, r.jwt?.size]).toEqual(['bundle-map', 1, 1]);
    expect(codeOf(() => loadBundle(map, { trustDomain: 'third.org' }))).toBe('BUNDLE_NOT_FOUND');
  });

  it('anything else is BUNDLE_FORMAT_UNKNOWN (go-spiffe x509svid/not-pem)', () => {
    expect(
      codeOf(() =>
        loadBundle(readFixture('spiffe', 'go-spiffe', 'x509svid', 'not-pem'), { trustDomain: td }),
      ),
    ).toBe('BUNDLE_FORMAT_UNKNOWN');
  });
});
