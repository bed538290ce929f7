import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { SpiffeError } from '../errors.js';
import {
  bytesEqual,
  DerError,
  DerReader,
  decodeAscii,
  decodeBitString,
  decodeBoolean,
  decodeSmallInt,
  decodeString,
  decodeTime,
  oidOf,
  readTlv,
  TAG,
  type Tlv,
  toHex,
} from '../internal/der.js';
import { decodePem, type PemBlock } from '../pem/pem.js';
import { isSelfSignedBySignature } from './signature.js';

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
  /** RSASSA-PSS parameters (RFC 4055), present only for `rsassa-pss`. */
  pss?: { hash: string; mgf1Hash: string; saltLength: number };
  /** DER of the parameters field, when present. */
  parameters?: Uint8Array;
}

/** Subtrees of a name-constraints extension, by GeneralName kind. */
export interface NameSubtrees {
  dnsNames: readonly string[];
  uris: readonly string[];
  emails: readonly string[];
  /** CIDR text, e.g. `10.0.0.0/8`, `fd00::/8`. */
  ips: readonly string[];
  /** Count of subtrees of a kind this parser does not enforce (directoryName, otherName, ...). */
  unsupported: number;
}

export interface NameConstraints {
  permitted: NameSubtrees;
  excluded: NameSubtrees;
  critical: boolean;
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
    | {
        uris: readonly string[];
        dnsNames: readonly string[];
        ips: readonly string[];
        emails: readonly string[];
        critical: boolean;
      }
    | undefined;
  /** Lowercase hex. */
  readonly subjectKeyId: string | undefined;
  readonly authorityKeyId: string | undefined;
  /** OIDs of critical extensions this parser does not understand (RFC 5280 says reject). */
  readonly unhandledCriticalExtensions: readonly string[];
  /** True when the cert's signature verifies under its own key (N12: never decided by names). */
  isSelfSigned(): boolean;

  // Additions beyond the agreed shape.
  /** Name constraints (R28), when the extension is present. */
  readonly nameConstraints: NameConstraints | undefined;
  /** True when the subject Name is an empty SEQUENCE (R24). */
  readonly subjectEmpty: boolean;
  /** OIDs of every extension present, in order. */
  readonly extensionOids: readonly string[];
}

export const OID = {
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyId: '2.5.29.14',
  authorityKeyId: '2.5.29.35',
  nameConstraints: '2.5.29.30',
  certificatePolicies: '2.5.29.32',
  crlDistributionPoints: '2.5.29.31',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  anyExtendedKeyUsage: '2.5.29.37.0',
} as const;

/** Critical extensions that need no processing for path validation (informational). */
const BENIGN_CRITICAL = new Set<string>([
  OID.subjectKeyId,
  OID.authorityKeyId,
  OID.certificatePolicies,
  OID.crlDistributionPoints,
  OID.authorityInfoAccess,
]);

const SIG_NAMES: Record<string, string> = {
  '1.2.840.10045.4.3.2': 'ecdsa-with-SHA256',
  '1.2.840.10045.4.3.3': 'ecdsa-with-SHA384',
  '1.2.840.10045.4.3.4': 'ecdsa-with-SHA512',
  '1.2.840.10045.4.1': 'ecdsa-with-SHA1',
  '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption',
  '1.2.840.113549.1.1.12': 'sha384WithRSAEncryption',
  '1.2.840.113549.1.1.13': 'sha512WithRSAEncryption',
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.113549.1.1.4': 'md5WithRSAEncryption',
  '1.2.840.113549.1.1.10': 'rsassa-pss',
  '1.3.101.112': 'ed25519',
  '1.3.101.113': 'ed448',
};

const HASH_OIDS: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
  '2.16.840.1.101.3.4.2.4': 'sha224',
};
const MGF1 = '1.2.840.113549.1.1.8';

