import { createPrivateKey, createPublicKey } from 'node:crypto';
import { importJWK, jwtVerify, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { JwtBundle } from '../../../../src/spiffe/bundle/jwtbundle.js';
import {
  JWT_SVID_ALGORITHMS,
  type JwtSvidAlgorithm,
  signJwtSvid,
  verifyJwtSvid,
} from '../../../../src/spiffe/svid/jwtsvid/index.js';
import { readFixture } from '../../../helpers/fixtures.js';
import { AUD, bundleWith, clock, codeOf, keyPair, NOW, SUB, TD } from './helpers.js';

const keyFor = (alg: JwtSvidAlgorithm) =>
  alg.startsWith('ES')
    ? keyPair(alg === 'ES256' ? 'P-256' : alg === 'ES384' ? 'P-384' : 'P-521')
    : keyPair('RSA');

describe('R43: each of the nine JWT-SVID algorithms verifies through node:crypto', () => {
  it.each(JWT_SVID_ALGORITHMS.map((a) => [a]))('%s', (alg) => {
    const { publicKey, privateKey } = keyFor(alg);
    const token = signJwtSvid({ id: SUB, audience: AUD, ttl: 60, key: privateKey, kid: 'k', alg, clock });
    const r = verifyJwtSvid(token, bundleWith({ k: publicKey }), { audience: AUD, clock });
    expect(r.header.alg).toBe(alg);
    expect(r.id.toString()).toBe(SUB);
  });
});

describe('go-spiffe fixture key (x509svid/key-pkcs8-ecdsa.pem, P-256) as an ES256 JWT authority', () => {
  const privateKey = createPrivateKey(readFixture('spiffe', 'go-spiffe', 'x509svid', 'key-pkcs8-ecdsa.pem'));
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  // A Workload-API style JWKS (no `use`, N7) holding the fixture key's public half.
  const jwks = JSON.stringify({
    keys: [{ kty: 'EC', kid: 'go-spiffe-ecdsa', crv: jwk.crv, x: jwk.x, y: jwk.y }],
  });
  const bundle = JwtBundle.parse(TD, jwks);

  it('verifies a token signed with the fixture key', () => {
    const token = signJwtSvid({
      id: 'spiffe://example.org/workload-1',
      audience: ['spiffe://example.org/api', 'other'],
      key: privateKey,
      kid: 'go-spiffe-ecdsa',
      clock,
    });
    const r = verifyJwtSvid(token, bundle, { audience: 'spiffe://example.org/api', clock });
    expect(r.header.alg).toBe('ES256');
    expect(r.id.toString()).toBe('spiffe://example.org/workload-1');
    expect(r.kid).toBe('go-spiffe-ecdsa');
  });

  it('refuses the same token for another audience or after it expired', () => {
    const token = signJwtSvid({
      id: SUB,
      audience: AUD,
      ttl: 60,
      key: privateKey,
      kid: 'go-spiffe-ecdsa',
      clock,
    });
    expect(codeOf(() => verifyJwtSvid(token, bundle, { audience: 'x', clock }))).toBe(
      'JWT_AUDIENCE_MISMATCH',
    );
    const later = () => new Date(NOW.getTime() + 120_000);
    expect(codeOf(() => verifyJwtSvid(token, bundle, { audience: AUD, clock: later }))).toBe('JWT_EXPIRED');
  });
});

describe('interop with jose', () => {
  it.each<[JwtSvidAlgorithm]>([['ES256'], ['RS256'], ['PS384'], ['ES512']])(
    '%s: jose-signed tokens verify here, ours verify in jose',
    async (alg) => {
      const { publicKey, privateKey } = keyFor(alg);
      const bundle = bundleWith({ k: publicKey });
      const joseToken = await new SignJWT({ aud: AUD })
        .setProtectedHeader({ alg, kid: 'k', typ: 'JWT' })
        .setSubject(SUB)
        .setIssuedAt(Math.floor(NOW.getTime() / 1000))
        .setExpirationTime(Math.floor(NOW.getTime() / 1000) + 60)
        .sign(privateKey);
      expect(verifyJwtSvid(joseToken, bundle, { audience: AUD, clock }).id.toString()).toBe(SUB);

      const ours = signJwtSvid({ id: SUB, audience: AUD, key: privateKey, kid: 'k', alg, clock });
      const key = await importJWK(bundle.findAuthority('k')!.jwk, alg);
      const r = await jwtVerify(ours, key, { audience: AUD, currentDate: NOW, algorithms: [alg] });
      expect(r.payload.sub).toBe(SUB);
    },
  );
});
