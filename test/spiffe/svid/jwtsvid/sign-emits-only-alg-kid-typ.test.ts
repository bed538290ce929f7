import { describe, expect, it } from 'vitest';
import { parseInsecure, signJwtSvid } from '../../../../src/spiffe/svid/jwtsvid/index.js';
import { AUD, clock, codeOf, keyPair, NOW_S, SUB } from './helpers.js';

describe('signJwtSvid', () => {
  const ec = keyPair('P-256');

  it('R42: the header holds alg, kid and typ only; claims are sub, aud, exp, iat', () => {
    const token = signJwtSvid({ id: SUB, audience: AUD, ttl: 120, key: ec.privateKey, kid: 'k1', clock });
    const [h, p] = token.split('.');
    expect(JSON.parse(Buffer.from(h!, 'base64url').toString())).toEqual({
      alg: 'ES256',
      kid: 'k1',
      typ: 'JWT',
    });
    expect(JSON.parse(Buffer.from(p!, 'base64url').toString())).toEqual({
      sub: SUB,
      aud: AUD,
      exp: NOW_S + 120,
      iat: NOW_S,
    });
  });

  it('N8: several audiences are written as an array, one as a string', () => {
    const t = signJwtSvid({ id: SUB, audience: ['a', 'b'], key: ec.privateKey, kid: 'k1', clock });
    expect(parseInsecure(t).claims.aud).toEqual(['a', 'b']);
  });

  it('picks the algorithm from the key and keeps extra claims', () => {
    const t = signJwtSvid({
      id: SUB,
      audience: AUD,
      key: keyPair('P-384').privateKey,
      kid: 'k',
      clock,
      claims: { iss: 'https://oidc.example.org' },
    });
    const p = parseInsecure(t);
    expect(p.header.alg).toBe('ES384');
    expect(p.claims.iss).toBe('https://oidc.example.org');
    expect(
      signJwtSvid({ id: SUB, audience: AUD, key: keyPair('RSA').privateKey, kid: 'k', clock }).length,
    ).toBeGreaterThan(0);
    expect(
      parseInsecure(signJwtSvid({ id: SUB, audience: AUD, key: keyPair('RSA').privateKey, kid: 'k', clock }))
        .header.alg,
    ).toBe('RS256');
  });

  it.each<[string, () => unknown]>([
    ['a public key', () => signJwtSvid({ id: SUB, audience: AUD, key: ec.publicKey, kid: 'k' })],
    [
      'an Ed25519 key',
      () => signJwtSvid({ id: SUB, audience: AUD, key: keyPair('Ed25519').privateKey, kid: 'k' }),
    ],
    [
      'ES384 with a P-256 key',
      () => signJwtSvid({ id: SUB, audience: AUD, key: ec.privateKey, kid: 'k', alg: 'ES384' }),
    ],
    [
      'HS256',
      () => signJwtSvid({ id: SUB, audience: AUD, key: ec.privateKey, kid: 'k', alg: 'HS256' as never }),
    ],
    [
      'RSA-1024',
      () => signJwtSvid({ id: SUB, audience: AUD, key: keyPair('RSA-1024').privateKey, kid: 'k' }),
    ],
    ['no kid', () => signJwtSvid({ id: SUB, audience: AUD, key: ec.privateKey, kid: '' })],
    ['no audience', () => signJwtSvid({ id: SUB, audience: [], key: ec.privateKey, kid: 'k' })],
    ['ttl 0', () => signJwtSvid({ id: SUB, audience: AUD, key: ec.privateKey, kid: 'k', ttl: 0 })],
    [
      'a reserved extra claim',
      () => signJwtSvid({ id: SUB, audience: AUD, key: ec.privateKey, kid: 'k', claims: { exp: 1 } }),
    ],
  ])('refuses %s (JWT_SIGN_INVALID)', (_name, fn) => {
    expect(codeOf(fn)).toBe('JWT_SIGN_INVALID');
  });

  it('refuses an ID that is not a SPIFFE ID (with the ID parser code)', () => {
    expect(
      codeOf(() => signJwtSvid({ id: 'spiffe://example.org/', audience: AUD, key: ec.privateKey, kid: 'k' })),
    ).toMatch(/^ID_/);
  });
});
