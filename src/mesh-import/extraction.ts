import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { SpiffeError } from '../spiffe/errors.js';
import { readTlv, TAG } from '../spiffe/internal/der.js';
import { decodePem } from '../spiffe/pem/index.js';
import { ImportError } from './errors.js';
import type { Mesh, Problem, SourceKind, SourceRef } from './inventory.js';

/**
 * What a source says about a certificate's role. `anchor`: the mesh trusts it (a trust
 * bundle, `root-cert.pem`, `ca-bundle.crt`, `ROOTCA`). `issuer`: the mesh signs with it
 * (`ca-cert.pem`, the Linkerd issuer's `crt.pem`). `none`: structure decides.
 */
export type RoleHint = 'anchor' | 'issuer' | 'none';

/** One certificate as a reader found it: raw DER plus where it came from. Not parsed yet. */
export interface CertificateBlob {
  der: Uint8Array;
  /** Locator of the source. */
  source: string;
  /** 1-based position among the blocks (PEM) or elements (DER) of the source. */
  block: number;
  /** 1-based line of the BEGIN line, for PEM. */
  line?: number;
  hint: RoleHint;
}

/** A private key as a reader found it: already reduced to its type and public-key digest. */
export interface KeyBlob {
  source: string;
  keyType: string;
  /** SHA-256 (hex) of the public key's SubjectPublicKeyInfo DER; null when it cannot be read (encrypted). */
  spkiSha256: string | null;
  /** Locator of the source whose first certificate this key belongs with. */
  pairedWith?: string;
}

/** Everything one file yielded. */
export interface Extraction {
  file: string;
  /** The shape recognised: `pem`, `der`, `kubernetes`, `linkerd-values`, `envoy-config-dump`, ... */
  shape: string;
  sources: SourceRef[];
  certificates: CertificateBlob[];
  keys: KeyBlob[];
  /** Findings of the reader itself (corrupt private-key blocks, ...). */
  problems: Problem[];
  /** True when the file held none of the shapes meshbridge reads (skipped in a folder walk). */
  skipped?: boolean;
}

export interface MaterialOptions {
  hint?: RoleHint;
  /** Locator whose first certificate a private key found here pairs with. */
  pairedWith?: string;
  /** The value must hold certificates or keys (a known key like `ca-cert.pem`); empty is still fine. */
  required?: boolean;
  /** The hint applies to the first certificate only; the rest are its chain (`none`). */
  firstOnly?: boolean;
}

export function locatorOf(file: string, object?: string, key?: string): string {
  if (object === undefined) return key === undefined ? file : `${file}#${key}`;
  return key === undefined ? `${file}#${object}` : `${file}#${object}[${key}]`;
}

/** Collects one file's sources, certificate blobs and keys as a reader walks it. */
export class ExtractionBuilder {
  readonly extraction: Extraction;
  private readonly byLocator = new Map<string, SourceRef>();

  constructor(
    readonly file: string,
    shape: string,
    private readonly forcedMesh: Mesh | null = null,
  ) {
    this.extraction = { file, shape, sources: [], certificates: [], keys: [], problems: [] };
  }

  set shape(shape: string) {
    this.extraction.shape = shape;
  }

  source(kind: SourceKind, mesh: Mesh | null, object?: string, key?: string): SourceRef {
    const locator = locatorOf(this.file, object, key);
    const seen = this.byLocator.get(locator);
    if (seen !== undefined) return seen;
    const ref: SourceRef = { kind, locator, file: this.file, mesh: this.forcedMesh ?? mesh };
    if (object !== undefined) ref.object = object;
    if (key !== undefined) ref.key = key;
    this.byLocator.set(locator, ref);
    this.extraction.sources.push(ref);
    return ref;
  }

  /** Reads PEM (any number of blocks) or DER from one value; returns how many certificates it held. */
  material(ref: SourceRef, content: string | Uint8Array, opts: MaterialOptions = {}): number {
    const hint = opts.hint ?? 'none';
    const bytes = typeof content === 'string' ? undefined : content;
    const text = typeof content === 'string' ? content : undefined;
    if (bytes !== undefined && isDer(bytes)) return this.der(ref, bytes, hint, opts);
    const body = text ?? Buffer.from(bytes!.buffer, bytes!.byteOffset, bytes!.byteLength).toString('latin1');
    if (body.trim() === '') return 0;
    if (!body.includes('-----BEGIN')) {
      if (opts.required) {
        throw new ImportError(
          'INPUT_NOT_CERTIFICATE_DATA',
          `${ref.locator} should hold PEM certificates but holds neither PEM nor DER`,
          { details: { source: ref.locator } },
        );
      }
      return 0;
    }
    let blocks: ReturnType<typeof decodePem>;
    try {
      blocks = decodePem(body);
    } catch (err) {
      throw wrapPemError(ref.locator, err);
    }
    let certs = 0;
    for (const b of blocks) {
      const position = { block: b.index + 1, line: b.line };
      if (b.type === 'CERTIFICATE' || b.type === 'X509 CERTIFICATE') {
        const h = opts.firstOnly && certs > 0 ? 'none' : hint;
        this.extraction.certificates.push({ der: b.der, source: ref.locator, ...position, hint: h });
        certs++;
      } else if (PRIVATE_KEY_TYPES[b.type] !== undefined) {
        const encrypted =
          b.type === 'ENCRYPTED PRIVATE KEY' || /ENCRYPTED/i.test(b.headers?.['Proc-Type'] ?? '');
        this.key(ref, b.der, PRIVATE_KEY_TYPES[b.type]!, encrypted, position, opts.pairedWith);
      }
    }
    return certs;
  }

