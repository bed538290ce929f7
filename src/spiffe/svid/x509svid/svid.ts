import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { SpiffeError } from '../../errors.js';
import { DerReader, readTlv, TAG } from '../../internal/der.js';
import { decodePem } from '../../pem/pem.js';
import { SpiffeId } from '../../spiffeid/index.js';
import { asBuffer, type Certificate, parseCertificates } from '../../x509/certificate.js';

/** An X.509-SVID with its private key (go-spiffe `x509svid.SVID`). */
export interface X509Svid {
  id: SpiffeId;
  /** Leaf first, then the intermediates that chain it to the trust domain's bundle. */
  certificates: Certificate[];
  privateKey: KeyObject;
  hint?: string;
}

function verdict(
  code: string,
  rule: number | undefined,
  message: string,
  details?: Record<string, unknown>,
): SpiffeError {
  return new SpiffeError(code, 'verdict', message, {
    ...(rule === undefined ? {} : { rule }),
    ...(details === undefined ? {} : { details }),
  });
}

/**
 * The SPIFFE ID of a leaf: exactly one URI SAN (R21) that parses as a SPIFFE ID.
 * Codes: `SVID_NO_URI_SAN`, `SVID_MULTIPLE_URI_SANS`, `SVID_ID_INVALID`.
 */
export function spiffeIdFromCertificate(cert: Certificate): SpiffeId {
  const uris = cert.subjectAltName?.uris ?? [];
  if (uris.length === 0) {
    throw verdict('SVID_NO_URI_SAN', 21, 'certificate has no URI SAN, so it carries no SPIFFE ID', {
      fingerprint: cert.fingerprint,
    });
  }
  if (uris.length > 1) {
    throw verdict(
      'SVID_MULTIPLE_URI_SANS',
      21,
      `certificate has ${uris.length} URI SANs; an X.509-SVID has exactly one`,
      {
        fingerprint: cert.fingerprint,
        uris: [...uris],
      },
    );
  }
  try {
    return SpiffeId.parse(uris[0]!);
  } catch (err) {
    if (!(err instanceof SpiffeError)) throw err;
    throw new SpiffeError(
      'SVID_ID_INVALID',
      'verdict',
      `URI SAN "${uris[0]}" is not a valid SPIFFE ID: ${err.message}`,
      {
        ...(err.rule === undefined ? {} : { rule: err.rule }),
        details: { uri: uris[0], idCode: err.code },
        cause: err,
      },
    );
  }
}

/**
 * go-spiffe `x509svid.Parse` structure checks on a presented chain (leaf first):
 * leaf ID (R21, R23), leaf not CA (R26/R27), leaf key usage (R31, R32), and every
 * further certificate a CA (R27) with keyCertSign (R30). Returns the leaf ID.
 */
export function validateSvidCertificates(certs: readonly Certificate[]): SpiffeId {
  const leaf = certs[0];
  if (leaf === undefined)
    throw new SpiffeError('SVID_NO_CERTIFICATES', 'input', 'no certificates found', { rule: 21 });
  const id = spiffeIdFromCertificate(leaf);
  const ku = leaf.keyUsage?.flags;
  if (id.isTrustDomainId()) {
    throw verdict('SVID_ID_NO_PATH', 23, `leaf SPIFFE ID "${id}" has no path; a workload ID needs one`);
  }
  if (leaf.basicConstraints?.ca === true) {
    throw verdict('SVID_LEAF_IS_CA', 27, 'leaf certificate must not have CA flag set to true');
  }
  if (!ku?.has('digitalSignature')) {
    throw verdict(
      'SVID_LEAF_NO_DIGITAL_SIGNATURE',
      31,
      "leaf certificate must have 'digitalSignature' set as key usage",
    );
  }
  if (ku.has('keyCertSign')) {
    throw verdict(
      'SVID_LEAF_KEY_CERT_SIGN',
      32,
      "leaf certificate must not have 'keyCertSign' set as key usage",
    );
  }
  if (ku.has('cRLSign')) {
    throw verdict('SVID_LEAF_CRL_SIGN', 32, "leaf certificate must not have 'cRLSign' set as key usage");
  }
  for (let i = 1; i < certs.length; i++) {
    const c = certs[i]!;
    if (c.basicConstraints?.ca !== true) {
      throw verdict('SIGNING_CERT_NOT_CA', 27, `signing certificate ${i} must have CA flag set to true`, {
        index: i,
      });
    }
    if (!c.keyUsage?.flags.has('keyCertSign')) {
      throw verdict(
        'SIGNING_CERT_NO_KEY_CERT_SIGN',
        30,
        `signing certificate ${i} must have 'keyCertSign' set as key usage`,
        { index: i },
      );
    }
  }
  return id;
}

