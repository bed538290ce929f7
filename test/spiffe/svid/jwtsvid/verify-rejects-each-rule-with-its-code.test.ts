import { describe, expect, it } from 'vitest';
import { BundleSet } from '../../../../src/spiffe/bundle/set.js';
import type { JwtBundleSource } from '../../../../src/spiffe/bundle/source.js';
import { SpiffeBundle } from '../../../../src/spiffe/bundle/spiffebundle.js';
import { SpiffeError } from '../../../../src/spiffe/errors.js';
import { parseInsecure, verifyJwtSvid } from '../../../../src/spiffe/svid/jwtsvid/index.js';
import {
  AUD,
  b64url,
  bundleWith,
  claims,
  clock,
  codeOf,
  forge,
  keyPair,
  NOW_S,
  OTHER_TD,
  SUB,
  signatureFor,
  TD,
} from './helpers.js';

const ec = keyPair('P-256');
const ec2 = keyPair('P-256-second');
const rsa = keyPair('RSA');
const bundle = bundleWith({ k1: ec.publicKey, r1: rsa.publicKey });
const es = (header: Record<string, unknown> = {}, payload = claims()) =>
  forge({ alg: 'ES256', kid: 'k1', typ: 'JWT', ...header }, payload, { alg: 'ES256', key: ec.privateKey });
const verify = (
  token: string,
  source: JwtBundleSource = bundle,
  opts: Partial<Parameters<typeof verifyJwtSvid>[2]> = {},
) => verifyJwtSvid(token, source, { audience: AUD, clock, ...opts });