const CURVES: Record<string, string> = {
  '1.2.840.10045.3.1.7': 'P-256',
  '1.3.132.0.34': 'P-384',
  '1.3.132.0.35': 'P-521',
  '1.3.132.0.10': 'secp256k1',
};

const KEY_USAGE_BITS: KeyUsageFlag[] = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
];

const ATTR_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'STREET',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.42': 'GN',
  '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.1': 'UID',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

type San = NonNullable<Certificate['subjectAltName']>;

function fail(message: string, details?: Record<string, unknown>, cause?: unknown): SpiffeError {
  return new SpiffeError('CERT_MALFORMED', 'input', `certificate is malformed: ${message}`, {
    ...(details === undefined ? {} : { details }),
    ...(cause === undefined ? {} : { cause }),
  });
}

class ParsedCertificate implements Certificate {
  version = 1;
  serialNumber = '';
  tbs!: Uint8Array;
  signatureAlgorithm!: SignatureAlgorithm;
  signature!: Uint8Array;
  issuerDer!: Uint8Array;
  subjectDer!: Uint8Array;
  notBefore!: Date;
  notAfter!: Date;
  spki!: Uint8Array;
  keyAlgorithm = '';
  basicConstraints: Certificate['basicConstraints'] = undefined;
  keyUsage: Certificate['keyUsage'] = undefined;
  extKeyUsage: Certificate['extKeyUsage'] = undefined;
  subjectAltName: Certificate['subjectAltName'] = undefined;
  subjectKeyId: string | undefined = undefined;
  authorityKeyId: string | undefined = undefined;
  nameConstraints: NameConstraints | undefined = undefined;
  unhandledCriticalExtensions: string[] = [];
  extensionOids: string[] = [];
  subjectEmpty = false;

  private issuerText: string | undefined;
  private subjectText: string | undefined;
  private key: KeyObject | undefined;
  private selfSigned: boolean | undefined;

  constructor(
    readonly der: Uint8Array,
    readonly fingerprint: string,
  ) {}

  get issuer(): string {
    this.issuerText ??= nameToString(this.issuerDer);
    return this.issuerText;
  }

  get subject(): string {
    this.subjectText ??= nameToString(this.subjectDer);
    return this.subjectText;
  }

  get publicKey(): KeyObject {
    if (this.key === undefined) {
      try {
        this.key = createPublicKey({ key: asBuffer(this.spki), format: 'der', type: 'spki' });
      } catch (err) {
        throw fail(
          `public key (${this.keyAlgorithm}) cannot be loaded`,
          { fingerprint: this.fingerprint },
          err,
        );
      }
    }
    return this.key;
  }

  isSelfSigned(): boolean {
    this.selfSigned ??= isSelfSignedBySignature(this);
    return this.selfSigned;
  }

  toString(): string {
    return `Certificate(${this.subject || '<empty subject>'}, sha256=${this.fingerprint.slice(0, 16)}…)`;
  }
}

export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

// ---------------------------------------------------------------------------
// Parse cache: a bounded LRU keyed by the SHA-256 of the DER.

export const DEFAULT_PARSE_CACHE_SIZE = 4096;
const parseCache = new Map<string, Certificate>();
let parseCacheLimit = DEFAULT_PARSE_CACHE_SIZE;

/** Sets the parse cache bound (0 disables it) and drops what no longer fits. */
export function configureParseCache(maxEntries: number): void {
  parseCacheLimit = Math.max(0, Math.floor(maxEntries));
  while (parseCache.size > parseCacheLimit) parseCache.delete(parseCache.keys().next().value!);
}

export function clearParseCache(): void {
  parseCache.clear();
}

export function parseCacheSize(): number {
  return parseCache.size;
}

export interface ParseOptions {
  /** Use the shared parse cache (default true). */
  cache?: boolean;
}

/**
 * Parses exactly one DER certificate. Trailing bytes after it are an error.
 * Malformed input raises SpiffeError `CERT_MALFORMED` (category 'input').
 */
