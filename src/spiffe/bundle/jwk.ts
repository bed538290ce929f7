import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import { SpiffeError } from '../errors.js';

/**
 * JWK helpers shared by the JWT bundle and the SPIFFE bundle. Only public key
 * material ever leaves these functions (rule 63): a JWK is rebuilt from the
 * members its `kty` defines for a public key, in a fixed order.
 */

/** The public members per key type, in the order they are written (RFC 7518 §6). */
export const PUBLIC_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  EC: ['crv', 'x', 'y'],
  RSA: ['n', 'e'],
  OKP: ['crv', 'x'],
};

/** Private or symmetric key members (RFC 7518 §6.2.2, §6.3.2, §6.4): never published. */
export const PRIVATE_MEMBERS: readonly string[] = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

export function hasPrivateMembers(jwk: Record<string, unknown>): boolean {
  return PRIVATE_MEMBERS.some((m) => m in jwk);
}

/** The `kty` values this code can turn into a public key. */
export function isKnownKty(kty: unknown): kty is 'EC' | 'RSA' | 'OKP' {
  return kty === 'EC' || kty === 'RSA' || kty === 'OKP';
}

/**
 * Imports the public part of a JWK (private members are ignored). Throws
 * `JWK_INVALID` ('input') when the members do not form a valid public key
 * (bad base64url, point not on the curve, unknown curve, ...).
 */
export function importPublicJwk(jwk: Record<string, unknown>): KeyObject {
  const kty = jwk.kty;
  const members = typeof kty === 'string' ? PUBLIC_MEMBERS[kty] : undefined;
  if (members === undefined) {
    throw new SpiffeError('JWK_INVALID', 'input', `JWK key type ${JSON.stringify(kty)} is not supported`, {
      rule: 61,
    });
  }
  const pub: Record<string, unknown> = { kty };
  for (const m of members) {
    const v = jwk[m];
    if (typeof v !== 'string' || v.length === 0 || !/^[A-Za-z0-9_-]+$/.test(v)) {
      throw new SpiffeError('JWK_INVALID', 'input', `JWK member "${m}" must be a non-empty base64url string`);
    }
    pub[m] = v;
  }
  try {
    return createPublicKey({ key: pub as JsonWebKey, format: 'jwk' });
  } catch (cause) {
    throw new SpiffeError('JWK_INVALID', 'input', `JWK does not describe a valid ${kty} public key`, {
      cause,
    });
  }
}

/** The public JWK of a key in canonical member order: `{kty, crv, x, y}` or `{kty, n, e}`. */
export function publicJwkOf(key: KeyObject): JWK {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  let exported: Record<string, unknown>;
  try {
    exported = pub.export({ format: 'jwk' }) as Record<string, unknown>;
  } catch (cause) {
    throw new SpiffeError(
      'JWK_INVALID',
      'input',
      `a ${pub.asymmetricKeyType ?? 'symmetric'} key cannot be written as a JWK`,
      { cause },
    );
  }
  const kty = exported.kty as string;
  const members = PUBLIC_MEMBERS[kty] ?? [];
  const out: Record<string, unknown> = { kty };
  for (const m of members) out[m] = exported[m];
  return out as JWK;
}

/** DER SubjectPublicKeyInfo of a public key, for equality checks. */
export function spkiOf(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' });
}

/**
 * Key types a JWT-SVID can be verified with (rule 43: RS*, PS*, ES256/384/512).
 * Returns a description for messages, or undefined when the key can never verify a JWT-SVID.
 */
export function jwtKeyDescription(key: KeyObject): string | undefined {
  if (key.asymmetricKeyType === 'rsa') return `RSA ${key.asymmetricKeyDetails?.modulusLength ?? '?'}`;
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return 'EC P-256';
    if (curve === 'secp384r1') return 'EC P-384';
    if (curve === 'secp521r1') return 'EC P-521';
  }
  return undefined;
}