describe('verifyJwtSvid: one stable code per rule', () => {
  const good = es();

  it.each<[string, () => string, string]>([
    ['a well-formed ES256 token', () => good, 'OK'],
    // R41: compact serialization only
    ['two parts', () => good.split('.').slice(0, 2).join('.'), 'JWT_MALFORMED'],
    ['four parts', () => `${good}.x`, 'JWT_MALFORMED'],
    ['empty string', () => '', 'JWT_MALFORMED'],
    [
      'JWS JSON serialization (R41)',
      () =>
        JSON.stringify({
          payload: good.split('.')[1],
          protected: good.split('.')[0],
          signature: good.split('.')[2],
        }),
      'JWT_MALFORMED',
    ],
    ['header not base64url', () => `a+b/.${good.split('.')[1]}.${good.split('.')[2]}`, 'JWT_MALFORMED'],
    [
      'header not JSON',
      () => `${b64url('not json')}.${good.split('.')[1]}.${good.split('.')[2]}`,
      'JWT_MALFORMED',
    ],
    [
      'payload a JSON array',
      () => forge({ alg: 'ES256', kid: 'k1' }, [] as never, { alg: 'ES256', key: ec.privateKey }),
      'JWT_MALFORMED',
    ],
    // R43/R44: alg first
    ['alg none, empty signature', () => forge({ alg: 'none' }, claims(), { none: true }), 'JWT_ALG_NONE'],
    ['alg "None"', () => forge({ alg: 'None' }, claims(), { none: true }), 'JWT_ALG_NONE'],
    [
      'HS256 signed with a shared secret',
      () =>
        forge({ alg: 'HS256', kid: 'k1', typ: 'JWT' }, claims(), {
          alg: 'HS256',
          hmacSecret: Buffer.from('secret'),
        }),
      'JWT_ALG_HMAC',
    ],
    [
      'EdDSA (Ed25519)',
      () =>
        forge({ alg: 'EdDSA', kid: 'k1' }, claims(), { alg: 'EdDSA', key: keyPair('Ed25519').privateKey }),
      'JWT_ALG_UNSUPPORTED',
    ],
    ['ES256K', () => es({ alg: 'ES256K' }), 'JWT_ALG_UNSUPPORTED'],
    ['no alg', () => es({ alg: undefined }), 'JWT_ALG_UNSUPPORTED'],
    [
      'alg checked before typ (R44)',
      () => forge({ alg: 'none', typ: 'nope' }, claims(), { none: true }),
      'JWT_ALG_NONE',
    ],
    [
      'alg checked before sub (R44)',
      () =>
        forge({ alg: 'HS256' }, claims({ sub: 'not an id' }), { alg: 'HS256', hmacSecret: Buffer.from('x') }),
      'JWT_ALG_HMAC',
    ],
    ['crit header', () => es({ crit: ['b64'], b64: false }), 'JWT_CRIT_UNSUPPORTED'],
    // R46
    ['typ "jwt" (case-sensitive)', () => es({ typ: 'jwt' }), 'JWT_TYP_INVALID'],
    ['typ "at+jwt"', () => es({ typ: 'at+jwt' }), 'JWT_TYP_INVALID'],
    ['typ "JOSE"', () => es({ typ: 'JOSE' }), 'OK'],
    ['no typ', () => es({ typ: undefined }), 'OK'],
    // R47
    ['no sub', () => es({}, claims({ sub: undefined })), 'JWT_SUBJECT_INVALID'],
    ['sub not a SPIFFE ID', () => es({}, claims({ sub: 'https://example.org/web' })), 'JWT_SUBJECT_INVALID'],
    [
      'sub with upper-case trust domain (N1)',
      () => es({}, claims({ sub: 'spiffe://Example.org/web' })),
      'JWT_SUBJECT_INVALID',
    ],
    ['sub a number', () => es({}, claims({ sub: 42 })), 'JWT_SUBJECT_INVALID'],
    // R50/R20
    [
      'sub in a trust domain the source does not hold',
      () => es({}, claims({ sub: 'spiffe://other.org/web' })),
      'BUNDLE_NOT_FOUND',
    ],
    // kid (N6)
    ['kid unknown', () => es({ kid: 'nope' }), 'JWT_KID_UNKNOWN'],
    ['no kid, bundle with two keys', () => es({ kid: undefined }), 'JWT_KID_MISSING'],
    // signature
    [
      'tampered payload',
      () => {
        const [h, , s] = good.split('.');
        return `${h}.${b64url(claims({ sub: 'spiffe://example.org/ns/shop/sa/admin' }))}.${s}`;
      },
      'JWT_SIGNATURE_INVALID',
    ],
    [
      'tampered signature',
      () => `${good.slice(0, -4)}${good.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`,
      'JWT_SIGNATURE_INVALID',
    ],
    [
      'alg none made to look signed',
      () => forge({ alg: 'ES256', kid: 'k1' }, claims(), { none: true }),
      'JWT_SIGNATURE_INVALID',
    ],
    [
      'signed by another key under a known kid',
      () => forge({ alg: 'ES256', kid: 'k1' }, claims(), { alg: 'ES256', key: ec2.privateKey }),
      'JWT_SIGNATURE_INVALID',
    ],
    [
      'ES256 header naming an RSA authority',
      () => forge({ alg: 'ES256', kid: 'r1' }, claims(), { alg: 'ES256', key: ec.privateKey }),
      'JWT_SIGNATURE_INVALID',
    ],
    [
      'RS256 signature presented as PS256',
      () => {
        const input = `${b64url({ alg: 'PS256', kid: 'r1' })}.${b64url(claims())}`;
        return `${input}.${signatureFor(input, { alg: 'RS256', key: rsa.privateKey })}`;
      },
      'JWT_SIGNATURE_INVALID',
    ],
    // R48 / N8
    ['aud missing', () => es({}, claims({ aud: undefined })), 'JWT_AUDIENCE_MISSING'],
    ['aud empty array', () => es({}, claims({ aud: [] })), 'JWT_AUDIENCE_MISSING'],
    ['aud of the wrong type', () => es({}, claims({ aud: 7 })), 'JWT_CLAIM_INVALID'],
    [
      'aud another audience',
      () => es({}, claims({ aud: 'spiffe://example.org/other' })),
      'JWT_AUDIENCE_MISMATCH',
    ],
    ['aud array holding ours', () => es({}, claims({ aud: ['x', AUD] })), 'OK'],
    ['aud array without ours', () => es({}, claims({ aud: ['x', 'y'] })), 'JWT_AUDIENCE_MISMATCH'],
    // R49
    ['exp missing', () => es({}, claims({ exp: undefined })), 'JWT_EXP_MISSING'],
    ['exp not a number', () => es({}, claims({ exp: 'tomorrow' })), 'JWT_CLAIM_INVALID'],
    ['expired an hour ago', () => es({}, claims({ exp: NOW_S - 3600 })), 'JWT_EXPIRED'],
    ['expired 10 s ago (within the default 30 s tolerance)', () => es({}, claims({ exp: NOW_S - 10 })), 'OK'],
    ['exp exactly 30 s ago', () => es({}, claims({ exp: NOW_S - 30 })), 'JWT_EXPIRED'],
    // nbf
    ['nbf an hour ahead', () => es({}, claims({ nbf: NOW_S + 3600 })), 'JWT_NOT_YET_VALID'],
    ['nbf 10 s ahead (within tolerance)', () => es({}, claims({ nbf: NOW_S + 10 })), 'OK'],
    ['iat not a number', () => es({}, claims({ iat: 'now' })), 'JWT_CLAIM_INVALID'],
  ])('%s → %s', (_name, token, code) => {
    expect(codeOf(() => verify(token()))).toBe(code);
  });

  it('reports JWT_MALFORMED as an input error and verdicts as verdicts, each with its rule', () => {
    const err = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return e as SpiffeError;
      }
      throw new Error('did not throw');
    };
    const malformed = err(() => verify('a.b'));
    expect(malformed).toBeInstanceOf(SpiffeError);
    expect([malformed.category, malformed.rule]).toEqual(['input', 41]);
    const none = err(() => verify(forge({ alg: 'none' }, claims(), { none: true })));
    expect([none.category, none.rule]).toEqual(['verdict', 43]);
    const typ = err(() => verify(es({ typ: 'x' })));
    expect([typ.category, typ.rule]).toEqual(['verdict', 46]);
    const aud = err(() => verify(es({}, claims({ aud: 'x' }))));
    expect([aud.category, aud.rule]).toEqual(['verdict', 48]);
    const exp = err(() => verify(es({}, claims({ exp: NOW_S - 3600 }))));
    expect([exp.category, exp.rule]).toEqual(['verdict', 49]);
  });

  it('checks the signature before the claims: a forged, expired token is a bad signature', () => {
    const forged = forge({ alg: 'ES256', kid: 'k1' }, claims({ exp: NOW_S - 3600, aud: 'x' }), {
      alg: 'ES256',
      key: ec2.privateKey,
    });
    expect(codeOf(() => verify(forged))).toBe('JWT_SIGNATURE_INVALID');
  });

  it('checks aud before exp', () => {
    expect(codeOf(() => verify(es({}, claims({ aud: 'x', exp: NOW_S - 3600 }))))).toBe(
      'JWT_AUDIENCE_MISMATCH',
    );
  });

  it('N6: a token without kid verifies against a one-key bundle and reports that key', () => {
    const one = bundleWith({ only: ec.publicKey });
    const r = verify(es({ kid: undefined }), one);
    expect(r.kid).toBe('only');
    expect(r.header.kid).toBeUndefined();
  });

  it('R20: a key of another trust domain is never used, even in a set holding both', () => {
    // other.org's bundle holds ec2 under kid k1; the token claims other.org but is signed by example.org's key.
    const set = new BundleSet([
      SpiffeBundle.fromJwtBundle(bundleWith({ k1: ec.publicKey })),
      SpiffeBundle.fromJwtBundle(bundleWith({ k1: ec2.publicKey }, OTHER_TD)),
    ]);
    const token = es({}, claims({ sub: 'spiffe://other.org/web' }));
    expect(codeOf(() => verify(token, set))).toBe('JWT_SIGNATURE_INVALID');
    expect(codeOf(() => verify(es(), set))).toBe('OK');
    expect(codeOf(() => verify(es(), bundleWith({ k1: ec.publicKey }, OTHER_TD)))).toBe('BUNDLE_NOT_FOUND');
  });

  it('refuses RSA authorities below 2048 bits', () => {
    const weak = keyPair('RSA-1024');
    const b = bundleWith({ w: weak.publicKey });
    const token = forge({ alg: 'RS256', kid: 'w' }, claims(), { alg: 'RS256', key: weak.privateKey });
    expect(codeOf(() => verify(token, b))).toBe('JWT_SIGNATURE_INVALID');
  });

  it('accepts any one of several expected audiences, and a zero tolerance is exact', () => {
    expect(codeOf(() => verify(es(), bundle, { audience: ['nope', AUD] }))).toBe('OK');
    expect(codeOf(() => verify(es({}, claims({ exp: NOW_S })), bundle, { clockToleranceSeconds: 0 }))).toBe(
      'JWT_EXPIRED',
    );
    expect(
      codeOf(() => verify(es({}, claims({ exp: NOW_S + 1 })), bundle, { clockToleranceSeconds: 0 })),
    ).toBe('OK');
  });

  it('refuses unusable options', () => {
    expect(codeOf(() => verify(es(), bundle, { audience: '' }))).toBe('JWT_OPTIONS_INVALID');
    expect(codeOf(() => verify(es(), bundle, { audience: [] }))).toBe('JWT_OPTIONS_INVALID');
    expect(codeOf(() => verify(es(), bundle, { clockToleranceSeconds: -1 }))).toBe('JWT_OPTIONS_INVALID');
  });

  it('returns the identity, audience, expiry, claims, header and kid', () => {
    const r = verify(es({}, claims({ aud: ['a', AUD], jti: 'x1' })));
    expect(r.id.toString()).toBe(SUB);
    expect(r.id.trustDomain.equals(TD)).toBe(true);
    expect(r.audience).toEqual(['a', AUD]);
    expect(r.expiresAt).toEqual(new Date((NOW_S + 300) * 1000));
    expect(r.claims.jti).toBe('x1');
    expect(r.header).toEqual({ alg: 'ES256', kid: 'k1', typ: 'JWT' });
    expect(r.kid).toBe('k1');
  });
});

describe('parseInsecure', () => {
  it('peeks at an expired token of an unknown trust domain without verifying it', () => {
    const token = es(
      { kid: 'whatever' },
      claims({ sub: 'spiffe://far.away/x', exp: NOW_S - 86400, aud: ['a', 'b'] }),
    );
    const p = parseInsecure(token);
    expect(p.id.toString()).toBe('spiffe://far.away/x');
    expect(p.kid).toBe('whatever');
    expect(p.audience).toEqual(['a', 'b']);
    expect(p.expiresAt).toEqual(new Date((NOW_S - 86400) * 1000));
  });

  it('still applies the structural rules (R41, R43, R46, R47)', () => {
    expect(codeOf(() => parseInsecure('x.y'))).toBe('JWT_MALFORMED');
    expect(codeOf(() => parseInsecure(forge({ alg: 'none' }, claims(), { none: true })))).toBe(
      'JWT_ALG_NONE',
    );
    expect(codeOf(() => parseInsecure(es({ typ: 'x' })))).toBe('JWT_TYP_INVALID');
    expect(codeOf(() => parseInsecure(es({}, claims({ sub: 'x' }))))).toBe('JWT_SUBJECT_INVALID');
  });
});
