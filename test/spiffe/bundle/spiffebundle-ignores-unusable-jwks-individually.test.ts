import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SpiffeBundle } from '../../../src/spiffe/bundle/spiffebundle.js';
import { SpiffeError } from '../../../src/spiffe/errors.js';
import { TrustDomain } from '../../../src/spiffe/spiffeid/index.js';
import { readFixture } from '../../helpers/fixtures.js';

const td = TrustDomain.parse('example.org');
type Jwk = Record<string, unknown>;
const valid1 = JSON.parse(
  readFixture('spiffe', 'go-spiffe', 'spiffebundle', 'spiffebundle_valid_1.json').toString(),
) as {
  keys: Jwk[];
};
const rootEntry = valid1.keys[0]!; // x509-svid, EC P-384, x5c = the spiffe://local root
const jwtEntry = valid1.keys[1]!; // jwt-svid, EC P-256
const rootB64 = (rootEntry.x5c as string[])[0]!;
const rsaCaB64 = readFixture('spiffe', 'rust-spiffe', 'rustls', 'ca.der').toString('base64');

function parse(keys: Jwk[], strict = false) {
  return SpiffeBundle.parse(td, JSON.stringify({ keys }), { strict });
}
function refusal(fn: () => unknown): SpiffeError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SpiffeError);
    return err as SpiffeError;
  }
  throw new Error('expected a refusal');
}
const codes = (w: { code: string; rule: number }[]) => w.map((x) => `${x.code}/R${x.rule}`);

describe('R61/R62: unusable JWKs are ignored one by one, the rest still loads', () => {
  it.each<[string, Jwk, string]>([
    ['use missing', { ...jwtEntry, use: undefined, kid: 'a' }, 'BUNDLE_JWK_USE_MISSING/R62'],
    ['use "sig"', { ...jwtEntry, use: 'sig', kid: 'a' }, 'BUNDLE_JWK_USE_UNKNOWN/R62'],
    [
      'use "JWT-SVID" (case-sensitive)',
      { ...jwtEntry, use: 'JWT-SVID', kid: 'a' },
      'BUNDLE_JWK_USE_UNKNOWN/R62',
    ],
    ['kty missing', { ...jwtEntry, kty: undefined, kid: 'a' }, 'BUNDLE_JWK_KTY_MISSING/R61'],
    ['kty unknown', { use: 'jwt-svid', kty: 'PQC', kid: 'a', pub: 'AAAA' }, 'BUNDLE_JWK_KTY_UNKNOWN/R61'],
    [
      'kty "oct" (a shared secret)',
      { use: 'jwt-svid', kty: 'oct', kid: 'a', k: 'c2VjcmV0' },
      'BUNDLE_JWK_KTY_UNKNOWN/R61',
    ],
    [
      'an Ed25519 jwt-svid key (no JWT-SVID algorithm uses it)',
      {
        use: 'jwt-svid',
        kty: 'OKP',
        kid: 'a',
        crv: 'Ed25519',
        x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo',
      },
      'BUNDLE_JWT_KEY_UNSUPPORTED/R43',
    ],
    ['an x509-svid entry with no x5c (R39)', { ...rootEntry, x5c: undefined }, 'BUNDLE_X5C_EMPTY/R39'],
    ['an x509-svid entry with an empty x5c (R39)', { ...rootEntry, x5c: [] }, 'BUNDLE_X5C_EMPTY/R39'],
  ])('%s', (_name, odd, warning) => {
    const { bundle, warnings } = parse([odd, rootEntry, jwtEntry]);
    expect(codes(warnings)).toEqual([warning]);
    expect(bundle.x509Authorities).toHaveLength(1);
    expect(bundle.jwtAuthorities.map((a) => a.kid)).toEqual([jwtEntry.kid]);
  });

  it('extra top-level members are allowed and not required (R56)', () => {
    const { bundle, warnings } = SpiffeBundle.parse(
      td,
      JSON.stringify({ keys: [jwtEntry], issuer: 'x', other: [1] }),
    );
    expect(bundle.jwtAuthorities).toHaveLength(1);
    expect(warnings).toEqual([]);
  });
});

describe('N4: several certificates in one x5c', () => {
  const twoCerts = { ...rootEntry, x5c: [rootB64, rsaCaB64] };

  it('by default the first is the authority and the rest is ignored (R40), with a warning naming N4', () => {
    const { bundle, warnings } = parse([twoCerts]);
    expect(bundle.x509Authorities).toHaveLength(1);
    expect(bundle.x509Authorities[0]!.subjectAltName?.uris).toEqual(['spiffe://local']);
    expect(codes(warnings)).toEqual(['BUNDLE_X5C_MULTIPLE/R40']);
    expect(warnings[0]!.message).toContain('go-spiffe');
    // What meshbridge writes back holds one certificate per entry, so go-spiffe accepts it.
    const again = SpiffeBundle.parse(td, bundle.marshal(), { strict: true });
    expect(again.bundle.equals(bundle)).toBe(true);
  });

  it('strict refuses the bundle, as go-spiffe does (R38)', () => {
    const err = refusal(() => parse([twoCerts], true));
    expect([err.code, err.rule]).toEqual(['BUNDLE_X5C_MULTIPLE', 38]);
  });
});