const KEY_BLOCKS: Record<string, 'pkcs8' | 'pkcs1' | 'sec1'> = {
  'PRIVATE KEY': 'pkcs8',
  'RSA PRIVATE KEY': 'pkcs1',
  'EC PRIVATE KEY': 'sec1',
};

/**
 * A private key from PEM (first `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`
 * block; certificate blocks are skipped) or DER PKCS#8. Codes: `KEY_NOT_FOUND`,
 * `KEY_MALFORMED`, `PEM_MALFORMED`, `PEM_NOT_FOUND`.
 */
export function parsePrivateKey(input: Uint8Array | string): KeyObject {
  const isDer = typeof input !== 'string' && input.length > 0 && input[0] === 0x30;
  if (isDer) return loadDerKey(asBuffer(input));
  const blocks = decodePem(input);
  for (const b of blocks) {
    if (b.type === 'ENCRYPTED PRIVATE KEY') {
      throw new SpiffeError(
        'KEY_MALFORMED',
        'input',
        `PEM block ${b.index + 1} (line ${b.line}): encrypted keys are not supported`,
      );
    }
    const type = KEY_BLOCKS[b.type];
    if (type !== undefined)
      return loadKey(asBuffer(b.der), type, `PEM block ${b.index + 1} (line ${b.line})`);
  }
  throw new SpiffeError('KEY_NOT_FOUND', 'input', 'no private key block (PRIVATE KEY) found');
}

/**
 * DER: PKCS#8 (the Workload API format), or PKCS#1 RSA / SEC1 EC told apart by the
 * element after the version (AlgorithmIdentifier, INTEGER modulus, OCTET STRING key).
 */
function loadDerKey(der: Buffer): KeyObject {
  let type: 'pkcs8' | 'pkcs1' | 'sec1' = 'pkcs8';
  try {
    const r = DerReader.of(der, readTlv(der, 0));
    r.expect(TAG.INTEGER, 'version');
    const next = r.peekTag();
    if (next === TAG.INTEGER) type = 'pkcs1';
    else if (next === TAG.OCTET_STRING) type = 'sec1';
  } catch {
    // not even DER: let the PKCS#8 parser report it
  }
  return loadKey(der, type, 'DER');
}

function loadKey(der: Buffer, type: 'pkcs8' | 'pkcs1' | 'sec1', where: string): KeyObject {
  try {
    return createPrivateKey({ key: der, format: 'der', type });
  } catch (err) {
    throw new SpiffeError(
      'KEY_MALFORMED',
      'input',
      `${where}: private key cannot be parsed (${(err as Error).message})`,
      {
        cause: err,
      },
    );
  }
}

/**
 * True when `privateKey` is the private half of the certificate's public key.
 * Compared as canonical SPKI bytes: `KeyObject.equals` across key types leaves an
 * error on OpenSSL's queue that makes the next unrelated key parse fail.
 */
export function keyMatchesCertificate(privateKey: KeyObject, cert: Certificate): boolean {
  try {
    const pub = createPublicKey(privateKey);
    if (pub.asymmetricKeyType !== cert.publicKey.asymmetricKeyType) return false;
    const a = pub.export({ format: 'der', type: 'spki' });
    const b = cert.publicKey.export({ format: 'der', type: 'spki' });
    return a.equals(b);
  } catch {
    return false;
  }
}

/**
 * go-spiffe `x509svid.Parse` / `ParseRaw`: certificates (PEM or concatenated DER,
 * leaf first) and a private key (PEM or DER PKCS#8). Cert and key may sit in the
 * same blob, in any order. The key must match the leaf (`SVID_KEY_MISMATCH`).
 */
export function parseX509Svid(certBytes: Uint8Array | string, keyBytes: Uint8Array | string): X509Svid {
  const certificates = parseCertificates(certBytes);
  if (certificates.length === 0) {
    throw new SpiffeError('SVID_NO_CERTIFICATES', 'input', 'no certificates found', { rule: 21 });
  }
  const id = validateSvidCertificates(certificates);
  const privateKey = parsePrivateKey(keyBytes);
  if (!keyMatchesCertificate(privateKey, certificates[0]!)) {
    throw new SpiffeError('SVID_KEY_MISMATCH', 'verdict', 'leaf certificate does not match private key', {
      details: { fingerprint: certificates[0]!.fingerprint },
    });
  }
  return { id, certificates, privateKey };
}