  private der(ref: SourceRef, bytes: Uint8Array, hint: RoleHint, opts: MaterialOptions): number {
    let pos = 0;
    let index = 0;
    let certs = 0;
    while (pos < bytes.length) {
      index++;
      let end: number;
      let firstChildTag: number | undefined;
      try {
        const tlv = readTlv(bytes, pos);
        end = tlv.end;
        if (tlv.tag !== TAG.SEQUENCE) throw new Error('not a SEQUENCE');
        firstChildTag = tlv.valueStart < tlv.end ? bytes[tlv.valueStart] : undefined;
      } catch (err) {
        throw new ImportError(
          'INPUT_NOT_CERTIFICATE_DATA',
          `${ref.locator}: DER element ${index} at byte ${pos} is not a certificate or key (${(err as Error).message})`,
          { details: { source: ref.locator, element: index, offset: pos }, cause: err },
        );
      }
      const element = bytes.subarray(pos, end);
      if (firstChildTag === TAG.INTEGER) {
        this.key(ref, element, ['pkcs8', 'pkcs1', 'sec1'], false, { block: index }, opts.pairedWith);
      } else {
        const h = opts.firstOnly && certs > 0 ? 'none' : hint;
        this.extraction.certificates.push({ der: element, source: ref.locator, block: index, hint: h });
        certs++;
      }
      pos = end;
      while (pos < bytes.length && isSpace(bytes[pos]!)) pos++;
    }
    return certs;
  }

  private key(
    ref: SourceRef,
    der: Uint8Array,
    types: readonly KeyEncoding[],
    encrypted: boolean,
    position: { block: number; line?: number },
    pairedWith: string | undefined,
  ): void {
    const blob: KeyBlob = { source: ref.locator, keyType: 'encrypted', spkiSha256: null };
    if (pairedWith !== undefined) blob.pairedWith = pairedWith;
    if (!encrypted) {
      const key = loadPrivateKey(der, types);
      if (key === undefined) {
        const where =
          position.line === undefined
            ? `element ${position.block}`
            : `PEM block ${position.block} (line ${position.line})`;
        this.extraction.problems.push({
          code: 'CORRUPT_PEM_BLOCK',
          source: ref.locator,
          message: `${where} is a private key that cannot be read; check that the file is complete`,
          details: { ...position, what: 'private key' },
        });
        return;
      }
      // The private half stops here: only its type and a digest of its public half leave.
      const publicKey = createPublicKey(key);
      blob.keyType = keyTypeOf(publicKey);
      blob.spkiSha256 = createHash('sha256')
        .update(publicKey.export({ format: 'der', type: 'spki' }))
        .digest('hex');
    }
    this.extraction.keys.push(blob);
  }
}

type KeyEncoding = 'pkcs8' | 'pkcs1' | 'sec1';

const PRIVATE_KEY_TYPES: Record<string, readonly KeyEncoding[]> = {
  'PRIVATE KEY': ['pkcs8'],
  'RSA PRIVATE KEY': ['pkcs1'],
  'EC PRIVATE KEY': ['sec1'],
  'ENCRYPTED PRIVATE KEY': ['pkcs8'],
};

function loadPrivateKey(der: Uint8Array, types: readonly KeyEncoding[]): KeyObject | undefined {
  const key = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  for (const type of types) {
    try {
      return createPrivateKey({ key, format: 'der', type });
    } catch {
      // try the next encoding
    }
  }
  return undefined;
}

const CURVE_LABELS: Record<string, string> = {
  prime256v1: 'p256',
  secp384r1: 'p384',
  secp521r1: 'p521',
  secp256k1: 'secp256k1',
};

/** `ec-p256`, `rsa-2048`, `ed25519`: the store's key-type vocabulary. */
export function keyTypeOf(key: KeyObject): string {
  const type = key.asymmetricKeyType ?? 'unknown';
  const d = key.asymmetricKeyDetails;
  if (type === 'ec') {
    const curve = d?.namedCurve ?? 'unknown';
    return `ec-${CURVE_LABELS[curve] ?? curve}`;
  }
  if (type === 'rsa' || type === 'rsa-pss') return `${type}-${d?.modulusLength ?? 0}`;
  return type;
}

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d || b === 0x00;
}

/**
 * DER: a SEQUENCE with a well-formed length whose first child is a SEQUENCE (certificate)
 * or an INTEGER (private key), and binary bytes early on. Text (PEM, YAML, JSON) never is.
 */
export function isDer(bytes: Uint8Array): boolean {
  if (bytes.length < 4 || bytes[0] !== TAG.SEQUENCE) return false;
  try {
    const tlv = readTlv(bytes, 0);
    const child = bytes[tlv.valueStart];
    if (child !== TAG.SEQUENCE && child !== TAG.INTEGER) return false;
  } catch {
    return false;
  }
  const head = bytes.subarray(0, 64);
  return head.some((b) => b >= 0x80 || (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d));
}

function wrapPemError(locator: string, err: unknown): unknown {
  if (err instanceof SpiffeError && (err.code === 'PEM_MALFORMED' || err.code === 'PEM_NOT_FOUND')) {
    return new ImportError(
      'PEM_MALFORMED',
      `${locator}: ${err.message}; the file looks truncated or damaged`,
      {
        details: { source: locator, ...(err.details ?? {}) },
        cause: err,
      },
    );
  }
  return err;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Strict base64 (whitespace allowed between groups, as kubectl never writes but people paste). */
export function decodeBase64Strict(value: string, where: string): Buffer {
  const compact = value.replace(/\s+/g, '');
  if (compact.length % 4 !== 0 || !BASE64.test(compact)) {
    throw new ImportError(
      'INPUT_BASE64_MALFORMED',
      `${where} is not valid base64; the manifest looks damaged`,
      {
        details: { source: where },
      },
    );
  }
  return Buffer.from(compact, 'base64');
}
