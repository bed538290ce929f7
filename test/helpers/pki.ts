/**
 * A small test PKI on @peculiar/x509 + WebCrypto: roots, intermediates and leaves
 * with arbitrary names, SANs, validity, basicConstraints, key usage (critical or
 * not), EKU and SKI/AKI, plus deliberately broken ones (CA leaf, no keyCertSign,
 * wrong signing key, expired, same subject with a different key).
 *
 * Every certificate comes back as DER, PEM, the kernel's parsed `Certificate`, and
 * its private key (KeyObject, PKCS#8 PEM and DER).
 */
import 'reflect-metadata';
import { createHash, KeyObject, sign, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { readTlv } from '../../src/spiffe/internal/der.js';
import { type Certificate, type KeyUsageFlag, parseCertificate } from '../../src/spiffe/x509/certificate.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export type KeyAlg = 'P-256' | 'P-384' | 'RSA-2048' | 'RSA-3072' | 'Ed25519';

export interface TestKeyPair {
  alg: KeyAlg;
  cryptoKeys: webcrypto.CryptoKeyPair;
  privateKey: KeyObject;
  publicKey: KeyObject;
  pkcs8Der: Uint8Array;
  pkcs8Pem: string;
  spkiDer: Uint8Array;
  /** SHA-1 of the SPKI, used as SKI/AKI. */
  keyId: string;
}

export interface TestCert {
  der: Uint8Array;
  pem: string;
  cert: Certificate;
  key: TestKeyPair;
  /** Subject as given to the generator. */
  subject: string;
}

export interface CertSpec {
  /** Subject DN, e.g. `CN=Root,O=Test`; `''` for an empty subject. */
  subject?: string;
  /** The issuing certificate; omitted means self-signed. */
  issuer?: TestCert;
  /** Issuer DN written into the certificate (default: the issuer's subject). */
  issuerName?: string;
  /** Key that signs (default: the issuer's key, or the subject key when self-signed). Use for "wrong key". */
  signingKey?: TestKeyPair;
  /** Subject key pair, or the algorithm to generate one with (default P-256). */
  key?: TestKeyPair | KeyAlg;
  /** Hex serial (default random). `'00'` gives serial 0 (N13; re-signed after generation). */
  serial?: string;
  notBefore?: Date;
  notAfter?: Date;
  /** `undefined` omits basicConstraints. */
  ca?: boolean;
  pathLen?: number;
  bcCritical?: boolean;
  /** `null` omits the extension. */
  keyUsage?: KeyUsageFlag[] | null;
  kuCritical?: boolean;
  /** Names or OIDs; `null` omits the extension. */
  eku?: ('serverAuth' | 'clientAuth' | string)[] | null;
  ekuCritical?: boolean;
  uris?: string[];
  dns?: string[];
  ips?: string[];
  emails?: string[];
  sanCritical?: boolean;
  /** `false` omits SKI; a string sets it. */
  ski?: boolean | string;
  /** `false` omits AKI; a string sets it. Default: the issuer's key id. */
  aki?: boolean | string;
  /** Extra raw extensions (e.g. an unknown critical one). */
  extensions?: x509.Extension[];
  /** Signature hash (default SHA-256; SHA-384 for P-384 signers). */
  hash?: 'SHA-256' | 'SHA-384' | 'SHA-512';
}

const KU_BITS: Record<KeyUsageFlag, number> = {
  digitalSignature: x509.KeyUsageFlags.digitalSignature,
  nonRepudiation: x509.KeyUsageFlags.nonRepudiation,
  keyEncipherment: x509.KeyUsageFlags.keyEncipherment,
  dataEncipherment: x509.KeyUsageFlags.dataEncipherment,
  keyAgreement: x509.KeyUsageFlags.keyAgreement,
  keyCertSign: x509.KeyUsageFlags.keyCertSign,
  cRLSign: x509.KeyUsageFlags.cRLSign,
  encipherOnly: x509.KeyUsageFlags.encipherOnly,
  decipherOnly: x509.KeyUsageFlags.decipherOnly,
};

const EKU_OIDS: Record<string, string> = {
  serverAuth: x509.ExtendedKeyUsage.serverAuth,
  clientAuth: x509.ExtendedKeyUsage.clientAuth,
};

function keyParams(
  alg: KeyAlg,
): webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams | webcrypto.Algorithm {
  switch (alg) {
    case 'P-256':
    case 'P-384':
      return { name: 'ECDSA', namedCurve: alg };
    case 'RSA-2048':
    case 'RSA-3072':
      return {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: alg === 'RSA-2048' ? 2048 : 3072,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: 'SHA-256',
      };
    case 'Ed25519':
      return { name: 'Ed25519' };
  }
}

export async function generateKeyPair(alg: KeyAlg = 'P-256'): Promise<TestKeyPair> {
  const cryptoKeys = (await webcrypto.subtle.generateKey(keyParams(alg), true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const privateKey = KeyObject.from(cryptoKeys.privateKey as unknown as webcrypto.CryptoKey);
  const publicKey = KeyObject.from(cryptoKeys.publicKey as unknown as webcrypto.CryptoKey);
  const pkcs8Der = new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' }));
  const spkiDer = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
  return {
    alg,
    cryptoKeys,
    privateKey,
    publicKey,
    pkcs8Der,
    pkcs8Pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    spkiDer,
    keyId: createHash('sha1').update(spkiDer).digest('hex'),
  };
}

function signingAlgorithm(
  key: TestKeyPair,
  hash: string | undefined,
): webcrypto.Algorithm | webcrypto.EcdsaParams {
  if (key.alg === 'Ed25519') return { name: 'Ed25519' };
  const h = hash ?? (key.alg === 'P-384' ? 'SHA-384' : 'SHA-256');
  if (key.alg === 'P-256' || key.alg === 'P-384') return { name: 'ECDSA', hash: h } as webcrypto.EcdsaParams;
  return { name: 'RSASSA-PKCS1-v1_5', hash: h } as webcrypto.Algorithm;
}

function randomSerial(): string {
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0]! & 0x7f) | 0x01;
  return Buffer.from(b).toString('hex');
}

const HOUR = 3600_000;

/** Issues one certificate from `spec`. */
export async function createCert(spec: CertSpec = {}): Promise<TestCert> {
  const key = typeof spec.key === 'object' ? spec.key : await generateKeyPair(spec.key ?? 'P-256');
  const subject = spec.subject ?? 'CN=test';
  const signer = spec.signingKey ?? spec.issuer?.key ?? key;
  const issuerName = spec.issuerName ?? spec.issuer?.subject ?? subject;
  const extensions: x509.Extension[] = [];
  if (spec.ca !== undefined) {
    extensions.push(new x509.BasicConstraintsExtension(spec.ca, spec.pathLen, spec.bcCritical ?? true));
  }
  if (spec.keyUsage !== null && spec.keyUsage !== undefined) {
    const bits = spec.keyUsage.reduce((n, f) => n | KU_BITS[f], 0);
    extensions.push(new x509.KeyUsagesExtension(bits, spec.kuCritical ?? true));
  }
  if (spec.eku !== null && spec.eku !== undefined) {
    extensions.push(
      new x509.ExtendedKeyUsageExtension(
        spec.eku.map((e) => EKU_OIDS[e] ?? e),
        spec.ekuCritical ?? false,
      ),
    );
  }
  const names: x509.JsonGeneralNames = [
    ...(spec.uris ?? []).map((value) => ({ type: 'url' as const, value })),
    ...(spec.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(spec.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
    ...(spec.emails ?? []).map((value) => ({ type: 'email' as const, value })),
  ];
  if (names.length > 0) {
    extensions.push(new x509.SubjectAlternativeNameExtension(names, spec.sanCritical ?? subject === ''));
  }
  if (spec.ski !== false) {
    extensions.push(
      new x509.SubjectKeyIdentifierExtension(typeof spec.ski === 'string' ? spec.ski : key.keyId),
    );
  }
  const selfSigned = spec.issuer === undefined;
  const defaultAki = selfSigned ? undefined : spec.issuer!.key.keyId;
  if (spec.aki !== false && (typeof spec.aki === 'string' || defaultAki !== undefined)) {
    extensions.push(
      new x509.AuthorityKeyIdentifierExtension(typeof spec.aki === 'string' ? spec.aki : defaultAki!),
    );
  }
  extensions.push(...(spec.extensions ?? []));
  const now = Date.now();
  const generated = await x509.X509CertificateGenerator.create({
    serialNumber: spec.serial ?? randomSerial(),
    subject,
    issuer: issuerName,
    notBefore: spec.notBefore ?? new Date(now - HOUR),
    notAfter: spec.notAfter ?? new Date(now + 24 * HOUR),
    publicKey: key.cryptoKeys.publicKey,
    signingKey: signer.cryptoKeys.privateKey,
    signingAlgorithm: signingAlgorithm(signer, spec.hash),
    extensions,
  });
  let der: Uint8Array = new Uint8Array(generated.rawData);
  if (spec.serial !== undefined && /^0+$/.test(spec.serial)) {
    der = resign(der, signer, spec.hash, (i, tlv) => (i === 1 ? new Uint8Array([0x02, 0x01, 0x00]) : tlv));
  }
  return lazyTestCert(der, key, subject);
}

/** `cert` is parsed on first access, so deliberately malformed certificates can still be built. */
function lazyTestCert(der: Uint8Array, key: TestKeyPair, subject: string): TestCert {
  let parsed: Certificate | undefined;
  return {
    der,
    pem: toPem(der),
    get cert(): Certificate {
      parsed ??= parseCertificate(der);
      return parsed;
    },
    key,
    subject,
  };
}

function toPem(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN CERTIFICATE-----\n${b64.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
}

function encodeTlv(tag: number, content: Uint8Array): Uint8Array {
  const len = content.length;
  const head = len < 0x80 ? [tag, len] : len < 0x100 ? [tag, 0x81, len] : [tag, 0x82, len >> 8, len & 0xff];
  const out = new Uint8Array(head.length + len);
  out.set(head);
  out.set(content, head.length);
  return out;
}

/**
 * Rebuilds a certificate with its TBS children passed through `mutate` (index,
 * element bytes) and signs the result again with `signer`. For encodings the
 * generator refuses to produce (serial 0).
 */
export function resign(
  der: Uint8Array,
  signer: TestKeyPair,
  hash: string | undefined,
  mutate: (index: number, tlv: Uint8Array) => Uint8Array,
): Uint8Array {
  const outer = readTlv(der, 0);
  const tbs = readTlv(der, outer.valueStart, outer.end);
  const alg = readTlv(der, tbs.end, outer.end);
  const children: Uint8Array[] = [];
  for (let pos = tbs.valueStart, i = 0; pos < tbs.end; i++) {
    const t = readTlv(der, pos, tbs.end);
    children.push(mutate(i, der.subarray(t.start, t.end)));
    pos = t.end;
  }
  const newTbs = encodeTlv(0x30, Buffer.concat(children));
  const digest =
    signer.alg === 'Ed25519'
      ? null
      : (hash ?? (signer.alg === 'P-384' ? 'SHA-384' : 'SHA-256')).replace('-', '').toLowerCase();
  const sig = sign(
    digest,
    newTbs,
    signer.alg.startsWith('P-') ? { key: signer.privateKey, dsaEncoding: 'der' } : signer.privateKey,
  );
  const bitString = encodeTlv(0x03, Buffer.concat([new Uint8Array([0]), sig]));
  return encodeTlv(0x30, Buffer.concat([newTbs, der.subarray(alg.start, alg.end), bitString]));
}

/** A self-signed SPIFFE root: cA=TRUE, KU critical {keyCertSign, cRLSign}, SAN `spiffe://<td>`. */
export function createRoot(spec: CertSpec & { trustDomain?: string } = {}): Promise<TestCert> {
  const { trustDomain = 'example.org', ...rest } = spec;
  return createCert({
    subject: `CN=Root CA ${trustDomain},O=meshbridge test`,
    ca: true,
    keyUsage: ['keyCertSign', 'cRLSign'],
    uris: [`spiffe://${trustDomain}`],
    notBefore: new Date(Date.now() - 24 * HOUR),
    notAfter: new Date(Date.now() + 365 * 24 * HOUR),
    ...rest,
  });
}

/** An intermediate signed by `issuer`: cA=TRUE, KU critical {keyCertSign, cRLSign}. */
export function createIntermediate(
  issuer: TestCert,
  spec: CertSpec & { trustDomain?: string } = {},
): Promise<TestCert> {
  const { trustDomain = 'example.org', ...rest } = spec;
  return createCert({
    subject: `CN=Intermediate CA ${trustDomain},O=meshbridge test`,
    issuer,
    ca: true,
    keyUsage: ['keyCertSign', 'cRLSign'],
    uris: [`spiffe://${trustDomain}`],
    notBefore: new Date(Date.now() - 12 * HOUR),
    notAfter: new Date(Date.now() + 30 * 24 * HOUR),
    ...rest,
  });
}

/** An Istio-shaped workload leaf: empty subject, critical SAN with one SPIFFE ID, cA=FALSE, KU critical {dS, kE}, EKU server+client. */
export function createLeaf(issuer: TestCert, spec: CertSpec & { id?: string } = {}): Promise<TestCert> {
  const { id = 'spiffe://example.org/ns/default/sa/default', ...rest } = spec;
  return createCert({
    subject: '',
    issuer,
    ca: false,
    keyUsage: ['digitalSignature', 'keyEncipherment'],
    eku: ['serverAuth', 'clientAuth'],
    uris: [id],
    sanCritical: true,
    ...rest,
  });
}

export interface TestChain {
  root: TestCert;
  intermediate: TestCert;
  leaf: TestCert;
}

/** root → intermediate → leaf, all P-256 unless `key` says otherwise. */
export async function createChain(
  opts: {
    trustDomain?: string;
    id?: string;
    key?: KeyAlg;
    leaf?: CertSpec;
    intermediate?: CertSpec;
    root?: CertSpec;
  } = {},
): Promise<TestChain> {
  const td = opts.trustDomain ?? 'example.org';
  const root = await createRoot({ trustDomain: td, key: opts.key, ...opts.root });
  const intermediate = await createIntermediate(root, {
    trustDomain: td,
    key: opts.key,
    ...opts.intermediate,
  });
  const leaf = await createLeaf(intermediate, {
    id: opts.id ?? `spiffe://${td}/ns/default/sa/default`,
    key: opts.key,
    ...opts.leaf,
  });
  return { root, intermediate, leaf };
}

// ---------------------------------------------------------------------------
// Broken on purpose

/** A "leaf" with cA=TRUE (R26/R27). */
export function createCaLeaf(issuer: TestCert, spec: CertSpec & { id?: string } = {}): Promise<TestCert> {
  return createLeaf(issuer, { ca: true, ...spec });
}

/** An intermediate whose key usage lacks keyCertSign (R30). */
export function createIntermediateWithoutKeyCertSign(
  issuer: TestCert,
  spec: CertSpec = {},
): Promise<TestCert> {
  return createIntermediate(issuer, { keyUsage: ['cRLSign', 'digitalSignature'], ...spec });
}

/** A certificate that names `issuer` but is signed by an unrelated key. */
export async function createWithWrongKey(
  issuer: TestCert,
  spec: CertSpec & { id?: string } = {},
): Promise<TestCert> {
  const rogue = await generateKeyPair(issuer.key.alg);
  return createLeaf(issuer, { signingKey: rogue, ...spec });
}

/** A leaf whose validity ended an hour ago. */
export function createExpiredLeaf(
  issuer: TestCert,
  spec: CertSpec & { id?: string } = {},
): Promise<TestCert> {
  const now = Date.now();
  return createLeaf(issuer, {
    notBefore: new Date(now - 48 * HOUR),
    notAfter: new Date(now - HOUR),
    ...spec,
  });
}

/** A self-signed CA with the same subject (and SAN) as `like` but a fresh key (N12). */
export function createSameSubjectDifferentKey(like: TestCert, spec: CertSpec = {}): Promise<TestCert> {
  const c = like.cert;
  return createCert({
    subject: like.subject,
    ca: c.basicConstraints?.ca,
    keyUsage: c.keyUsage === undefined ? null : [...c.keyUsage.flags],
    uris: [...(c.subjectAltName?.uris ?? [])],
    notBefore: c.notBefore,
    notAfter: c.notAfter,
    ...spec,
  });
}

/** An extension with an OID nobody handles, marked critical. */
export function unknownCriticalExtension(oid = '1.3.6.1.4.1.55555.1.1'): x509.Extension {
  return new x509.Extension(oid, true, new Uint8Array([0x05, 0x00]));
}

export function concatDer(...certs: (TestCert | Uint8Array)[]): Uint8Array {
  const parts = certs.map((c) => (c instanceof Uint8Array ? c : c.der));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function pemOf(...certs: TestCert[]): string {
  return certs.map((c) => c.pem.trim()).join('\n') + '\n';
}
