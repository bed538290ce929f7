import { constants, createHmac, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { JwtBundle } from '../../../../src/spiffe/bundle/jwtbundle.js';
import { TrustDomain } from '../../../../src/spiffe/spiffeid/index.js';

/** Test-only token forge: any header, any payload, any (or no) signature. */

export const TD = TrustDomain.parse('example.org');
export const OTHER_TD = TrustDomain.parse('other.org');
export const NOW = new Date('2026-03-01T12:00:00Z');
export const NOW_S = Math.floor(NOW.getTime() / 1000);
export const clock = () => NOW;
export const AUD = 'spiffe://example.org/api';
export const SUB = 'spiffe://example.org/ns/shop/sa/web';

const keyCache = new Map<string, { publicKey: KeyObject; privateKey: KeyObject }>();

/** One key pair per label, generated once per test file. */
export function keyPair(
  label: 'P-256' | 'P-384' | 'P-521' | 'RSA' | 'RSA-1024' | 'Ed25519' | `P-256-${string}`,
) {
  let kp = keyCache.get(label);
  if (kp === undefined) {
    if (label === 'RSA') kp = generateKeyPairSync('rsa', { modulusLength: 2048 });
    else if (label === 'RSA-1024') kp = generateKeyPairSync('rsa', { modulusLength: 1024 });
    else if (label === 'Ed25519') kp = generateKeyPairSync('ed25519');
    else kp = generateKeyPairSync('ec', { namedCurve: label.startsWith('P-256') ? 'P-256' : label });
    keyCache.set(label, kp);
  }
  return kp;
}

export function b64url(v: unknown): string {
  return Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
}

export type Signer =
  | { alg: string; key: KeyObject }
  | { hmacSecret: Buffer; alg: 'HS256' }
  | { none: true }
  | { signature: string };

/** Signs `header.payload` as `signer` says; the header's `alg` is whatever the caller put there. */
export function forge(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  signer: Signer,
): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${signatureFor(input, signer)}`;
}

export function signatureFor(input: string, signer: Signer): string {
  if ('none' in signer) return '';
  if ('signature' in signer) return signer.signature;
  if ('hmacSecret' in signer)
    return createHmac('sha256', signer.hmacSecret).update(input).digest('base64url');
  const { alg, key } = signer;
  if (alg === 'EdDSA') return sign(null, Buffer.from(input), key).toString('base64url');
  const hash = `sha${alg.slice(2)}`;
  const opts = alg.startsWith('ES')
    ? { key, dsaEncoding: 'ieee-p1363' as const }
    : alg.startsWith('PS')
      ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(alg.slice(2)) / 8 }
      : key;
  return sign(hash, Buffer.from(input), opts).toString('base64url');
}

export function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { sub: SUB, aud: AUD, exp: NOW_S + 300, iat: NOW_S, ...extra };
}

/** A bundle for example.org holding the given kid → key pairs. */
export function bundleWith(entries: Record<string, KeyObject>, td = TD): JwtBundle {
  const b = new JwtBundle(td);
  for (const [kid, key] of Object.entries(entries)) b.addAuthority(kid, key);
  return b;
}

/** The error code thrown by `fn`, or 'OK'. */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'OK';
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code !== 'string') throw err;
    return code;
  }
}
