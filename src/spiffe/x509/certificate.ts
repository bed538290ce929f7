import type { KeyObject } from 'node:crypto';

// CONTRACT (owned by the x509 helper; this header is the agreed shape).

export type KeyUsageFlag =
  | 'digitalSignature'
  | 'nonRepudiation'
  | 'keyEncipherment'
  | 'dataEncipherment'
  | 'keyAgreement'
  | 'keyCertSign'
  | 'cRLSign'
  | 'encipherOnly'
  | 'decipherOnly';

export interface SignatureAlgorithm {
  /** Dotted OID of the signatureAlgorithm field. */
  oid: string;
  /** e.g. `ecdsa-with-SHA256`, `sha256WithRSAEncryption`, `rsassa-pss`, `ed25519`. */
  name: string;
}

/** One certificate parsed once, keyed by the SHA-256 of its DER. */
export interface Certificate {
  readonly der: Uint8Array;
  /** Lowercase hex SHA-256 of `der`. */
  readonly fingerprint: string;
  readonly version: number;
  /** Lowercase hex, as encoded (may be 0, N13). */
  readonly serialNumber: string;
  readonly tbs: Uint8Array;
  readonly signatureAlgorithm: SignatureAlgorithm;
  readonly signature: Uint8Array;
  readonly issuerDer: Uint8Array;
  readonly subjectDer: Uint8Array;
  /** RFC 4514 string, computed lazily. */
  readonly issuer: string;
  readonly subject: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** DER SubjectPublicKeyInfo. */
  readonly spki: Uint8Array;
  /** `EC P-256`, `RSA 2048`, `Ed25519`, ... */
  readonly keyAlgorithm: string;
  /** Created on first use and cached. */
  readonly publicKey: KeyObject;
  readonly basicConstraints: { ca: boolean; pathLen?: number; critical: boolean } | undefined;
  readonly keyUsage: { flags: ReadonlySet<KeyUsageFlag>; critical: boolean } | undefined;
  readonly extKeyUsage: { oids: readonly string[]; critical: boolean } | undefined;
  readonly subjectAltName:
    | { uris: readonly string[]; dnsNames: readonly string[]; ips: readonly string[]; emails: readonly string[]; critical: boolean }
    | undefined;
  /** Lowercase hex. */
  readonly subjectKeyId: string | undefined;
  readonly authorityKeyId: string | undefined;
  /** OIDs of critical extensions this parser does not understand (RFC 5280 says reject). */
  readonly unhandledCriticalExtensions: readonly string[];
  /** True when the cert's signature verifies under its own key (N12: never decided by names). */
  isSelfSigned(): boolean;
}