export function parseCertificate(der: Uint8Array, opts: ParseOptions = {}): Certificate {
  if (!(der instanceof Uint8Array)) throw fail('expected DER bytes');
  if (der.length === 0) throw fail('empty input');
  let outer: Tlv;
  try {
    outer = readTlv(der, 0);
  } catch (err) {
    throw fail((err as Error).message, undefined, err);
  }
  if (outer.end !== der.length) {
    throw fail(`${der.length - outer.end} trailing byte(s) after the certificate`, { offset: outer.end });
  }
  const fingerprint = sha256Hex(der);
  const useCache = opts.cache !== false && parseCacheLimit > 0;
  if (useCache) {
    const hit = parseCache.get(fingerprint);
    if (hit !== undefined) {
      parseCache.delete(fingerprint);
      parseCache.set(fingerprint, hit);
      return hit;
    }
  }
  // One copy, so later mutation of the caller's buffer cannot change a cached certificate.
  const own = der.slice();
  const cert = new ParsedCertificate(own, fingerprint);
  try {
    parseInto(cert, own);
  } catch (err) {
    if (err instanceof SpiffeError) throw err;
    if (err instanceof DerError) throw fail(err.message, { offset: err.offset }, err);
    throw fail(String((err as Error)?.message ?? err), undefined, err);
  }
  if (useCache) {
    parseCache.set(fingerprint, cert);
    if (parseCache.size > parseCacheLimit) parseCache.delete(parseCache.keys().next().value!);
  }
  return cert;
}

export interface ParseCertificatesOptions extends ParseOptions {
  /** Raise `PEM_UNEXPECTED_BLOCK` for PEM blocks other than CERTIFICATE (default: ignore them). */
  rejectOtherBlocks?: boolean;
}

/**
 * Parses one or many certificates: PEM (any number of CERTIFICATE blocks; other block
 * types are skipped unless `rejectOtherBlocks`) or concatenated DER. Empty (or
 * whitespace-only) input yields `[]`. Errors name the block and line (PEM) or the
 * certificate index and byte offset (DER).
 */
export function parseCertificates(
  input: Uint8Array | string,
  opts: ParseCertificatesOptions = {},
): Certificate[] {
  if (typeof input === 'string') {
    if (input.trim() === '') return [];
    return parsePemCertificates(decodePem(input), opts);
  }
  let start = 0;
  while (start < input.length && isSpace(input[start]!)) start++;
  if (start === input.length) return [];
  if (input[start] === TAG.SEQUENCE) return parseDerCertificates(input, opts);
  return parsePemCertificates(decodePem(input), opts);
}

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

function parsePemCertificates(blocks: PemBlock[], opts: ParseCertificatesOptions): Certificate[] {
  const out: Certificate[] = [];
  for (const block of blocks) {
    if (block.type !== 'CERTIFICATE') {
      if (opts.rejectOtherBlocks) {
        throw new SpiffeError(
          'PEM_UNEXPECTED_BLOCK',
          'input',
          `PEM block ${block.index + 1} (line ${block.line}) is "${block.type}", expected CERTIFICATE`,
          { details: { block: block.index + 1, line: block.line, type: block.type } },
        );
      }
      continue;
    }
    try {
      out.push(parseCertificate(block.der, opts));
    } catch (err) {
      if (err instanceof SpiffeError && err.code === 'CERT_MALFORMED') {
        throw new SpiffeError(
          'CERT_MALFORMED',
          'input',
          `PEM block ${block.index + 1} (line ${block.line}): ${err.message}`,
          { details: { ...err.details, block: block.index + 1, line: block.line }, cause: err },
        );
      }
      throw err;
    }
  }
  return out;
}

