import { SpiffeError } from '../errors.js';
import { bytesEqual } from '../internal/der.js';
import { encodePem } from '../pem/pem.js';
import { TrustDomain } from '../spiffeid/index.js';
import { type Certificate, parseCertificates } from '../x509/certificate.js';
import type { X509BundleSource } from './source.js';

/**
 * The X.509 authorities (trust anchors) of one trust domain (go-spiffe
 * `x509bundle.Bundle`). Authorities are kept once each (by SHA-256 fingerprint) in
 * insertion order, which is also the order `toPem` writes them in. An empty bundle
 * trusts nothing (R60). As a source it answers only for its own trust domain (R20).
 */
export class X509Bundle implements X509BundleSource {
  private readonly byFingerprint = new Map<string, Certificate>();
  private list: Certificate[] | undefined;
  private bySubject: Map<string, Certificate[]> | undefined;
  private bySki: Map<string, Certificate[]> | undefined;
  private byCanonicalName: Map<string, Certificate[]> | undefined;

  constructor(
    readonly trustDomain: TrustDomain,
    authorities: Iterable<Certificate> = [],
  ) {
    for (const cert of authorities) this.byFingerprint.set(cert.fingerprint, cert);
  }

  /**
   * Reads authorities from PEM (CERTIFICATE blocks; other blocks are skipped) or
   * concatenated DER. Empty input is an empty bundle (R60); a damaged block fails
   * with its position (`PEM_MALFORMED` / `CERT_MALFORMED`, block number and line).
   */
  static parse(td: TrustDomain | string, bytes: Uint8Array | string): X509Bundle {
    const trustDomain = typeof td === 'string' ? TrustDomain.parse(td) : td;
    let certs: Certificate[];
    try {
      certs = parseCertificates(bytes);
    } catch (err) {
      if (err instanceof SpiffeError) {
        throw new SpiffeError(
          err.code,
          err.category,
          `x509bundle for "${trustDomain.name}": cannot parse certificate: ${err.message}`,
          {
            ...(err.rule === undefined ? {} : { rule: err.rule }),
            details: { ...err.details, trustDomain: trustDomain.name },
            cause: err,
          },
        );
      }
      throw err;
    }
    return new X509Bundle(trustDomain, certs);
  }

  /** Authorities in insertion order. */
  authorities(): readonly Certificate[] {
    this.list ??= [...this.byFingerprint.values()];
    return this.list;
  }

  get size(): number {
    return this.byFingerprint.size;
  }

  isEmpty(): boolean {
    return this.byFingerprint.size === 0;
  }

  /** By SHA-256 fingerprint (lowercase hex) or by certificate. */
  hasAuthority(cert: string | Certificate): boolean {
    return this.byFingerprint.has(typeof cert === 'string' ? cert.toLowerCase() : cert.fingerprint);
  }

  getAuthority(fingerprint: string): Certificate | undefined {
    return this.byFingerprint.get(fingerprint.toLowerCase());
  }

  /** Adds an authority; a certificate already present is kept where it was. */
  addAuthority(cert: Certificate): void {
    if (this.byFingerprint.has(cert.fingerprint)) return;
    this.byFingerprint.set(cert.fingerprint, cert);
    this.invalidate();
  }

  /** Removes an authority; returns whether it was present. */
  removeAuthority(cert: string | Certificate): boolean {
    const removed = this.byFingerprint.delete(
      typeof cert === 'string' ? cert.toLowerCase() : cert.fingerprint,
    );
    if (removed) this.invalidate();
    return removed;
  }

  /**
   * Authorities that may have issued `cert`. `exact`: an SKI equal to its AKI or the
   * same DER subject as its issuer name. `canonical`: the remaining ones whose subject
   * equals its issuer name compared as case-folded text (a CA may re-encode its own
   * name). Candidates only: the caller decides by verifying the signature (N12).
   */
  candidateIssuers(cert: Certificate, match: 'exact' | 'canonical' | 'all' = 'all'): readonly Certificate[] {
    if (this.bySubject === undefined) this.index();
    if (match === 'canonical') {
      const exact = this.candidateIssuers(cert, 'exact');
      const canonical = this.byCanonicalName!.get(canonicalName(cert.issuer)) ?? NONE;
      return exact.length === 0 ? canonical : canonical.filter((c) => !exact.includes(c));
    }
    if (match === 'all') {
      const exact = this.candidateIssuers(cert, 'exact');
      const more = this.candidateIssuers(cert, 'canonical');
      return more.length === 0 ? exact : [...exact, ...more];
    }
    const byName = this.bySubject!.get(Buffer.from(cert.issuerDer).toString('latin1')) ?? NONE;
    const byKey = cert.authorityKeyId === undefined ? NONE : (this.bySki!.get(cert.authorityKeyId) ?? NONE);
    if (byKey.length === 0) return byName;
    if (byName.length === 0) return byKey;
    const out = [...byKey];
    for (const c of byName) if (!out.includes(c)) out.push(c);
    return out;
  }

