import { createHash, createPublicKey, type KeyObject, randomBytes, sign } from 'node:crypto';
import {
  bitString,
  bool,
  concat,
  type Der,
  explicit,
  ia5,
  integer,
  nul,
  octets,
  oid,
  printable,
  seq,
  set,
  time,
  tlv,
  utf8,
} from './der-writer.js';

export type KeyUsageName =
  | 'digitalSignature'
  | 'nonRepudiation'
  | 'keyEncipherment'
  | 'dataEncipherment'
  | 'keyAgreement'
  | 'keyCertSign'
  | 'cRLSign';

const KU_BITS: Record<KeyUsageName, number> = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
};

export const EKU = { serverAuth: '1.3.6.1.5.5.7.3.1', clientAuth: '1.3.6.1.5.5.7.3.2' } as const;

const NAME_OIDS: Record<string, string> = {
  CN: '2.5.4.3',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  C: '2.5.4.6',
  L: '2.5.4.7',
  ST: '2.5.4.8',
  serialNumber: '2.5.4.5',
};

/** What to put in a certificate. Anything left out is left out (so tests can build broken ones). */
export interface CertificateTemplate {
  /** `O=Istio,CN=Root CA` style; `''` is an empty subject. */
  subject: string;
  publicKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  serial?: bigint;
  ca?: boolean;
  pathLen?: number;
  /** Omit for no basicConstraints extension at all. */
  basicConstraints?: boolean;
  keyUsage?: KeyUsageName[];
  keyUsageCritical?: boolean;
  extKeyUsage?: string[];
  uris?: string[];
  dnsNames?: string[];
  sanCritical?: boolean;
  /** Default true: subject and authority key identifiers. */
  keyIdentifiers?: boolean;
  /** With key identifiers on: set false to leave out the subject key identifier only (Linkerd leaves). */
  subjectKeyIdentifier?: boolean;
  /** 1: an X.509 v1 certificate (no version field, no extensions at all). Default 3. */
  version?: 1 | 3;
}

export interface Issuer {
  subject: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export interface IssuedCertificate {
  der: Buffer;
  pem: string;
  fingerprint: string;
}

export function keyIdentifier(publicKey: KeyObject): Buffer {
  // RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents.
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return createHash('sha1').update(spkiBitString(spki)).digest();
}

/** Issues a certificate; `issuer` omitted means self-signed with `selfKey`. */
export function issueCertificate(t: CertificateTemplate, issuer: Issuer): IssuedCertificate {
  const algorithm = signatureAlgorithm(issuer.privateKey);
  const extensions: Der[] = [];
  if (t.basicConstraints ?? true) {
    const ca = t.ca ?? false;
    const body = ca
      ? seq(bool(true), ...(t.pathLen === undefined ? [] : [integer(BigInt(t.pathLen))]))
      : seq();
    extensions.push(extension('2.5.29.19', true, body));
  }
  if (t.keyUsage)
    extensions.push(extension('2.5.29.15', t.keyUsageCritical ?? true, keyUsageBits(t.keyUsage)));
  if (t.extKeyUsage) extensions.push(extension('2.5.29.37', false, seq(...t.extKeyUsage.map(oid))));
  const names = [...(t.dnsNames ?? []).map((d) => ia5(0x82, d)), ...(t.uris ?? []).map((u) => ia5(0x86, u))];
  if (names.length > 0) {
    extensions.push(extension('2.5.29.17', t.sanCritical ?? t.subject === '', seq(...names)));
  }
  if (t.keyIdentifiers ?? true) {
    if (t.subjectKeyIdentifier ?? true)
      extensions.push(extension('2.5.29.14', false, octets(keyIdentifier(t.publicKey))));
    extensions.push(extension('2.5.29.35', false, seq(tlv(0x80, keyIdentifier(issuer.publicKey)))));
  }
  const v1 = t.version === 1;
  const tbs = seq(
    ...(v1 ? [] : [explicit(0, integer(2n))]),
    integer(t.serial ?? BigInt(`0x${randomBytes(16).toString('hex')}`) >> 1n),
    algorithm.identifier,
    encodeName(issuer.subject),
    seq(time(t.notBefore), time(t.notAfter)),
    encodeName(t.subject),
    t.publicKey.export({ format: 'der', type: 'spki' }),
    ...(extensions.length > 0 && !v1 ? [explicit(3, seq(...extensions))] : []),
  );
  const signature = sign(algorithm.hash, tbs, issuer.privateKey);
  const der = Buffer.from(seq(tbs, algorithm.identifier, bitString(signature)));
  return {
    der,
    pem: toPem('CERTIFICATE', der),
    fingerprint: createHash('sha256').update(der).digest('hex'),
  };
}

export function selfIssuer(subject: string, privateKey: KeyObject): Issuer {
  return { subject, privateKey, publicKey: createPublicKey(privateKey) };
}

export function toPem(type: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${type}-----\n${b64.replace(/.{1,64}/g, '$&\n')}-----END ${type}-----\n`;
}

function extension(id: string, critical: boolean, value: Der): Der {
  return seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
}

function keyUsageBits(usages: KeyUsageName[]): Der {
  let bits = 0;
  let highest = 0;
  for (const u of usages) {
    bits |= 0x80 >> KU_BITS[u];
    highest = Math.max(highest, KU_BITS[u]);
  }
  return bitString(new Uint8Array([bits]), 7 - highest);
}

function encodeName(name: string): Der {
  if (name === '') return seq();
  const rdns = name.split(/,(?=\s*[A-Za-z]+=)/).map((part) => {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    const attr = NAME_OIDS[key];
    if (!attr) throw new Error(`unsupported name attribute ${key}`);
    return set(seq(oid(attr), key === 'C' ? printable(value) : utf8(value)));
  });
  return seq(...rdns);
}

function signatureAlgorithm(key: KeyObject): { identifier: Der; hash: string | null } {
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'secp384r1') return { identifier: seq(oid('1.2.840.10045.4.3.3')), hash: 'sha384' };
      if (curve === 'secp521r1') return { identifier: seq(oid('1.2.840.10045.4.3.4')), hash: 'sha512' };
      return { identifier: seq(oid('1.2.840.10045.4.3.2')), hash: 'sha256' };
    }
    case 'rsa':
      return { identifier: seq(oid('1.2.840.113549.1.1.11'), nul()), hash: 'sha256' };
    case 'ed25519':
      return { identifier: seq(oid('1.3.101.112')), hash: null };
    default:
      throw new Error(`unsupported signing key type ${key.asymmetricKeyType}`);
  }
}

function spkiBitString(spki: Buffer): Buffer {
  // SEQUENCE { AlgorithmIdentifier, BIT STRING }: skip to the BIT STRING's content.
  let off = 1;
  off += spki[off]! & 0x80 ? 1 + (spki[off]! & 0x7f) : 1;
  const algLenByte = spki[off + 1]!;
  const algHeader = algLenByte & 0x80 ? 2 + (algLenByte & 0x7f) : 2;
  const algLen = algLenByte & 0x80 ? readLen(spki, off + 2, algLenByte & 0x7f) : algLenByte;
  off += algHeader + algLen;
  const bsLenByte = spki[off + 1]!;
  const bsHeader = bsLenByte & 0x80 ? 2 + (bsLenByte & 0x7f) : 2;
  return spki.subarray(off + bsHeader + 1);
}

function readLen(b: Buffer, at: number, n: number): number {
  let v = 0;
  for (let i = 0; i < n; i++) v = v * 256 + b[at + i]!;
  return v;
}

export { concat };