describe('x509-svid entries', () => {
  it('R38: x5c is standard base64, not the URL-safe alphabet', () => {
    const urlSafe = rootB64.replaceAll('+', '-').replaceAll('/', '_');
    expect(urlSafe).not.toBe(rootB64);
    const err = refusal(() => parse([{ ...rootEntry, x5c: [urlSafe] }]));
    expect([err.code, err.rule]).toEqual(['BUNDLE_X5C_INVALID', 38]);
  });

  it('refuses an x5c that is not a certificate, or not an array of strings', () => {
    expect(
      refusal(() => parse([{ ...rootEntry, x5c: [Buffer.from('CORRUPT').toString('base64')] }])).code,
    ).toBe('BUNDLE_X5C_INVALID');
    expect(refusal(() => parse([{ ...rootEntry, x5c: rootB64 }])).code).toBe('BUNDLE_X5C_INVALID');
  });

  it("refuses key members that are not the certificate's key", () => {
    const mismatch = { ...rootEntry, crv: jwtEntry.crv, x: jwtEntry.x, y: jwtEntry.y };
    expect(refusal(() => parse([mismatch])).code).toBe('BUNDLE_X5C_KEY_MISMATCH');
    const wrongType = {
      use: 'x509-svid',
      kty: 'EC',
      crv: 'P-384',
      x: rootEntry.x,
      y: rootEntry.y,
      x5c: [rsaCaB64],
    };
    expect(refusal(() => parse([wrongType])).code).toBe('BUNDLE_X5C_KEY_MISMATCH');
  });

  it('accepts an entry whose key lives in x5c only', () => {
    const { bundle } = parse([{ use: 'x509-svid', kty: 'RSA', x5c: [rsaCaB64] }]);
    expect(bundle.x509Authorities[0]!.keyAlgorithm).toMatch(/RSA/);
  });

  it('R37: a kid on an X.509 authority is a warning, refused when strict', () => {
    const withKid = { ...rootEntry, kid: 'nope' };
    expect(codes(parse([withKid]).warnings)).toEqual(['BUNDLE_X509_KID/R37']);
    expect(refusal(() => parse([withKid], true)).code).toBe('BUNDLE_X509_KID');
  });

  it('loads a repeated authority once', () => {
    const { bundle, warnings } = parse([rootEntry, rootEntry]);
    expect(bundle.x509Authorities).toHaveLength(1);
    expect(codes(warnings)).toEqual(['BUNDLE_JWK_DUPLICATE/R40']);
  });
});

describe('jwt-svid entries', () => {
  it('R63: private members are dropped with a warning (refused when strict) and never written', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const leaked = { use: 'jwt-svid', kid: 'leak', ...privateKey.export({ format: 'jwk' }) };
    const { bundle, warnings } = parse([leaked]);
    expect(codes(warnings)).toEqual(['BUNDLE_JWK_PRIVATE_MEMBERS/R63']);
    expect(JSON.parse(bundle.marshal()).keys[0]).not.toHaveProperty('d');
    expect(refusal(() => parse([leaked], true)).code).toBe('BUNDLE_JWK_PRIVATE_MEMBERS');
  });

  it('N5: a jwt-svid entry without kid (or with an empty one) refuses the document', () => {
    expect(refusal(() => parse([rootEntry, { ...jwtEntry, kid: undefined }])).code).toBe(
      'JWT_BUNDLE_KID_MISSING',
    );
    expect(refusal(() => parse([{ ...jwtEntry, kid: '' }])).code).toBe('JWT_BUNDLE_KID_MISSING');
  });

  it('refuses a kid reused for another key, and a key that is not a key', () => {
    const other = {
      ...jwtEntry,
      x: 'ngLYQnlfF6GsojUwqtcEE3WgTNG2RUlsGhK73RNEl5k',
      y: 'tKbiDSUSsQ3F1P7wteeHNXIcU-cx6CgSbroeQrQHTLM',
    };
    const b2 = JSON.parse(
      readFixture('spiffe', 'go-spiffe', 'spiffebundle', 'spiffebundle_valid_2.json').toString(),
    ) as {
      keys: Jwk[];
    };
    expect(refusal(() => parse([other, { ...b2.keys[1]!, kid: jwtEntry.kid }])).code).toBe(
      'JWT_BUNDLE_KID_DUPLICATE',
    );
    expect(refusal(() => parse([{ ...jwtEntry, x: 'AAAA' }])).code).toBe('BUNDLE_JWK_INVALID');
    expect(refusal(() => parse(['x' as never])).code).toBe('BUNDLE_JWK_INVALID');
  });
});
