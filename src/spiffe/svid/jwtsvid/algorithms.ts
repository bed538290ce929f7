import { constants, type KeyObject } from 'node:crypto';
import { SpiffeError } from '../../errors.js';

/** Rule 43: the only algorithms a JWT-SVID may use (JWT-SVID.schema `header.alg.enum`). */
export const JWT_SVID_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
] as const;
export type JwtSvidAlgorithm = (typeof JWT_SVID_ALGORITHMS)[number];

interface AlgSpec {
  readonly family: 'RS' | 'ES' | 'PS';
  /** node:crypto digest name. */
  readonly hash: 'sha256' | 'sha384' | 'sha512';
  readonly hashLength: number;
  /** ES*: OpenSSL curve name and the IEEE P1363 signature length (r || s). */
  readonly curve?: 'prime256v1' | 'secp384r1' | 'secp521r1';
  readonly signatureLength?: number;
}

const SPECS: Readonly<Record<JwtSvidAlgorithm, AlgSpec>> = {
  RS256: { family: 'RS', hash: 'sha256', hashLength: 32 },
  RS384: { family: 'RS', hash: 'sha384', hashLength: 48 },
  RS512: { family: 'RS', hash: 'sha512', hashLength: 64 },
  PS256: { family: 'PS', hash: 'sha256', hashLength: 32 },
  PS384: { family: 'PS', hash: 'sha384', hashLength: 48 },
  PS512: { family: 'PS', hash: 'sha512', hashLength: 64 },
  ES256: { family: 'ES', hash: 'sha256', hashLength: 32, curve: 'prime256v1', signatureLength: 64 },
  ES384: { family: 'ES', hash: 'sha384', hashLength: 48, curve: 'secp384r1', signatureLength: 96 },
  ES512: { family: 'ES', hash: 'sha512', hashLength: 64, curve: 'secp521r1', signatureLength: 132 },
};

/** RSA keys below this size are refused for signing and verification (as jose does). */
export const MIN_RSA_BITS = 2048;

export function isJwtSvidAlgorithm(alg: unknown): alg is JwtSvidAlgorithm {
  return typeof alg === 'string' && Object.hasOwn(SPECS, alg);
}

/**
 * Rules 43/44: judges `alg` before anything else is done with a token.
 * `JWT_ALG_NONE` for `none` (an unsecured JWS), `JWT_ALG_HMAC` for `HS*`
 * (a shared secret can never be a trust-domain authority), `JWT_ALG_UNSUPPORTED`
 * for everything else outside the list (`EdDSA`, `ES256K`, missing, ...).
 */
export function checkAlgorithm(alg: unknown): JwtSvidAlgorithm {
  if (isJwtSvidAlgorithm(alg)) return alg;
  if (typeof alg === 'string' && alg.toLowerCase() === 'none') {
    throw new SpiffeError(
      'JWT_ALG_NONE',
      'verdict',
      'token is unsigned (alg "none"); JWT-SVIDs must be signed',
      {
        rule: 43,
      },
    );
  }
  if (typeof alg === 'string' && /^HS\d+$/i.test(alg)) {
    throw new SpiffeError(
      'JWT_ALG_HMAC',
      'verdict',
      `token uses the shared-secret algorithm ${alg}; JWT-SVIDs are signed with the trust domain's public-key authorities`,
      { rule: 43 },
    );
  }
  throw new SpiffeError(
    'JWT_ALG_UNSUPPORTED',
    'verdict',
    alg === undefined
      ? 'token header has no "alg"'
      : `token algorithm ${JSON.stringify(alg)} is not allowed for JWT-SVIDs (${JWT_SVID_ALGORITHMS.join(', ')})`,
    { rule: 43 },
  );
}

/** What `crypto.verify` / `crypto.sign` need for one (key, alg) pair. */
export interface CryptoPlan {
  readonly hash: AlgSpec['hash'];
  readonly key: {
    key: KeyObject;
    dsaEncoding?: 'ieee-p1363';
    padding?: number;
    saltLength?: number;
  };
  /** ES*: the exact signature length; anything else cannot verify. */
  readonly signatureLength: number | undefined;
}

/**
 * Builds the node:crypto options for `alg` with `key`, or returns why the key
 * cannot be used with it (wrong type, wrong curve, RSA below 2048 bits).
 */
export function cryptoPlan(key: KeyObject, alg: JwtSvidAlgorithm): CryptoPlan | string {
  const spec = SPECS[alg];
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails;
  if (spec.family === 'ES') {
    if (type !== 'ec' || details?.namedCurve !== spec.curve) {
      return `${alg} needs an EC ${curveName(spec.curve)} key, the authority holds ${describe(key)}`;
    }
    return {
      hash: spec.hash,
      key: { key, dsaEncoding: 'ieee-p1363' },
      signatureLength: spec.signatureLength,
    };
  }
  if (type !== 'rsa' && !(spec.family === 'PS' && type === 'rsa-pss')) {
    return `${alg} needs an RSA key, the authority holds ${describe(key)}`;
  }
  const bits = details?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) {
    return `${alg} needs an RSA key of at least ${MIN_RSA_BITS} bits, the authority's has ${bits}`;
  }
  if (spec.family === 'RS') {
    return {
      hash: spec.hash,
      key: { key, padding: constants.RSA_PKCS1_PADDING },
      signatureLength: undefined,
    };
  }
  // RFC 7518 §3.5: PSS with MGF1 on the same hash and a salt as long as the hash.
  return {
    hash: spec.hash,
    key: { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: spec.hashLength },
    signatureLength: undefined,
  };
}

/** The default algorithm for a signing key: ES256/384/512 by curve, RS256 for RSA, PS256 for RSA-PSS. */
export function defaultAlgorithmFor(key: KeyObject): JwtSvidAlgorithm | undefined {
  const type = key.asymmetricKeyType;
  if (type === 'rsa') return 'RS256';
  if (type === 'rsa-pss') return 'PS256';
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return 'ES256';
    if (curve === 'secp384r1') return 'ES384';
    if (curve === 'secp521r1') return 'ES512';
  }
  return undefined;
}

function curveName(curve: AlgSpec['curve']): string {
  return curve === 'prime256v1' ? 'P-256' : curve === 'secp384r1' ? 'P-384' : 'P-521';
}

function describe(key: KeyObject): string {
  const t = key.asymmetricKeyType ?? key.type;
  const d = key.asymmetricKeyDetails;
  if (t === 'ec') return `an EC ${d?.namedCurve ?? '?'} key`;
  if (t === 'rsa' || t === 'rsa-pss') return `an ${t.toUpperCase()} ${d?.modulusLength ?? '?'}-bit key`;
  return `a ${t} key`;
}
