import { describe, expect, it } from 'vitest';
import { SpiffeBundle } from '../../../src/spiffe/bundle/spiffebundle.js';
import { SpiffeError } from '../../../src/spiffe/errors.js';
import { TrustDomain } from '../../../src/spiffe/spiffeid/index.js';
import { readFixture } from '../../helpers/fixtures.js';

const td = TrustDomain.parse('example.org');
const spiffeBundleFixture = (name: string) => readFixture('spiffe', 'go-spiffe', 'spiffebundle', name);
const ROOT_FINGERPRINT_SOURCE = readFixture('spiffe', 'java-spiffe', 'workloadapi', 'federated-bundle.pem');

function refusal(fn: () => unknown): SpiffeError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SpiffeError);
    return err as SpiffeError;
  }
  throw new Error('expected a refusal');
}

describe('SOURCES.md verdicts: go-spiffe bundle/spiffebundle/testdata', () => {
  it('spiffebundle_valid_1.json: 1 X.509 authority, 1 JWT authority, no hint, no sequence', () => {
    const { bundle, warnings } = SpiffeBundle.parse(td, spiffeBundleFixture('spiffebundle_valid_1.json'));
    expect(bundle.x509Authorities).toHaveLength(1);
    expect(bundle.jwtAuthorities.map((a) => a.kid)).toEqual(['C6vs25welZOx6WksNYfbMfiw9l96pMnD']);
    expect(bundle.refreshHint).toBeUndefined();
    expect(bundle.sequenceNumber).toBeUndefined();
    expect(warnings).toEqual([]);
    // The x5c certificate is the spiffe://local P-384 root, also shipped as java-spiffe's federated-bundle.pem.
    const root = bundle.x509Authorities[0]!;
    expect(root.keyAlgorithm).toMatch(/P-384/);
    expect(root.subjectAltName?.uris).toEqual(['spiffe://local']);
    expect(ROOT_FINGERPRINT_SOURCE.toString()).toContain(
      Buffer.from(root.der).toString('base64').slice(0, 60),
    );
  });

  it('spiffebundle_valid_2.json: 1 X.509 authority, 6 JWT authorities, refresh hint 60 s, sequence 1', () => {
    const { bundle, warnings } = SpiffeBundle.parse(td, spiffeBundleFixture('spiffebundle_valid_2.json'));
    expect(bundle.x509Authorities).toHaveLength(1);
    expect(bundle.jwtAuthorities).toHaveLength(6);
    expect(bundle.refreshHint).toBe(60);
    expect(bundle.sequenceNumber).toBe(1n);
    expect(warnings).toEqual([]);
  });

  it('spiffebundle_valid_with_wit.json: 1 X.509, 2 JWT authorities; the 2 wit-svid keys are ignored for verification (R62)', () => {
    const { bundle, warnings } = SpiffeBundle.parse(
      td,
      spiffeBundleFixture('spiffebundle_valid_with_wit.json'),
    );
    expect(bundle.x509Authorities).toHaveLength(1);
    expect(bundle.jwtAuthorities).toHaveLength(2);
    expect(bundle.toJwtBundle().size).toBe(2);
    expect(bundle.witAuthorities).toHaveLength(2);
    expect(bundle.refreshHint).toBe(60);
    expect(bundle.sequenceNumber).toBe(1n);
    expect(warnings.map((w) => [w.code, w.rule])).toEqual([
      ['BUNDLE_WIT_KEY_NOT_USED', 62],
      ['BUNDLE_WIT_KEY_NOT_USED', 62],
    ]);
  });

  it('spiffebundle_missing_kid.json: refused, a jwt-svid entry without kid (R52, N5)', () => {
    const err = refusal(() => SpiffeBundle.parse(td, spiffeBundleFixture('spiffebundle_missing_kid.json')));
    expect([err.code, err.category, err.rule]).toEqual(['JWT_BUNDLE_KID_MISSING', 'input', 52]);
    expect(err.message).toContain('keys[1]');
  });

  it('spiffebundle_no_keys.json: invalid, "keys" must be present (R59)', () => {
    const err = refusal(() => SpiffeBundle.parse(td, spiffeBundleFixture('spiffebundle_no_keys.json')));
    expect([err.code, err.category, err.rule]).toEqual(['BUNDLE_KEYS_MISSING', 'input', 59]);
  });

  it('R60 contrast: {"keys": []} is valid and trusts nothing', () => {
    const { bundle, warnings } = SpiffeBundle.parse(td, '{"keys": []}');
    expect(bundle.isEmpty()).toBe(true);
    expect(bundle.toX509Bundle().isEmpty()).toBe(true);
    expect(bundle.toJwtBundle().size).toBe(0);
    expect(warnings.map((w) => w.code)).toEqual(['BUNDLE_EMPTY']);
  });
});

describe('SOURCES.md verdict: java-spiffe workloadapi/bundle.json', () => {
  it('is also a valid SPIFFE bundle holding only JWT keys (3 authorities)', () => {
    const { bundle, warnings } = SpiffeBundle.parse(
      td,
      readFixture('spiffe', 'java-spiffe', 'workloadapi', 'bundle.json'),
    );
    expect(bundle.x509Authorities).toHaveLength(0);
    expect(bundle.jwtAuthorities.map((a) => a.kid)).toEqual([
      'IZwJU1pKXnlj8RtsCSxTiW4p3PaS3LA0',
      'thuC5aKXK0xEijJBImdcNE8GRneaQF8a',
      'lD6u4YqXBvqZkJv9IkakyjTPMOlmYdho',
    ]);
    expect(warnings).toEqual([]);
  });
});

describe('N7: a Workload-API JWKS (no "use") read as a SPIFFE bundle keeps nothing', () => {
  it('jwks_valid_1.json under R62 yields zero usable keys, with a warning per key', () => {
    const { bundle, warnings } = SpiffeBundle.parse(
      td,
      readFixture('spiffe', 'go-spiffe', 'jwtbundle', 'jwks_valid_1.json'),
    );
    expect(bundle.jwtAuthorities).toHaveLength(0);
    expect(warnings.map((w) => w.code)).toEqual(['BUNDLE_JWK_USE_MISSING', 'BUNDLE_EMPTY']);
  });
});
