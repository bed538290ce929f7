import type { KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import { SpiffeError, type Warning } from '../errors.js';
import { TrustDomain } from '../spiffeid/index.js';
import { type Certificate, parseCertificate } from '../x509/certificate.js';
import { isJsonObject, type JsonObject, type JsonValue } from './json.js';
import { keysOf, readTrustDocument, writeJson } from './jsondoc.js';
import { hasPrivateMembers, importPublicJwk, isKnownKty, PUBLIC_MEMBERS, publicJwkOf } from './jwk.js';
import { addParsed, bundleNotFound, createJwtAuthority, type JwtAuthority, JwtBundle } from './jwtbundle.js';
import type { JwtBundleSource, X509BundleSource } from './source.js';
import { X509Bundle } from './x509bundle.js';

export const USE_X509_SVID = 'x509-svid';
export const USE_JWT_SVID = 'jwt-svid';
export const USE_WIT_SVID = 'wit-svid';

/** Rule 57: the sequence number is a 64-bit unsigned counter. */
export const MAX_SEQUENCE_NUMBER = (1n << 64n) - 1n;

export interface SpiffeBundleParseOptions {
  /**
   * Enforce producer MUSTs a lenient reader only warns about: several certificates
   * in one `x5c` (R38; go-spiffe's verdict, N4), a `kid` on an X.509 entry (R37),
   * private key members in a JWK (R63). Default false.
   */
  strict?: boolean;
}

export interface SpiffeBundleParseResult {
  bundle: SpiffeBundle;
  warnings: Warning[];
}

export interface SpiffeBundleInit {
  x509Authorities?: Iterable<Certificate>;
  jwtAuthorities?: Iterable<JwtAuthority>;
  /** `wit-svid` keys: not used for verification here, kept so a re-published bundle does not lose them. */
  witAuthorities?: Iterable<JwtAuthority>;
  refreshHint?: number;
  sequenceNumber?: bigint | number;
}

/**
 * A SPIFFE bundle (SPIFFE_Trust_Domain_and_Bundle.md §4): the X.509 and JWT
 * authorities of one trust domain plus the optional refresh hint and sequence
 * number, bound to the trust domain's name out of band (rule 64).
 *
 * N4 (several certificates in one `x5c`): the spec's consumer rule is followed
 * (R40: use the first, ignore the rest) and a `BUNDLE_X5C_MULTIPLE` warning says
 * go-spiffe would refuse the whole bundle; `marshal()` writes one certificate per
 * entry, so what meshbridge re-publishes is accepted by both. `{strict: true}`
 * refuses such bundles instead (go-spiffe's verdict).
 * N5 (a `jwt-svid` entry without `kid`): the whole document is refused, as
 * go-spiffe, java-spiffe and py-spiffe do (`JWT_BUNDLE_KID_MISSING`).
 */
export class SpiffeBundle implements X509BundleSource, JwtBundleSource {
  private readonly x509: X509Bundle;
  private readonly jwt: JwtBundle;
  private readonly wit: JwtBundle;
  private _refreshHint: number | undefined;
  private _sequenceNumber: bigint | undefined;

  constructor(
    readonly trustDomain: TrustDomain,
    init: SpiffeBundleInit = {},
  ) {
    this.x509 = new X509Bundle(trustDomain, init.x509Authorities ?? []);
    this.jwt = new JwtBundle(trustDomain, init.jwtAuthorities ?? []);
    this.wit = new JwtBundle(trustDomain, init.witAuthorities ?? []);
    this.refreshHint = init.refreshHint;
    this.sequenceNumber = init.sequenceNumber === undefined ? undefined : BigInt(init.sequenceNumber);
  }

  /**
   * Parses a SPIFFE bundle document (bytes are UTF-8). Returns the bundle and the
   * tolerated deviations. Refuses (SpiffeError, category 'input'):
   * `BUNDLE_JSON_INVALID`, `BUNDLE_JSON_DUPLICATE_MEMBER` (any repeated member name),
   * `BUNDLE_KEYS_MISSING` (R59), `BUNDLE_KEYS_INVALID`, `BUNDLE_JWK_INVALID`,
   * `BUNDLE_X5C_INVALID` (R38), `BUNDLE_X5C_KEY_MISMATCH`, `JWT_BUNDLE_KID_MISSING` (N5),
   * `JWT_BUNDLE_KID_DUPLICATE`, `BUNDLE_SEQUENCE_INVALID` (R57), `BUNDLE_REFRESH_HINT_INVALID` (R58),
   * and with `strict` also `BUNDLE_X5C_MULTIPLE`, `BUNDLE_X509_KID`, `BUNDLE_JWK_PRIVATE_MEMBERS`.
   */
  static parse(
    td: TrustDomain | string,
    input: string | Uint8Array,
    options: SpiffeBundleParseOptions = {},
  ): SpiffeBundleParseResult {
    const trustDomain = typeof td === 'string' ? TrustDomain.parse(td) : td;
    const doc = readTrustDocument(input, `SPIFFE bundle for ${trustDomain.name}`);
    return SpiffeBundle.fromDocument(trustDomain, doc, options);
  }

  /** Same as `parse`, from an already-read JSON object (the bundle map uses it). */
  static fromDocument(
    trustDomain: TrustDomain,
    doc: JsonObject,
    options: SpiffeBundleParseOptions = {},
  ): SpiffeBundleParseResult {
    const warnings: Warning[] = [];
    const bundle = new DocumentReader(trustDomain, options.strict === true, warnings).read(doc);
    return { bundle, warnings };
  }

  static fromX509Bundle(b: X509Bundle): SpiffeBundle {
    return new SpiffeBundle(b.trustDomain, { x509Authorities: b.authorities() });
  }

  static fromJwtBundle(b: JwtBundle): SpiffeBundle {
    return new SpiffeBundle(b.trustDomain, { jwtAuthorities: b.authorities() });
  }

  /** X.509 authorities (trust anchors), in document order. */
  get x509Authorities(): readonly Certificate[] {
    return this.x509.authorities();
  }

  /** JWT authorities, in document order. */
  get jwtAuthorities(): readonly JwtAuthority[] {
    return this.jwt.authorities();
  }

  /** `wit-svid` keys (R135): carried along for re-publication, never used to verify anything here. */
  get witAuthorities(): readonly JwtAuthority[] {
    return this.wit.authorities();
  }

  /** Seconds (rule 58); undefined when the document had none. */
  get refreshHint(): number | undefined {
    return this._refreshHint;
  }

  set refreshHint(seconds: number | undefined) {
    if (seconds !== undefined && (!Number.isSafeInteger(seconds) || seconds < 0)) {
      throw new SpiffeError(
        'BUNDLE_REFRESH_HINT_INVALID',
        'input',
        'refresh hint must be a whole number of seconds >= 0',
        {
          rule: 58,
        },
      );
    }
    this._refreshHint = seconds;
  }

  /** Rule 57, exact to 64 bits. */
  get sequenceNumber(): bigint | undefined {
    return this._sequenceNumber;
  }

  set sequenceNumber(n: bigint | undefined) {
    if (n !== undefined && (typeof n !== 'bigint' || n < 0n || n > MAX_SEQUENCE_NUMBER)) {
      throw new SpiffeError(
        'BUNDLE_SEQUENCE_INVALID',
        'input',
        'sequence number must be an integer in [0, 2^64-1]',
        {
          rule: 57,
        },
      );
    }
    this._sequenceNumber = n;
  }

  /** No X.509 and no JWT authority: every SVID of the trust domain is invalid (R60). */
  isEmpty(): boolean {
    return this.x509.isEmpty() && this.jwt.size === 0;
  }

  hasX509Authority(cert: Certificate | string): boolean {
    return this.x509.hasAuthority(cert);
  }

  addX509Authority(cert: Certificate): void {
    this.x509.addAuthority(cert);
  }

  removeX509Authority(cert: Certificate | string): boolean {
    return this.x509.removeAuthority(cert);
  }

  findJwtAuthority(kid: string): JwtAuthority | undefined {
    return this.jwt.findAuthority(kid);
  }

  /** Adds (or replaces) the JWT authority `kid`. */
  addJwtAuthority(kid: string, key: KeyObject | JWK): JwtAuthority {
    return this.jwt.addAuthority(kid, key);
  }

  removeJwtAuthority(kid: string): boolean {
    return this.jwt.removeAuthority(kid);
  }

  /** A copy holding the X.509 authorities only. */
  toX509Bundle(): X509Bundle {
    return this.x509.clone();
  }

  /** A copy holding the JWT authorities only. */
  toJwtBundle(): JwtBundle {
    return this.jwt.clone();
  }

  clone(): SpiffeBundle {
    return new SpiffeBundle(this.trustDomain, {
      x509Authorities: this.x509Authorities,
      jwtAuthorities: this.jwtAuthorities,
      witAuthorities: this.witAuthorities,
      ...(this.refreshHint === undefined ? {} : { refreshHint: this.refreshHint }),
      ...(this.sequenceNumber === undefined ? {} : { sequenceNumber: this.sequenceNumber }),
    });
  }

  /** Same trust domain, authorities (any order), refresh hint and sequence number. */
  equals(other: SpiffeBundle): boolean {
    return (
      this.x509.equals(other.x509) &&
      this.jwt.equals(other.jwt) &&
      this.wit.equals(other.wit) &&
      this.refreshHint === other.refreshHint &&
      this.sequenceNumber === other.sequenceNumber
    );
  }

  /**
   * The SPIFFE bundle document. Keys in a stable order: X.509 entries, then JWT,
   * then WIT. X.509 entries: `use`, `kty`, the public members, `x5c` with exactly
   * one standard-base64 DER certificate and no `kid` (R36-R38). JWT entries:
   * `use`, `kty`, `kid`, the public members (R51-R52). Nothing else, never a
   * private member (R63). Then `spiffe_refresh_hint` and `spiffe_sequence` when set.
   */
  marshal(options: { indent?: number } = {}): string {
    return writeJson(this.toDocument(), options.indent);
  }

  /** The document as an object (`spiffe_sequence` stays a bigint); `marshal` writes it. */
  toDocument(): Record<string, unknown> {
    const keys: Record<string, unknown>[] = [];
    for (const cert of this.x509Authorities) keys.push(x509Entry(cert, this.trustDomain));
    for (const a of this.jwtAuthorities) keys.push({ use: USE_JWT_SVID, ...a.jwk });
    for (const a of this.witAuthorities) keys.push({ use: USE_WIT_SVID, ...a.jwk });
    return {
      keys,
      spiffe_refresh_hint: this.refreshHint,
      spiffe_sequence: this.sequenceNumber,
    };
  }

  getX509BundleForTrustDomain(td: TrustDomain): X509Bundle {
    if (!td.equals(this.trustDomain)) throw bundleNotFound(td, 'X.509');
    return this.x509;
  }

  getJwtBundleForTrustDomain(td: TrustDomain): JwtBundle {
    if (!td.equals(this.trustDomain)) throw bundleNotFound(td, 'JWT');
    return this.jwt;
  }
}

function x509Entry(cert: Certificate, td: TrustDomain): Record<string, unknown> {
  let jwk: JWK;
  try {
    jwk = publicJwkOf(cert.publicKey);
  } catch (cause) {
    throw new SpiffeError(
      'BUNDLE_X509_KEY_UNSUPPORTED',
      'input',
      `SPIFFE bundle for ${td.name}: the ${cert.keyAlgorithm} key of authority ${cert.subject} cannot be written as a JWK`,
      { cause, details: { fingerprint: cert.fingerprint } },
    );
  }
  return { use: USE_X509_SVID, ...jwk, x5c: [Buffer.from(cert.der).toString('base64')] };
}

const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

class DocumentReader {
  private readonly what: string;
  private readonly x509: X509Bundle;
  private readonly jwt: JwtBundle;
  private readonly wit: JwtBundle;

  constructor(
    private readonly trustDomain: TrustDomain,
    private readonly strict: boolean,
    private readonly warnings: Warning[],
  ) {
    this.what = `SPIFFE bundle for ${trustDomain.name}`;
    this.x509 = new X509Bundle(trustDomain);
    this.jwt = new JwtBundle(trustDomain);
    this.wit = new JwtBundle(trustDomain);
  }

  read(doc: JsonObject): SpiffeBundle {
    const keys = keysOf(doc, this.what);
    const sequenceNumber = Object.hasOwn(doc, 'spiffe_sequence')
      ? this.sequence(doc.spiffe_sequence)
      : undefined;
    const refreshHint = Object.hasOwn(doc, 'spiffe_refresh_hint')
      ? this.refreshHint(doc.spiffe_refresh_hint)
      : undefined;
    keys.forEach((entry, i) => {
      this.entry(entry, i);
    });
    for (const w of this.wit.authorities()) {
      if (this.jwt.hasAuthority(w.kid)) {
        this.warn('BUNDLE_WIT_KID_SHARED', 135, `WIT-SVID key "${w.kid}" reuses the kid of a JWT authority`);
      }
    }
    const bundle = new SpiffeBundle(this.trustDomain, {
      x509Authorities: this.x509.authorities(),
      jwtAuthorities: this.jwt.authorities(),
      witAuthorities: this.wit.authorities(),
      ...(refreshHint === undefined ? {} : { refreshHint }),
      ...(sequenceNumber === undefined ? {} : { sequenceNumber }),
    });
    if (bundle.isEmpty()) {
      this.warn(
        'BUNDLE_EMPTY',
        60,
        keys.length === 0
          ? 'the bundle has no keys: every SVID of this trust domain is untrusted'
          : 'no usable key remains after filtering: every SVID of this trust domain is untrusted',
      );
    }
    return bundle;
  }

  private warn(code: string, rule: number, message: string): void {
    this.warnings.push({ code, rule, message });
  }

  private refuse(
    code: string,
    message: string,
    rule?: number,
    extra: { cause?: unknown; index?: number } = {},
  ): never {
    throw new SpiffeError(code, 'input', `${this.what}: ${message}`, {
      ...(rule === undefined ? {} : { rule }),
      ...(extra.cause === undefined ? {} : { cause: extra.cause }),
      ...(extra.index === undefined ? {} : { details: { index: extra.index } }),
    });
  }

  /** R57: an integer in [0, 2^64-1], known exactly (large values come from the text, as bigint). */
  private sequence(v: JsonValue | undefined): bigint {
    if (typeof v === 'bigint' && v >= 0n && v <= MAX_SEQUENCE_NUMBER) return v;
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
    return this.refuse(
      'BUNDLE_SEQUENCE_INVALID',
      `"spiffe_sequence" must be an integer in [0, 2^64-1], got ${typeof v === 'bigint' ? v.toString() : JSON.stringify(v)}`,
      57,
    );
  }

  /** R58: whole seconds. */
  private refreshHint(v: JsonValue | undefined): number {
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
    return this.refuse(
      'BUNDLE_REFRESH_HINT_INVALID',
      `"spiffe_refresh_hint" must be a whole number of seconds, got ${typeof v === 'bigint' ? v.toString() : JSON.stringify(v)}`,
      58,
    );
  }

  private entry(entry: JsonValue, i: number): void {
    if (!isJsonObject(entry))
      this.refuse('BUNDLE_JWK_INVALID', `keys[${i}] is not a JSON object`, 55, { index: i });
    const use = entry.use;
    if (use === undefined) {
      this.warn('BUNDLE_JWK_USE_MISSING', 62, `keys[${i}] has no "use"; ignored`);
      return;
    }
    if (use !== USE_X509_SVID && use !== USE_JWT_SVID && use !== USE_WIT_SVID) {
      this.warn('BUNDLE_JWK_USE_UNKNOWN', 62, `keys[${i}] has unknown use ${JSON.stringify(use)}; ignored`);
      return;
    }
    const kty = entry.kty;
    if (kty === undefined) {
      this.warn('BUNDLE_JWK_KTY_MISSING', 61, `keys[${i}] (${use}) has no "kty"; ignored`);
      return;
    }
    if (!isKnownKty(kty)) {
      this.warn(
        'BUNDLE_JWK_KTY_UNKNOWN',
        61,
        `keys[${i}] (${use}) has unknown key type ${JSON.stringify(kty)}; ignored`,
      );
      return;
    }
    if (hasPrivateMembers(entry)) {
      if (this.strict) {
        this.refuse('BUNDLE_JWK_PRIVATE_MEMBERS', `keys[${i}] carries private key members`, 63, { index: i });
      }
      this.warn(
        'BUNDLE_JWK_PRIVATE_MEMBERS',
        63,
        `keys[${i}] (${use}) carries private key members; they were dropped, and that key must be considered leaked`,
      );
    }
    if (use === USE_X509_SVID) this.x509Entry(entry, kty, i);
    else if (use === USE_JWT_SVID) this.jwtEntry(entry, kty, i);
    else this.witEntry(entry, i);
  }

  private x509Entry(entry: JsonObject, kty: string, i: number): void {
    if (entry.kid !== undefined) {
      if (this.strict)
        this.refuse('BUNDLE_X509_KID', `keys[${i}] is an X.509 authority with a "kid"`, 37, { index: i });
      this.warn(
        'BUNDLE_X509_KID',
        37,
        `keys[${i}] (x509-svid) has a "kid", which X.509 authorities must not carry; ignored`,
      );
    }
    const x5c = entry.x5c;
    if (x5c === undefined || (Array.isArray(x5c) && x5c.length === 0)) {
      this.warn('BUNDLE_X5C_EMPTY', 39, `keys[${i}] (x509-svid) has no certificate in "x5c"; ignored`);
      return;
    }
    if (!Array.isArray(x5c) || !x5c.every((c) => typeof c === 'string')) {
      this.refuse('BUNDLE_X5C_INVALID', `keys[${i}].x5c must be an array of base64 strings`, 38, {
        index: i,
      });
    }
    if (x5c.length > 1) {
      if (this.strict) {
        this.refuse(
          'BUNDLE_X5C_MULTIPLE',
          `keys[${i}].x5c holds ${x5c.length} certificates; an X.509 authority entry must hold exactly one`,
          38,
          { index: i },
        );
      }
      this.warn(
        'BUNDLE_X5C_MULTIPLE',
        40,
        `keys[${i}].x5c holds ${x5c.length} certificates; only the first is an authority, the rest are ignored ` +
          '(go-spiffe refuses such a bundle, N4)',
      );
    }
    const b64 = x5c[0] as string;
    if (!STD_BASE64.test(b64)) {
      this.refuse(
        'BUNDLE_X5C_INVALID',
        `keys[${i}].x5c[0] is not standard base64 (RFC 7517 §4.7: not the URL-safe alphabet, no line breaks)`,
        38,
        { index: i },
      );
    }
    let cert: Certificate;
    try {
      cert = parseCertificate(Buffer.from(b64, 'base64'));
    } catch (cause) {
      this.refuse(
        'BUNDLE_X5C_INVALID',
        `keys[${i}].x5c[0] is not a certificate: ${(cause as Error).message}`,
        38,
        {
          cause,
          index: i,
        },
      );
    }
    this.checkKeyMatches(entry, kty, cert, i);
    if (this.x509.hasAuthority(cert)) {
      this.warn(
        'BUNDLE_JWK_DUPLICATE',
        40,
        `keys[${i}] repeats X.509 authority ${cert.subject}; loaded once`,
      );
      return;
    }
    this.x509.addAuthority(cert);
  }

  /** The JWK's own key members, when present, must be the certificate's key (RFC 7517 §4.7). */
  private checkKeyMatches(entry: JsonObject, kty: string, cert: Certificate, i: number): void {
    const members = PUBLIC_MEMBERS[kty] ?? [];
    if (!members.some((m) => entry[m] !== undefined)) return;
    let key: KeyObject;
    try {
      key = importPublicJwk(entry);
    } catch (cause) {
      this.refuse('BUNDLE_JWK_INVALID', `keys[${i}]: ${(cause as Error).message}`, 61, { cause, index: i });
    }
    let same = false;
    try {
      same = key.equals(cert.publicKey);
    } catch {
      same = false;
    }
    if (!same) {
      this.refuse(
        'BUNDLE_X5C_KEY_MISMATCH',
        `keys[${i}]: the JWK's key members do not match the public key of its x5c certificate`,
        38,
        { index: i },
      );
    }
  }

  private jwtEntry(entry: JsonObject, kty: string, i: number): void {
    const kid = entry.kid;
    if (kid === undefined || kid === '') {
      this.refuse(
        'JWT_BUNDLE_KID_MISSING',
        `keys[${i}] is a JWT authority without "kid"; the document is refused (R52, N5)`,
        52,
        { index: i },
      );
    }
    if (typeof kid !== 'string')
      this.refuse('BUNDLE_JWK_INVALID', `keys[${i}].kid must be a string`, 52, { index: i });
    if (kty === 'OKP') {
      this.warn(
        'BUNDLE_JWT_KEY_UNSUPPORTED',
        43,
        `keys[${i}] (kid "${kid}") is an OKP key, which no JWT-SVID algorithm uses; ignored`,
      );
      return;
    }
    let authority: JwtAuthority;
    try {
      authority = createJwtAuthority(kid, entry as JWK);
    } catch (cause) {
      if (cause instanceof SpiffeError && cause.code === 'JWT_BUNDLE_KEY_UNSUPPORTED') {
        this.warn('BUNDLE_JWT_KEY_UNSUPPORTED', 43, `keys[${i}]: ${cause.message}; ignored`);
        return;
      }
      this.refuse('BUNDLE_JWK_INVALID', `keys[${i}] (kid "${kid}"): ${(cause as Error).message}`, 61, {
        cause,
        index: i,
      });
    }
    addParsed(this.jwt, authority, i, this.what, this.warnings);
  }

  /** WIT-SVID keys are not used here (R62 for a consumer without WIT) but kept for re-publication. */
  private witEntry(entry: JsonObject, i: number): void {
    const kid = entry.kid;
    let authority: JwtAuthority;
    try {
      authority = createJwtAuthority(kid as string, entry as JWK);
    } catch (cause) {
      this.warn('BUNDLE_WIT_KEY_INVALID', 135, `keys[${i}] (wit-svid): ${(cause as Error).message}; dropped`);
      return;
    }
    this.wit.setAuthority(authority);
    this.warn(
      'BUNDLE_WIT_KEY_NOT_USED',
      62,
      `keys[${i}] is a WIT-SVID authority (kid "${authority.kid}"); meshbridge does not verify WIT-SVIDs, the key is kept only for re-publication`,
    );
  }
}