function parseDerCertificates(der: Uint8Array, opts: ParseOptions): Certificate[] {
  const out: Certificate[] = [];
  let pos = 0;
  while (pos < der.length) {
    let tlv: Tlv;
    try {
      tlv = readTlv(der, pos);
      if (tlv.tag !== TAG.SEQUENCE) throw new DerError('expected a certificate SEQUENCE', pos);
    } catch (err) {
      throw fail(`DER certificate ${out.length + 1} at byte ${pos}: ${(err as Error).message}`, {
        index: out.length,
        offset: pos,
      });
    }
    try {
      out.push(parseCertificate(der.subarray(pos, tlv.end), opts));
    } catch (err) {
      if (err instanceof SpiffeError) {
        throw new SpiffeError(
          'CERT_MALFORMED',
          'input',
          `DER certificate ${out.length + 1} at byte ${pos}: ${err.message}`,
          {
            details: { ...err.details, index: out.length, offset: pos },
            cause: err,
          },
        );
      }
      throw err;
    }
    pos = tlv.end;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Structure

function parseInto(c: ParsedCertificate, der: Uint8Array): void {
  const top = new DerReader(der);
  const certSeq = top.expect(TAG.SEQUENCE, 'Certificate');
  top.end('input');
  const cr = DerReader.of(der, certSeq);
  const tbsTlv = cr.expect(TAG.SEQUENCE, 'tbsCertificate');
  const outerAlg = cr.expect(TAG.SEQUENCE, 'signatureAlgorithm');
  const sigTlv = cr.expect(TAG.BIT_STRING, 'signatureValue');
  cr.end('Certificate');

  c.tbs = der.subarray(tbsTlv.start, tbsTlv.end);
  c.signatureAlgorithm = parseSignatureAlgorithm(der, outerAlg);
  const sig = decodeBitString(der, sigTlv);
  if (sig.unusedBits !== 0) throw new DerError('signature BIT STRING has unused bits', sigTlv.start);
  c.signature = sig.bytes;

  const t = DerReader.of(der, tbsTlv);
  const ver = t.optional(0xa0);
  if (ver !== undefined) {
    const vr = DerReader.of(der, ver);
    const v = decodeSmallInt(der, vr.expect(TAG.INTEGER, 'version'));
    vr.end('version');
    if (v > 2) throw new DerError(`unknown certificate version ${v + 1}`, ver.start);
    c.version = v + 1;
  }
  const serial = t.expect(TAG.INTEGER, 'serialNumber');
  if (serial.end === serial.valueStart) throw new DerError('empty serialNumber', serial.start);
  let s0 = serial.valueStart;
  if (der[s0] === 0 && s0 + 1 < serial.end) s0++;
  c.serialNumber = toHex(der, s0, serial.end);

  const innerAlg = t.expect(TAG.SEQUENCE, 'tbsCertificate.signature');
  if (!bytesEqual(der.subarray(innerAlg.start, innerAlg.end), der.subarray(outerAlg.start, outerAlg.end))) {
    throw new DerError('inner and outer signature algorithms differ', innerAlg.start);
  }
  const issuer = t.expect(TAG.SEQUENCE, 'issuer');
  c.issuerDer = der.subarray(issuer.start, issuer.end);
  checkName(der, issuer);

  const validity = t.expect(TAG.SEQUENCE, 'validity');
  const vr = DerReader.of(der, validity);
  c.notBefore = decodeTime(der, vr.next());
  c.notAfter = decodeTime(der, vr.next());
  vr.end('validity');

  const subject = t.expect(TAG.SEQUENCE, 'subject');
  c.subjectDer = der.subarray(subject.start, subject.end);
  c.subjectEmpty = subject.end === subject.valueStart;
  checkName(der, subject);

  const spki = t.expect(TAG.SEQUENCE, 'subjectPublicKeyInfo');
  c.spki = der.subarray(spki.start, spki.end);
  c.keyAlgorithm = keyAlgorithmLabel(der, spki);

  if (t.optional(0x81) !== undefined && c.version < 2)
    throw new DerError('issuerUniqueID in a v1 certificate', 0);
  if (t.optional(0x82) !== undefined && c.version < 2)
    throw new DerError('subjectUniqueID in a v1 certificate', 0);
  const exts = t.optional(0xa3);
  if (exts !== undefined) {
    if (c.version !== 3) throw new DerError('extensions in a non-v3 certificate', exts.start);
    const er = DerReader.of(der, exts);
    const list = er.expect(TAG.SEQUENCE, 'extensions');
    er.end('extensions');
    parseExtensions(c, der, list);
  }
  t.end('tbsCertificate');
}

function parseSignatureAlgorithm(der: Uint8Array, alg: Tlv): SignatureAlgorithm {
  const r = DerReader.of(der, alg);
  const oid = oidOf(der, r.expect(TAG.OID, 'algorithm OID'));
  let parameters: Uint8Array | undefined;
  let paramsTlv: Tlv | undefined;
  if (r.hasMore()) {
    paramsTlv = r.next();
    parameters = der.subarray(paramsTlv.start, paramsTlv.end);
  }
  r.end('AlgorithmIdentifier');
  const name = SIG_NAMES[oid] ?? oid;
  const out: SignatureAlgorithm = { oid, name };
  if (parameters !== undefined) out.parameters = parameters;
  if (name === 'rsassa-pss') out.pss = parsePssParams(der, paramsTlv);
  return out;
}

/** RSASSA-PSS-params (RFC 4055 §3.1), with its SHA-1 defaults. */
function parsePssParams(
  der: Uint8Array,
  params: Tlv | undefined,
): { hash: string; mgf1Hash: string; saltLength: number } {
  let hash = 'sha1';
  let mgf1Hash = 'sha1';
  let saltLength = 20;
  if (params === undefined || params.tag === TAG.NULL) return { hash, mgf1Hash, saltLength };
  if (params.tag !== TAG.SEQUENCE)
    throw new DerError('RSASSA-PSS parameters must be a SEQUENCE', params.start);
  const r = DerReader.of(der, params);
  const h = r.optional(0xa0);
  if (h !== undefined) hash = hashOf(der, DerReader.of(der, h).expect(TAG.SEQUENCE, 'hashAlgorithm'));
  const m = r.optional(0xa1);
  if (m !== undefined) {
    const mr = DerReader.of(der, DerReader.of(der, m).expect(TAG.SEQUENCE, 'maskGenAlgorithm'));
    const mgfOid = oidOf(der, mr.expect(TAG.OID, 'maskGenAlgorithm OID'));
    if (mgfOid !== MGF1) throw new DerError(`unsupported PSS mask generation ${mgfOid}`, m.start);
    mgf1Hash = hashOf(der, mr.expect(TAG.SEQUENCE, 'MGF1 hash'));
  }
  const s = r.optional(0xa2);
  if (s !== undefined)
    saltLength = decodeSmallInt(der, DerReader.of(der, s).expect(TAG.INTEGER, 'saltLength'));
  const tf = r.optional(0xa3);
  if (tf !== undefined) {
    const v = decodeSmallInt(der, DerReader.of(der, tf).expect(TAG.INTEGER, 'trailerField'));
    if (v !== 1) throw new DerError('PSS trailerField must be 1', tf.start);
  }
  r.end('RSASSA-PSS-params');
  return { hash, mgf1Hash, saltLength };
}

function hashOf(der: Uint8Array, alg: Tlv): string {
  const r = DerReader.of(der, alg);
  const oid = oidOf(der, r.expect(TAG.OID, 'hash OID'));
  return HASH_OIDS[oid] ?? oid;
}

/** Structural check of a Name (SEQUENCE OF SET OF SEQUENCE {OID, value}). */
function checkName(der: Uint8Array, name: Tlv): void {
  const r = DerReader.of(der, name);
  while (r.hasMore()) {
    const rdn = r.expect(TAG.SET, 'RelativeDistinguishedName');
    const rr = DerReader.of(der, rdn);
    if (!rr.hasMore()) throw new DerError('empty RelativeDistinguishedName', rdn.start);
    while (rr.hasMore()) {
      const atv = DerReader.of(der, rr.expect(TAG.SEQUENCE, 'AttributeTypeAndValue'));
      atv.expect(TAG.OID, 'attribute type');
      atv.next();
      atv.end('AttributeTypeAndValue');
    }
  }
}

function keyAlgorithmLabel(der: Uint8Array, spki: Tlv): string {
  const r = DerReader.of(der, spki);
  const alg = DerReader.of(der, r.expect(TAG.SEQUENCE, 'SPKI algorithm'));
  const key = r.expect(TAG.BIT_STRING, 'subjectPublicKey');
  r.end('SubjectPublicKeyInfo');
  const oid = oidOf(der, alg.expect(TAG.OID, 'key algorithm OID'));
  switch (oid) {
    case '1.2.840.10045.2.1': {
      const p = alg.hasMore() ? alg.next() : undefined;
      if (p === undefined || p.tag !== TAG.OID) return 'EC';
      const curve = oidOf(der, p);
      return `EC ${CURVES[curve] ?? curve}`;
    }
    case '1.2.840.113549.1.1.1':
      return `RSA ${rsaBits(der, key)}`;
    case '1.2.840.113549.1.1.10':
      return `RSA-PSS ${rsaBits(der, key)}`;
    case '1.3.101.112':
      return 'Ed25519';
    case '1.3.101.113':
      return 'Ed448';
    default:
      return oid;
  }
}

function rsaBits(der: Uint8Array, key: Tlv): number {
  const bits = decodeBitString(der, key);
  const inner = bits.bytes;
  const seq = readTlv(inner, 0);
  const mod = readTlv(inner, seq.valueStart, seq.end);
  let s = mod.valueStart;
  while (s < mod.end && inner[s] === 0) s++;
  if (s === mod.end) return 0;
  const first = inner[s]!;
  return (mod.end - s - 1) * 8 + (32 - Math.clz32(first));
}

// ---------------------------------------------------------------------------
// Extensions

function parseExtensions(c: ParsedCertificate, der: Uint8Array, list: Tlv): void {
  const r = DerReader.of(der, list);
  const seen = new Set<string>();
  while (r.hasMore()) {
    const er = DerReader.of(der, r.expect(TAG.SEQUENCE, 'Extension'));
    const oid = oidOf(der, er.expect(TAG.OID, 'extnID'));
    let critical = false;
    const crit = er.optional(TAG.BOOLEAN);
    if (crit !== undefined) critical = decodeBoolean(der, crit);
    const val = er.expect(TAG.OCTET_STRING, 'extnValue');
    er.end('Extension');
    if (seen.has(oid)) throw new DerError(`duplicate extension ${oid}`, val.start);
    seen.add(oid);
    c.extensionOids.push(oid);
    const inner = readTlv(der, val.valueStart, val.end);
    if (inner.end !== val.end) throw new DerError(`trailing data in extension ${oid}`, inner.end);
    switch (oid) {
      case OID.basicConstraints:
        c.basicConstraints = parseBasicConstraints(der, inner, critical);
        break;
      case OID.keyUsage:
        c.keyUsage = parseKeyUsage(der, inner, critical);
        break;
      case OID.extKeyUsage:
        c.extKeyUsage = parseExtKeyUsage(der, inner, critical);
        break;
      case OID.subjectAltName:
        c.subjectAltName = parseSan(der, inner, critical);
        break;
      case OID.subjectKeyId:
        if (inner.tag !== TAG.OCTET_STRING)
          throw new DerError('subjectKeyIdentifier must be an OCTET STRING', inner.start);
        c.subjectKeyId = toHex(der, inner.valueStart, inner.end);
        break;
      case OID.authorityKeyId:
        c.authorityKeyId = parseAki(der, inner);
        break;
      case OID.nameConstraints:
        c.nameConstraints = parseNameConstraints(der, inner, critical);
        if (
          critical &&
          (c.nameConstraints.permitted.unsupported > 0 || c.nameConstraints.excluded.unsupported > 0)
        ) {
          c.unhandledCriticalExtensions.push(oid);
        }
        break;
      default:
        if (critical && !BENIGN_CRITICAL.has(oid)) c.unhandledCriticalExtensions.push(oid);
    }
  }
}

function parseBasicConstraints(
  der: Uint8Array,
  seq: Tlv,
  critical: boolean,
): Certificate['basicConstraints'] {
  if (seq.tag !== TAG.SEQUENCE) throw new DerError('basicConstraints must be a SEQUENCE', seq.start);
  const r = DerReader.of(der, seq);
  const caTlv = r.optional(TAG.BOOLEAN);
  const ca = caTlv === undefined ? false : decodeBoolean(der, caTlv);
  const pl = r.optional(TAG.INTEGER);
  r.end('basicConstraints');
  if (pl === undefined) return { ca, critical };
  return { ca, pathLen: decodeSmallInt(der, pl), critical };
}

function parseKeyUsage(der: Uint8Array, bs: Tlv, critical: boolean): Certificate['keyUsage'] {
  if (bs.tag !== TAG.BIT_STRING) throw new DerError('keyUsage must be a BIT STRING', bs.start);
  const { bytes } = decodeBitString(der, bs);
  const flags = new Set<KeyUsageFlag>();
  for (let i = 0; i < KEY_USAGE_BITS.length; i++) {
    const byte = bytes[i >> 3];
    if (byte !== undefined && byte & (0x80 >> (i & 7))) flags.add(KEY_USAGE_BITS[i]!);
  }
  return { flags, critical };
}

function parseExtKeyUsage(der: Uint8Array, seq: Tlv, critical: boolean): Certificate['extKeyUsage'] {
  if (seq.tag !== TAG.SEQUENCE) throw new DerError('extKeyUsage must be a SEQUENCE', seq.start);
  const r = DerReader.of(der, seq);
  const oids: string[] = [];
  while (r.hasMore()) oids.push(oidOf(der, r.expect(TAG.OID, 'KeyPurposeId')));
  return { oids, critical };
}

function parseSan(der: Uint8Array, seq: Tlv, critical: boolean): San {
  if (seq.tag !== TAG.SEQUENCE) throw new DerError('subjectAltName must be a SEQUENCE', seq.start);
  const r = DerReader.of(der, seq);
  const uris: string[] = [];
  const dnsNames: string[] = [];
  const ips: string[] = [];
  const emails: string[] = [];
  while (r.hasMore()) {
    const gn = r.next();
    switch (gn.tag) {
      case 0x81:
        emails.push(decodeAscii(der, gn.valueStart, gn.end));
        break;
      case 0x82:
        dnsNames.push(decodeAscii(der, gn.valueStart, gn.end));
        break;
      case 0x86:
        uris.push(decodeAscii(der, gn.valueStart, gn.end));
        break;
      case 0x87:
        ips.push(formatIp(der.subarray(gn.valueStart, gn.end), gn));
        break;
      default:
        break; // otherName, directoryName, registeredID, ...: permitted, not interpreted (R22)
    }
  }
  return { uris, dnsNames, ips, emails, critical };
}

function formatIp(b: Uint8Array, tlv: Tlv): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length === 16) return formatIpv6(b);
  throw new DerError('iPAddress must be 4 or 16 bytes', tlv.start);
}

