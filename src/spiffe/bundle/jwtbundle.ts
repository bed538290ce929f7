import { createPublicKey, type KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import { SpiffeError, type Warning } from '../errors.js';
import type { TrustDomain } from '../spiffeid/index.js';
import { isJsonObject } from './json.js';
import { keysOf, readTrustDocument, writeJson } from './jsondoc.js';
import {
  hasPrivateMembers,
  importPublicJwk,
  isKnownKty,
  jwtKeyDescription,
  PUBLIC_MEMBERS,
  publicJwkOf,
  spkiOf,
} from './jwk.js';
import type { JwtBundleSource } from './source.js';

/** One JWT signing authority of a trust domain. Immutable. */
export interface JwtAuthority {
  readonly kid: string;
  /** Public key, imported once and reused for every verification. */
  readonly publicKey: KeyObject;
  /** Public JWK: `kty`, `kid` and the key type's public members, nothing else (rule 63). */
  readonly jwk: Readonly<JWK>;
}

export interface JwtBundleParseResult {
  bundle: JwtBundle;
  warnings: Warning[];
}

/**
 * Builds an authority. `kid` is required (rule 52, N5); the key must be one a
 * JWT-SVID can be verified with (RSA, EC P-256/P-384/P-521; rule 43). A private
 * key is accepted and reduced to its public half.
 * Codes: `JWT_BUNDLE_KID_MISSING`, `JWK_INVALID`, `JWT_BUNDLE_KEY_UNSUPPORTED` (all 'input').
 */
export function createJwtAuthority(kid: string, key: KeyObject | JWK): JwtAuthority {
  if (typeof kid !== 'string' || kid.length === 0) {
    throw new SpiffeError(
      'JWT_BUNDLE_KID_MISSING',
      'input',
      'a JWT authority needs a non-empty key ID (kid)',
      {
        rule: 52,
      },
    );
  }
  let publicKey: KeyObject;
  if (isKeyObject(key)) {
    if (key.type === 'secret') {
      throw new SpiffeError(
        'JWT_BUNDLE_KEY_UNSUPPORTED',
        'input',
        `JWT authority "${kid}": a shared secret can never be a JWT-SVID authority`,
        { rule: 43 },
      );
    }
    publicKey = key.type === 'private' ? publicOf(key) : key;
  } else {
    publicKey = importPublicJwk(key as Record<string, unknown>);
  }
  if (jwtKeyDescription(publicKey) === undefined) {
    throw new SpiffeError(
      'JWT_BUNDLE_KEY_UNSUPPORTED',
      'input',
      `JWT authority "${kid}": ${describeKey(publicKey)} keys cannot verify JWT-SVIDs (RS*, PS*, ES256/384/512 only)`,
      { rule: 43 },
    );
  }
  const pub = publicJwkOf(publicKey) as Record<string, unknown>;
  const jwk: Record<string, unknown> = { kty: pub.kty, kid };
  for (const m of PUBLIC_MEMBERS[pub.kty as string] ?? []) jwk[m] = pub[m];
  return Object.freeze({ kid, publicKey, jwk: Object.freeze(jwk) as JWK });
}

/** True when both authorities carry the same public key (kids aside). */
export function sameKey(a: JwtAuthority, b: JwtAuthority): boolean {
  return a.publicKey.equals(b.publicKey) || spkiOf(a.publicKey).equals(spkiOf(b.publicKey));
}

/**
 * The JWT authorities of one trust domain, keyed by `kid`: what the Workload API
 * delivers in `JWTBundlesResponse` and what JWT-SVID verification consumes.
 * It is its own `JwtBundleSource` for its trust domain.
 */
export class JwtBundle implements JwtBundleSource {
  private readonly byKid = new Map<string, JwtAuthority>();

  constructor(
    readonly trustDomain: TrustDomain,
    authorities: Iterable<JwtAuthority> = [],
  ) {
    for (const a of authorities) this.byKid.set(a.kid, a);
  }

  /**
   * Parses a plain JWKS as the Workload API delivers it. SPIRE strips `use` from
   * these (N7), so a key without `use` is a JWT authority here; `jwt-svid` and
   * `sig` are accepted too. Keys for other uses (`x509-svid`, `wit-svid`, `enc`,
   * ...) and key types that cannot verify a JWT-SVID (`oct`, `OKP`, unknown) are
   * skipped one by one with a warning. A would-be authority without `kid`
   * rejects the whole document (N5, as go-spiffe, java-spiffe and py-spiffe do).
   * Throws `BUNDLE_JSON_INVALID`, `BUNDLE_JSON_DUPLICATE_MEMBER`, `BUNDLE_KEYS_MISSING`,
   * `BUNDLE_KEYS_INVALID`, `BUNDLE_JWK_INVALID`, `JWT_BUNDLE_KID_MISSING`, `JWT_BUNDLE_KID_DUPLICATE`.
   */
  static parse(trustDomain: TrustDomain, json: string | Uint8Array): JwtBundle {
    return JwtBundle.parseWithWarnings(trustDomain, json).bundle;
  }

  static parseWithWarnings(trustDomain: TrustDomain, json: string | Uint8Array): JwtBundleParseResult {
    const what = `JWT bundle for ${trustDomain.name}`;
    const keys = keysOf(readTrustDocument(json, what), what);
    const bundle = new JwtBundle(trustDomain);
    const warnings: Warning[] = [];
    keys.forEach((entry, i) => {
      if (!isJsonObject(entry)) {
        throw new SpiffeError('BUNDLE_JWK_INVALID', 'input', `${what}: keys[${i}] is not a JSON object`);
      }
      const use = entry.use;
      if (use !== undefined && use !== 'jwt-svid' && use !== 'sig') {
        warnings.push({
          code: 'JWT_BUNDLE_KEY_SKIPPED',
          rule: 62,
          message: `keys[${i}] has use ${JSON.stringify(use)}; only JWT signing keys are loaded, this one is ignored`,
        });
        return;
      }
      const kid = entry.kid;
      if (kid === undefined || kid === '') {
        throw new SpiffeError(
          'JWT_BUNDLE_KID_MISSING',
          'input',
          `${what}: keys[${i}] has no "kid"; a JWT authority must have a key ID, so the document is refused (N5)`,
          { rule: 52, details: { index: i } },
        );
      }
      if (typeof kid !== 'string') {
        throw new SpiffeError('BUNDLE_JWK_INVALID', 'input', `${what}: keys[${i}].kid must be a string`, {
          details: { index: i },
        });
      }
      if (!isKnownKty(entry.kty) || entry.kty === 'OKP') {
        warnings.push({
          code: 'JWT_BUNDLE_KEY_SKIPPED',
          rule: 61,
          message: `keys[${i}] (kid "${kid}") has key type ${JSON.stringify(entry.kty ?? null)}, which cannot verify a JWT-SVID; ignored`,
        });
        return;
      }
      if (hasPrivateMembers(entry)) {
        warnings.push({
          code: 'BUNDLE_JWK_PRIVATE_MEMBERS',
          rule: 63,
          message: `keys[${i}] (kid "${kid}") carries private key members; they were dropped and the key material must be considered leaked`,
        });
      }
      let authority: JwtAuthority;
      try {
        authority = createJwtAuthority(kid, entry as JWK);
      } catch (err) {
        if (err instanceof SpiffeError && err.code === 'JWT_BUNDLE_KEY_UNSUPPORTED') {
          warnings.push({
            code: 'JWT_BUNDLE_KEY_SKIPPED',
            rule: 61,
            message: `keys[${i}]: ${err.message}; ignored`,
          });
          return;
        }
        throw new SpiffeError(
          'BUNDLE_JWK_INVALID',
          'input',
          `${what}: keys[${i}] (kid "${kid}"): ${(err as Error).message}`,
          {
            cause: err,
            details: { index: i },
          },
        );
      }
      addParsed(bundle, authority, i, what, warnings);
    });
    return { bundle, warnings };
  }

  get size(): number {
    return this.byKid.size;
  }

  findAuthority(kid: string): JwtAuthority | undefined {
    return this.byKid.get(kid);
  }

  hasAuthority(kid: string): boolean {
    return this.byKid.has(kid);
  }

  /** Authorities in insertion order. */
  authorities(): JwtAuthority[] {
    return [...this.byKid.values()];
  }

  /** Adds (or replaces) the authority for `kid` and returns it. */
  addAuthority(kid: string, key: KeyObject | JWK): JwtAuthority {
    const a = createJwtAuthority(kid, key);
    this.byKid.set(kid, a);
    return a;
  }

  /** Adds (or replaces) a ready-made authority. */
  setAuthority(authority: JwtAuthority): void {
    this.byKid.set(authority.kid, authority);
  }

  removeAuthority(kid: string): boolean {
    return this.byKid.delete(kid);
  }

  clone(): JwtBundle {
    return new JwtBundle(this.trustDomain, this.byKid.values());
  }

  /** Same trust domain and the same kid → key mapping. */
  equals(other: JwtBundle): boolean {
    if (!this.trustDomain.equals(other.trustDomain) || this.size !== other.size) return false;
    for (const a of this.byKid.values()) {
      const b = other.findAuthority(a.kid);
      if (b === undefined || !sameKey(a, b)) return false;
    }
    return true;
  }

  /**
   * A plain JWKS (`{"keys":[{kty,kid,...}]}`, no `use`), as the Workload API and
   * go-spiffe's `jwtbundle.Marshal` write it. Public members only.
   */
  marshal(options: { indent?: number } = {}): string {
    return writeJson({ keys: this.authorities().map((a) => a.jwk) }, options.indent);
  }

  /** `BUNDLE_NOT_FOUND` ('verdict') for any other trust domain (rule 20). */
  getJwtBundleForTrustDomain(td: TrustDomain): JwtBundle {
    if (!td.equals(this.trustDomain)) {
      throw bundleNotFound(td, 'JWT');
    }
    return this;
  }
}

export function bundleNotFound(td: TrustDomain, kind: 'JWT' | 'X.509' | 'SPIFFE'): SpiffeError {
  return new SpiffeError('BUNDLE_NOT_FOUND', 'verdict', `no ${kind} bundle for trust domain "${td.name}"`, {
    rule: 20,
    details: { trustDomain: td.name },
  });
}

/** Shared by the JWKS and SPIFFE-bundle parsers: duplicate kids (N5 neighbourhood). */
export function addParsed(
  bundle: { findAuthority(kid: string): JwtAuthority | undefined; setAuthority(a: JwtAuthority): void },
  authority: JwtAuthority,
  index: number,
  what: string,
  warnings: Warning[],
): void {
  const existing = bundle.findAuthority(authority.kid);
  if (existing !== undefined) {
    if (!sameKey(existing, authority)) {
      throw new SpiffeError(
        'JWT_BUNDLE_KID_DUPLICATE',
        'input',
        `${what}: keys[${index}] reuses kid "${authority.kid}" for a different key; the document is ambiguous and refused`,
        { rule: 52, details: { index, kid: authority.kid } },
      );
    }
    warnings.push({
      code: 'BUNDLE_JWK_DUPLICATE',
      rule: 52,
      message: `keys[${index}] repeats the key with kid "${authority.kid}"; loaded once`,
    });
    return;
  }
  bundle.setAuthority(authority);
}

function isKeyObject(k: unknown): k is KeyObject {
  return typeof k === 'object' && k !== null && typeof (k as KeyObject).export === 'function' && 'type' in k;
}

function publicOf(key: KeyObject): KeyObject {
  return createPublicKey(key);
}

function describeKey(key: KeyObject): string {
  const d = key.asymmetricKeyDetails;
  return [key.asymmetricKeyType ?? key.type, d?.namedCurve].filter(Boolean).join(' ');
}
