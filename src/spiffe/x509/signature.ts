import { constants, type KeyObject, verify } from 'node:crypto';
import { SpiffeError } from '../errors.js';
import type { Certificate, SignatureAlgorithm } from './certificate.js';

/** How node:crypto checks one signature algorithm. */
interface VerifyPlan {
  /** `null` for Ed25519 (the digest is part of the scheme). */
  digest: string | null;
  keyTypes: readonly string[];
  padding?: number;
  saltLength?: number;
  dsaEncoding?: 'der';
}

const EC = ['ec'] as const;
const RSA = ['rsa'] as const;
const RSA_OR_PSS = ['rsa', 'rsa-pss'] as const;

const PLANS: Record<string, VerifyPlan> = {
  '1.2.840.10045.4.3.2': { digest: 'sha256', keyTypes: EC, dsaEncoding: 'der' },
  '1.2.840.10045.4.3.3': { digest: 'sha384', keyTypes: EC, dsaEncoding: 'der' },
  '1.2.840.10045.4.3.4': { digest: 'sha512', keyTypes: EC, dsaEncoding: 'der' },
  '1.2.840.113549.1.1.11': { digest: 'sha256', keyTypes: RSA, padding: constants.RSA_PKCS1_PADDING },
  '1.2.840.113549.1.1.12': { digest: 'sha384', keyTypes: RSA, padding: constants.RSA_PKCS1_PADDING },
  '1.2.840.113549.1.1.13': { digest: 'sha512', keyTypes: RSA, padding: constants.RSA_PKCS1_PADDING },
  '1.3.101.112': { digest: null, keyTypes: ['ed25519'] },
};

const PSS_OID = '1.2.840.113549.1.1.10';
const PSS_HASHES = new Set(['sha256', 'sha384', 'sha512']);

function unsupported(alg: SignatureAlgorithm, why: string): SpiffeError {
  return new SpiffeError(
    'SIGNATURE_ALGORITHM_UNSUPPORTED',
    'verdict',
    `signature algorithm ${alg.name} (${alg.oid}) is not supported: ${why}`,
    { details: { oid: alg.oid, name: alg.name } },
  );
}

const pssPlans = new Map<string, VerifyPlan>();

function planFor(alg: SignatureAlgorithm): VerifyPlan {
  const plan = PLANS[alg.oid];
  if (plan !== undefined) {
    // RFC 5758/8410: ECDSA and Ed25519 identifiers carry no parameters; PKCS#1 ones carry NULL (or none).
    if (alg.parameters !== undefined && !(plan.padding !== undefined && isDerNull(alg.parameters))) {
      throw unsupported(alg, 'unexpected algorithm parameters');
    }
    return plan;
  }
  if (alg.oid === PSS_OID) {
    const pss = alg.pss;
    if (pss === undefined) throw unsupported(alg, 'missing RSASSA-PSS parameters');
    if (!PSS_HASHES.has(pss.hash)) throw unsupported(alg, `PSS hash ${pss.hash}`);
    if (pss.mgf1Hash !== pss.hash)
      throw unsupported(alg, `MGF1 hash ${pss.mgf1Hash} differs from ${pss.hash}`);
    const key = `${pss.hash}/${pss.saltLength}`;
    let p = pssPlans.get(key);
    if (p === undefined) {
      p = {
        digest: pss.hash,
        keyTypes: RSA_OR_PSS,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: pss.saltLength,
      };
      pssPlans.set(key, p);
    }
    return p;
  }
  throw unsupported(
    alg,
    'only ECDSA (SHA-256/384/512), RSA PKCS#1 v1.5, RSA-PSS (SHA-2) and Ed25519 are accepted',
  );
}

function isDerNull(b: Uint8Array): boolean {
  return b.length === 2 && b[0] === 0x05 && b[1] === 0x00;
}

/** Throws `SIGNATURE_ALGORITHM_UNSUPPORTED` unless `verifySignature` can check this certificate. */
export function assertSignatureAlgorithmSupported(alg: SignatureAlgorithm): void {
  planFor(alg);
}

/**
 * True when `cert` was signed by the private half of `issuerKey` (checked by
 * OpenSSL through node:crypto over the to-be-signed bytes). A key of the wrong type
 * for the algorithm yields false. An algorithm this kernel does not accept
 * (SHA-1, MD5, Ed448, unknown) raises `SIGNATURE_ALGORITHM_UNSUPPORTED`.
 */
export function verifySignature(cert: Certificate, issuerKey: KeyObject): boolean {
  const plan = planFor(cert.signatureAlgorithm);
  const type = issuerKey.asymmetricKeyType;
  if (type === undefined || !plan.keyTypes.includes(type)) return false;
  try {
    if (plan.digest === null) return verify(null, cert.tbs, issuerKey, cert.signature);
    if (plan.dsaEncoding !== undefined) {
      return verify(plan.digest, cert.tbs, { key: issuerKey, dsaEncoding: plan.dsaEncoding }, cert.signature);
    }
    if (plan.saltLength !== undefined) {
      return verify(
        plan.digest,
        cert.tbs,
        { key: issuerKey, padding: plan.padding, saltLength: plan.saltLength },
        cert.signature,
      );
    }
    return verify(plan.digest, cert.tbs, { key: issuerKey, padding: plan.padding }, cert.signature);
  } catch {
    // OpenSSL rejects some malformed signatures (bad DER, wrong length) by throwing.
    return false;
  }
}

/** N12: self-signedness is decided by the signature, never by comparing names. */
export function isSelfSignedBySignature(cert: Certificate): boolean {
  try {
    return verifySignature(cert, cert.publicKey);
  } catch {
    return false;
  }
}