function formatIpv6(b: Uint8Array): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((b[i]! << 8) | b[i + 1]!);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

function parseAki(der: Uint8Array, seq: Tlv): string | undefined {
  if (seq.tag !== TAG.SEQUENCE) throw new DerError('authorityKeyIdentifier must be a SEQUENCE', seq.start);
  const r = DerReader.of(der, seq);
  const kid = r.optional(0x80);
  return kid === undefined ? undefined : toHex(der, kid.valueStart, kid.end);
}

function parseNameConstraints(der: Uint8Array, seq: Tlv, critical: boolean): NameConstraints {
  if (seq.tag !== TAG.SEQUENCE) throw new DerError('nameConstraints must be a SEQUENCE', seq.start);
  const r = DerReader.of(der, seq);
  const p = r.optional(0xa0);
  const e = r.optional(0xa1);
  r.end('nameConstraints');
  return { permitted: parseSubtrees(der, p), excluded: parseSubtrees(der, e), critical };
}

function parseSubtrees(der: Uint8Array, tlv: Tlv | undefined): NameSubtrees {
  const out = {
    dnsNames: [] as string[],
    uris: [] as string[],
    emails: [] as string[],
    ips: [] as string[],
    unsupported: 0,
  };
  if (tlv === undefined) return out;
  const r = DerReader.of(der, tlv);
  while (r.hasMore()) {
    const st = DerReader.of(der, r.expect(TAG.SEQUENCE, 'GeneralSubtree'));
    const base = st.next();
    if (st.hasMore()) {
      out.unsupported++; // minimum/maximum other than the defaults
      continue;
    }
    switch (base.tag) {
      case 0x81:
        out.emails.push(decodeAscii(der, base.valueStart, base.end));
        break;
      case 0x82:
        out.dnsNames.push(decodeAscii(der, base.valueStart, base.end));
        break;
      case 0x86:
        out.uris.push(decodeAscii(der, base.valueStart, base.end));
        break;
      case 0x87: {
        const b = der.subarray(base.valueStart, base.end);
        if (b.length !== 8 && b.length !== 32)
          throw new DerError('iPAddress constraint must be 8 or 32 bytes', base.start);
        const half = b.length / 2;
        const addr = b.subarray(0, half);
        const mask = b.subarray(half);
        let bits = 0;
        for (const m of mask) bits += popcount(m);
        out.ips.push(`${formatIp(addr, base)}/${bits}`);
        break;
      }
      default:
        out.unsupported++;
    }
  }
  return out;
}