  /** PEM of every authority, in insertion order (stable across calls). */
  toPem(): string {
    return this.authorities()
      .map((c) => encodePem('CERTIFICATE', c.der))
      .join('');
  }

  /** Concatenated DER (the Workload API `bundle` field format). */
  toDer(): Uint8Array {
    const certs = this.authorities();
    const out = new Uint8Array(certs.reduce((n, c) => n + c.der.length, 0));
    let off = 0;
    for (const c of certs) {
      out.set(c.der, off);
      off += c.der.length;
    }
    return out;
  }

  /** Same trust domain and the same set of authorities (order ignored). */
  equals(other: X509Bundle): boolean {
    if (!this.trustDomain.equals(other.trustDomain) || this.size !== other.size) return false;
    for (const fp of this.byFingerprint.keys()) if (!other.byFingerprint.has(fp)) return false;
    return true;
  }

  clone(): X509Bundle {
    return new X509Bundle(this.trustDomain, this.authorities());
  }

  getX509BundleForTrustDomain(td: TrustDomain): X509Bundle {
    if (!td.equals(this.trustDomain)) {
      throw new SpiffeError(
        'BUNDLE_NOT_FOUND',
        'verdict',
        `no X.509 bundle for trust domain "${td.name}" (this bundle is for "${this.trustDomain.name}")`,
        { rule: 20, details: { trustDomain: td.name } },
      );
    }
    return this;
  }

  private invalidate(): void {
    this.list = undefined;
    this.bySubject = undefined;
    this.bySki = undefined;
    this.byCanonicalName = undefined;
  }

  private index(): void {
    const bySubject = new Map<string, Certificate[]>();
    const bySki = new Map<string, Certificate[]>();
    const byCanonicalName = new Map<string, Certificate[]>();
    for (const c of this.byFingerprint.values()) {
      push(bySubject, Buffer.from(c.subjectDer).toString('latin1'), c);
      push(byCanonicalName, canonicalName(c.subject), c);
      if (c.subjectKeyId !== undefined) push(bySki, c.subjectKeyId, c);
    }
    this.bySubject = bySubject;
    this.bySki = bySki;
    this.byCanonicalName = byCanonicalName;
  }
}

const NONE: readonly Certificate[] = [];

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list === undefined) m.set(k, [v]);
  else list.push(v);
}

/** Name comparison key: RFC 4514 text, case-folded, runs of spaces collapsed (cf. OpenSSL's canonical form). */
export function canonicalName(rfc4514: string): string {
  return rfc4514.toLowerCase().replace(/\s+/g, ' ');
}

/**
 * True when `issuer` could be the issuer of `cert`. `exact`: by key identifier or DER
 * name bytes; `canonical`: not exact, but the names match as case-folded text;
 * `all`: either. A candidate test only: the signature decides (N12).
 */
export function mayHaveIssued(
  issuer: Certificate,
  cert: Certificate,
  match: 'exact' | 'canonical' | 'all' = 'all',
): boolean {
  const exact =
    bytesEqual(issuer.subjectDer, cert.issuerDer) ||
    (cert.authorityKeyId !== undefined && cert.authorityKeyId === issuer.subjectKeyId);
  if (match === 'exact' || (match === 'all' && exact)) return exact;
  return !exact && canonicalName(issuer.subject) === canonicalName(cert.issuer);
}

/** X.509 bundles of several trust domains, one per trust domain, never pooled (R20). */
export class X509BundleSet implements X509BundleSource {
  private readonly bundles = new Map<string, X509Bundle>();

  constructor(bundles: Iterable<X509Bundle> = []) {
    for (const b of bundles) this.add(b);
  }

  /** Adds or replaces the bundle of `bundle.trustDomain`. */
  add(bundle: X509Bundle): void {
    this.bundles.set(bundle.trustDomain.name, bundle);
  }

  remove(td: TrustDomain | string): boolean {
    return this.bundles.delete(nameOf(td));
  }

  has(td: TrustDomain | string): boolean {
    return this.bundles.has(nameOf(td));
  }

  get(td: TrustDomain | string): X509Bundle | undefined {
    return this.bundles.get(nameOf(td));
  }

  get size(): number {
    return this.bundles.size;
  }

  /** Bundles sorted by trust-domain name. */
  all(): X509Bundle[] {
    return [...this.bundles.values()].sort((a, b) => (a.trustDomain.name < b.trustDomain.name ? -1 : 1));
  }

  getX509BundleForTrustDomain(td: TrustDomain): X509Bundle {
    const b = this.bundles.get(td.name);
    if (b === undefined) {
      throw new SpiffeError('BUNDLE_NOT_FOUND', 'verdict', `no X.509 bundle for trust domain "${td.name}"`, {
        rule: 20,
        details: { trustDomain: td.name },
      });
    }
    return b;
  }
}

function nameOf(td: TrustDomain | string): string {
  return typeof td === 'string' ? TrustDomain.parse(td).name : td.name;
}
