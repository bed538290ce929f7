import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { JwtBundle } from '../../../src/spiffe/bundle/jwtbundle.js';
import { SpiffeError } from '../../../src/spiffe/errors.js';
import { TrustDomain } from '../../../src/spiffe/spiffeid/index.js';
import { readFixture } from '../../helpers/fixtures.js';

const td = TrustDomain.parse('example.org');
const jwks = (name: string) => readFixture('spiffe', 'go-spiffe', 'jwtbundle', name);

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'OK';
  } catch (err) {
    expect(err).toBeInstanceOf(SpiffeError);
    return (err as SpiffeError).code;
  }
}

describe('SOURCES.md verdicts: go-spiffe bundle/jwtbundle/testdata (N7: no "use")', () => {
  it('jwks_valid_1.json: valid, 1 authority', () => {
    const b = JwtBundle.parse(td, jwks('jwks_valid_1.json'));
    expect(b.size).toBe(1);
    expect(
      b.findAuthority('C6vs25welZOx6WksNYfbMfiw9l96pMnD')?.publicKey.asymmetricKeyDetails?.namedCurve,
    ).toBe('prime256v1');
  });

  it('jwks_valid_2.json: valid, 2 authorities', () => {
    const b = JwtBundle.parse(td, jwks('jwks_valid_2.json'));
    expect(b.authorities().map((a) => a.kid)).toEqual([
      'C6vs25welZOx6WksNYfbMfiw9l96pMnD',
      'gHTCunJbefYtnZnTctd84xeRWyMrEsWD',
    ]);
  });

  it('jwks_missing_kid.json: refused, the second key has no kid (R52, N5)', () => {
    let err: SpiffeError | undefined;
    try {
      JwtBundle.parse(td, jwks('jwks_missing_kid.json'));
    } catch (e) {
      err = e as SpiffeError;
    }
    expect([err?.code, err?.category, err?.rule]).toEqual(['JWT_BUNDLE_KID_MISSING', 'input', 52]);
    expect(err?.message).toContain('keys[1]');
  });

  it('java-spiffe workloadapi/bundle.json: valid JWT bundle, 3 authorities (use "jwt-svid" is accepted too)', () => {
    const b = JwtBundle.parse(td, readFixture('spiffe', 'java-spiffe', 'workloadapi', 'bundle.json'));
    expect(b.size).toBe(3);
  });
});