function popcount(n: number): number {
  let c = 0;
  for (let v = n; v; v &= v - 1) c++;
  return c;
}

// ---------------------------------------------------------------------------
// RFC 4514 text

/** RFC 4514 string of a DER Name (last RDN first, `+` inside an RDN). */
export function nameToString(nameDer: Uint8Array): string {
  const outer = readTlv(nameDer, 0);
  const r = DerReader.of(nameDer, outer);
  const rdns: string[] = [];
  while (r.hasMore()) {
    const rr = DerReader.of(nameDer, r.next());
    const parts: string[] = [];
    while (rr.hasMore()) {
      const atv = DerReader.of(nameDer, rr.next());
      const oid = oidOf(nameDer, atv.next());
      const v = atv.next();
      const short = ATTR_NAMES[oid];
      if (short === undefined || !isStringTag(v.tag)) {
        parts.push(`${short ?? oid}=#${toHex(nameDer, v.start, v.end)}`);
      } else {
        parts.push(`${short}=${escapeRdnValue(decodeString(nameDer, v))}`);
      }
    }
    rdns.push(parts.join('+'));
  }
  return rdns.reverse().join(',');
}

function isStringTag(tag: number): boolean {
  return (
    tag === TAG.UTF8_STRING ||
    tag === TAG.PRINTABLE_STRING ||
    tag === TAG.IA5_STRING ||
    tag === TAG.T61_STRING ||
    tag === TAG.BMP_STRING ||
    tag === TAG.UNIVERSAL_STRING ||
    tag === TAG.VISIBLE_STRING
  );
}

function escapeRdnValue(v: string): string {
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const ch = v[i]!;
    if (ch === '\0') out += '\\00';
    else if ('"+,;<>\\'.includes(ch)) out += `\\${ch}`;
    else if ((i === 0 && (ch === '#' || ch === ' ')) || (i === v.length - 1 && ch === ' ')) out += `\\${ch}`;
    else out += ch;
  }
  return out;
}