describe('JwtBundle', () => {
  it('skips keys for other uses and key types one by one, with warnings', () => {
    const doc = JSON.parse(jwks('jwks_valid_2.json').toString()) as { keys: Record<string, unknown>[] };
    doc.keys.push(
      { use: 'x509-svid', kty: 'EC', crv: 'P-256', x: doc.keys[0]!.x, y: doc.keys[0]!.y },
      { kty: 'oct', kid: 'shared', k: 'c2VjcmV0' },
      { kty: 'OKP', kid: 'ed', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' },
      { use: 'wit-svid', kty: 'EC', kid: 'wit', crv: 'P-256', x: doc.keys[0]!.x, y: doc.keys[0]!.y },
    );
    const { bundle, warnings } = JwtBundle.parseWithWarnings(td, JSON.stringify(doc));
    expect(bundle.size).toBe(2);
    expect(warnings.map((w) => w.code)).toEqual([
      'JWT_BUNDLE_KEY_SKIPPED',
      'JWT_BUNDLE_KEY_SKIPPED',
      'JWT_BUNDLE_KEY_SKIPPED',
      'JWT_BUNDLE_KEY_SKIPPED',
    ]);
  });

  it('drops private members on read and never writes them (R63)', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = privateKey.export({ format: 'jwk' });
    const { bundle, warnings } = JwtBundle.parseWithWarnings(
      td,
      JSON.stringify({ keys: [{ ...jwk, kid: 'k' }] }),
    );
    expect(warnings.map((w) => w.code)).toEqual(['BUNDLE_JWK_PRIVATE_MEMBERS']);
    expect(bundle.marshal()).not.toContain('"d"');
    expect(bundle.findAuthority('k')?.publicKey.type).toBe('public');
  });

  it('refuses a kid bound to two different keys, loads a repeated identical key once', () => {
    const doc = JSON.parse(jwks('jwks_valid_2.json').toString()) as { keys: Record<string, unknown>[] };
    const twice = { keys: [doc.keys[0], doc.keys[0]] };
    const { bundle, warnings } = JwtBundle.parseWithWarnings(td, JSON.stringify(twice));
    expect(bundle.size).toBe(1);
    expect(warnings.map((w) => w.code)).toEqual(['BUNDLE_JWK_DUPLICATE']);
    const clash = { keys: [doc.keys[0], { ...doc.keys[1], kid: doc.keys[0]!.kid }] };
    expect(codeOf(() => JwtBundle.parse(td, JSON.stringify(clash)))).toBe('JWT_BUNDLE_KID_DUPLICATE');
  });

  it.each([
    ['not JSON', 'nope', 'BUNDLE_JSON_INVALID'],
    ['a JSON array', '[]', 'BUNDLE_JSON_INVALID'],
    ['no keys (R59)', '{}', 'BUNDLE_KEYS_MISSING'],
    ['keys not an array', '{"keys": {}}', 'BUNDLE_KEYS_INVALID'],
    ['a key that is not an object', '{"keys": [1]}', 'BUNDLE_JWK_INVALID'],
    [
      'an EC point off the curve',
      '{"keys":[{"kty":"EC","kid":"a","crv":"P-256","x":"AAAA","y":"AAAA"}]}',
      'BUNDLE_JWK_INVALID',
    ],
    [
      'a numeric kid',
      '{"keys":[{"kty":"EC","kid":1,"crv":"P-256","x":"AA","y":"AA"}]}',
      'BUNDLE_JWK_INVALID',
    ],
    [
      'a member repeated inside a JWK',
      '{"keys":[{"kty":"EC","kid":"a","kid":"b"}]}',
      'BUNDLE_JSON_DUPLICATE_MEMBER',
    ],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0x7d]), 'BUNDLE_JSON_INVALID'],
  ])('refuses %s (%s)', (_name, input, code) => {
    expect(codeOf(() => JwtBundle.parse(td, input))).toBe(code);
  });

  it('adds, finds, removes authorities and marshals a plain JWKS that parses back equal', () => {
    const b = new JwtBundle(td);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    b.addAuthority('ec', ec.privateKey); // reduced to its public half
    b.addAuthority('rsa', rsa.publicKey.export({ format: 'jwk' }));
    expect(b.findAuthority('ec')?.publicKey.type).toBe('public');
    const text = b.marshal();
    expect(JSON.parse(text).keys.map((k: Record<string, unknown>) => Object.keys(k))).toEqual([
      ['kty', 'kid', 'crv', 'x', 'y'],
      ['kty', 'kid', 'n', 'e'],
    ]);
    expect(JwtBundle.parse(td, text).equals(b)).toBe(true);
    expect(b.removeAuthority('ec')).toBe(true);
    expect(b.findAuthority('ec')).toBeUndefined();
    expect(codeOf(() => b.addAuthority('', ec.publicKey))).toBe('JWT_BUNDLE_KID_MISSING');
    expect(codeOf(() => b.addAuthority('ed', generateKeyPairSync('ed25519').publicKey))).toBe(
      'JWT_BUNDLE_KEY_UNSUPPORTED',
    );
  });

  it('is a JwtBundleSource for its own trust domain only (R20)', () => {
    const b = JwtBundle.parse(td, jwks('jwks_valid_1.json'));
    expect(b.getJwtBundleForTrustDomain(TrustDomain.parse('example.org'))).toBe(b);
    expect(codeOf(() => b.getJwtBundleForTrustDomain(TrustDomain.parse('other.org')))).toBe(
      'BUNDLE_NOT_FOUND',
    );
  });
});
