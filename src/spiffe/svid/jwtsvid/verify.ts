import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import type { JwtAuthority, JwtBundle } from '../../bundle/jwtbundle.js';
import type { JwtBundleSource } from '../../bundle/source.js';
import { type Clock, SpiffeError, systemClock } from '../../errors.js';
import { SpiffeId } from '../../spiffeid/index.js';
import { type CryptoPlan, checkAlgorithm, cryptoPlan, type JwtSvidAlgorithm } from './algorithms.js';

/**
 * JWT-SVID verification (JWT-SVID.md §4). The checks run in the order below and
 * each failure has its own code; every code is category 'verdict' except
 * `JWT_MALFORMED` ('input') and the options errors ('internal').
 *
 *  1. compact serialization, three base64url parts, JSON header and payload  R41  JWT_MALFORMED
 *  2. `alg` in the allowed list, before anything else                     R43/44  JWT_ALG_NONE / JWT_ALG_HMAC / JWT_ALG_UNSUPPORTED
 *  3. no `crit` header (no extension is understood, RFC 7515 §4.1.11)           JWT_CRIT_UNSUPPORTED
 *  4. `typ`, when present, is `JWT` or `JOSE`                                R46  JWT_TYP_INVALID
 *  5. `sub` is a valid SPIFFE ID                                             R47  JWT_SUBJECT_INVALID
 *  6. the bundle of `sub`'s trust domain, never a pooled one             R50/R20  BUNDLE_NOT_FOUND (from the source)
 *  7. the authority named by `kid`; without `kid` only a one-key bundle     N6   JWT_KID_UNKNOWN / JWT_KID_MISSING
 *  8. the signature, through node:crypto (OpenSSL)                           R50  JWT_SIGNATURE_INVALID
 *  9. `aud` (string or array) holds an expected audience                R48/N8  JWT_AUDIENCE_MISSING / JWT_AUDIENCE_MISMATCH
 * 10. `exp` present and not passed (with the tolerance)                      R49  JWT_EXP_MISSING / JWT_EXPIRED
 * 11. `nbf`, when present, not in the future                                      JWT_NOT_YET_VALID
 * Claims of the wrong JSON type (`exp: "soon"`, `aud: 7`) give JWT_CLAIM_INVALID.
 */

export interface VerifyJwtSvidOptions {
  /** The audience this validator expects; with several, any one of them is enough (as go-spiffe). */
  audience: string | string[];
  clock?: Clock;
  /** Leeway for `exp` and `nbf`, in seconds (default 30). */
  clockToleranceSeconds?: number;
}

export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 30;

export interface JwtSvidHeader {
  readonly alg: JwtSvidAlgorithm;
  readonly kid?: string;
  readonly typ?: string;
  readonly [member: string]: unknown;
}

export interface JwtSvidClaims {
  sub?: unknown;
  aud?: unknown;
  exp?: unknown;
  nbf?: unknown;
  iat?: unknown;
  [claim: string]: unknown;
}

export interface VerifiedJwtSvid {
  id: SpiffeId;
  /** The token's audience, always as an array. */
  audience: string[];
  expiresAt: Date;
  claims: JwtSvidClaims;
  header: JwtSvidHeader;
  /** The kid of the authority whose key verified the signature (also when the header had none, N6). */
  kid: string;
}

export interface InsecureJwtSvid {
  id: SpiffeId;
  audience: string[];
  expiresAt: Date | undefined;
  claims: JwtSvidClaims;
  header: JwtSvidHeader;
  kid: string | undefined;
}

/** Verifies a JWT-SVID against the bundle of the trust domain named in its `sub`. */
export function verifyJwtSvid(
  token: string,
  source: JwtBundleSource,
  options: VerifyJwtSvidOptions,
): VerifiedJwtSvid {
  const expected = expectedAudience(options.audience);
  const toleranceMs = toleranceOf(options.clockToleranceSeconds);
  const clock = options.clock ?? systemClock;

  const parts = splitCompact(token);
  const header = readHeader(parts.header);
  const claims = readPayload(parts.payload);
  const id = subjectOf(claims);

  const bundle = source.getJwtBundleForTrustDomain(id.trustDomain);
  const authority = authorityFor(bundle, header.kid, id);
  checkSignature(token, parts, header.alg, authority);

  const audience = audienceOf(claims);
  if (!expected.some((a) => audience.includes(a))) {
    throw new SpiffeError(
      'JWT_AUDIENCE_MISMATCH',
      'verdict',
      `token audience ${JSON.stringify(audience)} does not include ${expected.length === 1 ? JSON.stringify(expected[0]) : `any of ${JSON.stringify(expected)}`}`,
      { rule: 48, details: { audience, expected } },
    );
  }
  const now = clock().getTime();
  const exp = claims.exp;
  if (exp === undefined || exp === null) {
    throw new SpiffeError('JWT_EXP_MISSING', 'verdict', 'token has no "exp"; a JWT-SVID must expire', {
      rule: 49,
    });
  }
  const expiresAt = numericDate(exp, 'exp');
  if (now >= expiresAt.getTime() + toleranceMs) {
    throw new SpiffeError('JWT_EXPIRED', 'verdict', `token expired at ${expiresAt.toISOString()}`, {
      rule: 49,
      details: { expiresAt: expiresAt.toISOString(), now: new Date(now).toISOString() },
    });
  }
  if (claims.nbf !== undefined) {
    const notBefore = numericDate(claims.nbf, 'nbf');
    if (now + toleranceMs < notBefore.getTime()) {
      throw new SpiffeError(
        'JWT_NOT_YET_VALID',
        'verdict',
        `token is not valid before ${notBefore.toISOString()}`,
        {
          details: { notBefore: notBefore.toISOString(), now: new Date(now).toISOString() },
        },
      );
    }
  }
  if (claims.iat !== undefined) numericDate(claims.iat, 'iat');
  return { id, audience, expiresAt, claims, header, kid: authority.kid };
}

/**
 * Decodes a JWT-SVID without verifying its signature, audience or lifetime: for
 * peeking (which trust domain, which kid, when it expires). The structural checks
 * still apply (R41 form, R43 `alg`, R46 `typ`, R47 `sub`). Never base a decision on it.
 */
export function parseInsecure(token: string): InsecureJwtSvid {
  const parts = splitCompact(token);
  const header = readHeader(parts.header);
  const claims = readPayload(parts.payload);
  const id = subjectOf(claims);
  const audience = claims.aud === undefined ? [] : audienceOf(claims);
  const expiresAt = claims.exp === undefined ? undefined : numericDate(claims.exp, 'exp');
  return { id, audience, expiresAt, claims, header, kid: header.kid };
}

// ---------------------------------------------------------------------------

interface CompactParts {
  header: string;
  payload: string;
  /** Index of the second dot: the signing input is `token.slice(0, dot2)`. */
  dot2: number;
  signature: string;
}

const B64URL = /^[A-Za-z0-9_-]+$/;

function malformed(message: string): SpiffeError {
  return new SpiffeError('JWT_MALFORMED', 'input', message, { rule: 41 });
}

function splitCompact(token: string): CompactParts {
  if (typeof token !== 'string' || token.length === 0) throw malformed('token is empty');
  if (token.charCodeAt(0) === 0x7b /* { */) {
    throw malformed('token uses the JWS JSON serialization; JWT-SVIDs use the compact form only');
  }
  const dot1 = token.indexOf('.');
  const dot2 = dot1 === -1 ? -1 : token.indexOf('.', dot1 + 1);
  if (dot2 === -1 || token.indexOf('.', dot2 + 1) !== -1) {
    throw malformed('token is not a JWS in compact form (three base64url parts separated by dots)');
  }
  const header = token.slice(0, dot1);
  const payload = token.slice(dot1 + 1, dot2);
  const signature = token.slice(dot2 + 1);
  if (!B64URL.test(header) || header.length % 4 === 1) throw malformed('token header is not base64url');
  if (!B64URL.test(payload) || payload.length % 4 === 1) throw malformed('token payload is not base64url');
  // An empty signature passes here so that `alg: none` is reported as such (R43); it never verifies.
  if (signature.length > 0 && (!B64URL.test(signature) || signature.length % 4 === 1)) {
    throw malformed('token signature is not base64url');
  }
  return { header, payload, dot2, signature };
}

function decodeJsonObject(part: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw malformed(`token ${what} is not JSON`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw malformed(`token ${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

// Headers repeat (one per signing key), so the judged header is cached by its text.
const headerCache = new Map<string, JwtSvidHeader>();
const HEADER_CACHE_MAX = 256;

function readHeader(part: string): JwtSvidHeader {
  const cached = headerCache.get(part);
  if (cached !== undefined) return cached;
  const h = decodeJsonObject(part, 'header');
  checkAlgorithm(h.alg); // R44: first
  if (h.crit !== undefined) {
    throw new SpiffeError(
      'JWT_CRIT_UNSUPPORTED',
      'verdict',
      `token header marks ${JSON.stringify(h.crit)} critical; no JOSE extension is supported for JWT-SVIDs`,
      { rule: 42 },
    );
  }
  if (h.typ !== undefined && h.typ !== 'JWT' && h.typ !== 'JOSE') {
    throw new SpiffeError(
      'JWT_TYP_INVALID',
      'verdict',
      `token "typ" is ${JSON.stringify(h.typ)}; a JWT-SVID's typ is "JWT" or "JOSE" when present`,
      { rule: 46 },
    );
  }
  if (h.kid !== undefined && typeof h.kid !== 'string') throw malformed('token header "kid" is not a string');
  const header = Object.freeze(h) as JwtSvidHeader;
  if (headerCache.size >= HEADER_CACHE_MAX) headerCache.clear();
  headerCache.set(part, header);
  return header;
}

function readPayload(part: string): JwtSvidClaims {
  return decodeJsonObject(part, 'payload');
}

function subjectOf(claims: JwtSvidClaims): SpiffeId {
  const sub = claims.sub;
  if (typeof sub !== 'string') {
    throw new SpiffeError(
      'JWT_SUBJECT_INVALID',
      'verdict',
      sub === undefined ? 'token has no "sub"; it must be the SPIFFE ID' : 'token "sub" is not a string',
      { rule: 47 },
    );
  }
  try {
    return SpiffeId.parse(sub);
  } catch (cause) {
    const reason = cause instanceof SpiffeError ? cause.code : undefined;
    throw new SpiffeError(
      'JWT_SUBJECT_INVALID',
      'verdict',
      `token "sub" ${JSON.stringify(sub)} is not a SPIFFE ID: ${(cause as Error).message}`,
      { rule: 47, cause, details: { sub, reason } },
    );
  }
}

function authorityFor(bundle: JwtBundle, kid: string | undefined, id: SpiffeId): JwtAuthority {
  if (kid !== undefined) {
    const a = bundle.findAuthority(kid);
    if (a === undefined) {
      throw new SpiffeError(
        'JWT_KID_UNKNOWN',
        'verdict',
        `no JWT authority with kid "${kid}" in the bundle of ${id.trustDomain.name}; refresh the bundle or check the issuer`,
        { rule: 50, details: { kid, trustDomain: id.trustDomain.name } },
      );
    }
    return a;
  }
  // N6: kid is optional in the spec; without one, only an unambiguous bundle will do.
  if (bundle.size === 1) return bundle.authorities()[0]!;
  throw new SpiffeError(
    'JWT_KID_MISSING',
    'verdict',
    `token header has no "kid" and the bundle of ${id.trustDomain.name} holds ${bundle.size} keys; cannot tell which one signed it`,
    { rule: 45, details: { keys: bundle.size, trustDomain: id.trustDomain.name } },
  );
}

// One node:crypto plan per (public key, alg), built on first use.
const plans = new WeakMap<KeyObject, Map<JwtSvidAlgorithm, CryptoPlan | string>>();

function planFor(key: KeyObject, alg: JwtSvidAlgorithm): CryptoPlan | string {
  let byAlg = plans.get(key);
  if (byAlg === undefined) {
    byAlg = new Map();
    plans.set(key, byAlg);
  }
  let plan = byAlg.get(alg);
  if (plan === undefined) {
    plan = cryptoPlan(key, alg);
    byAlg.set(alg, plan);
  }
  return plan;
}

function checkSignature(
  token: string,
  parts: CompactParts,
  alg: JwtSvidAlgorithm,
  authority: JwtAuthority,
): void {
  const plan = planFor(authority.publicKey, alg);
  if (typeof plan === 'string') {
    throw new SpiffeError('JWT_SIGNATURE_INVALID', 'verdict', `signature cannot verify: ${plan}`, {
      rule: 50,
      details: { kid: authority.kid, alg, reason: 'key-algorithm-mismatch' },
    });
  }
  const signature = Buffer.from(parts.signature, 'base64url');
  let ok = false;
  if (plan.signatureLength === undefined || signature.length === plan.signatureLength) {
    try {
      ok = cryptoVerify(plan.hash, Buffer.from(token.slice(0, parts.dot2), 'latin1'), plan.key, signature);
    } catch {
      ok = false;
    }
  }
  if (!ok) {
    throw new SpiffeError(
      'JWT_SIGNATURE_INVALID',
      'verdict',
      `token signature does not verify with the key "${authority.kid}" (${alg})`,
      { rule: 50, details: { kid: authority.kid, alg } },
    );
  }
}

function audienceOf(claims: JwtSvidClaims): string[] {
  const aud = claims.aud;
  if (aud === undefined || aud === null) {
    throw new SpiffeError(
      'JWT_AUDIENCE_MISSING',
      'verdict',
      'token has no "aud"; a JWT-SVID names its audience',
      {
        rule: 48,
      },
    );
  }
  let list: string[];
  if (typeof aud === 'string') list = [aud];
  else if (Array.isArray(aud) && aud.every((a) => typeof a === 'string')) list = aud as string[];
  else {
    throw new SpiffeError(
      'JWT_CLAIM_INVALID',
      'verdict',
      'token "aud" must be a string or an array of strings',
      {
        rule: 48,
        details: { claim: 'aud' },
      },
    );
  }
  if (list.length === 0) {
    throw new SpiffeError(
      'JWT_AUDIENCE_MISSING',
      'verdict',
      'token "aud" is an empty array; it needs one value or more',
      {
        rule: 48,
      },
    );
  }
  return list;
}

function numericDate(v: unknown, claim: 'exp' | 'nbf' | 'iat'): Date {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new SpiffeError(
      'JWT_CLAIM_INVALID',
      'verdict',
      `token "${claim}" is not a NumericDate (seconds since 1970)`,
      {
        rule: 49,
        details: { claim },
      },
    );
  }
  return new Date(v * 1000);
}

function expectedAudience(audience: string | string[]): string[] {
  const list = typeof audience === 'string' ? [audience] : audience;
  if (
    !Array.isArray(list) ||
    list.length === 0 ||
    !list.every((a) => typeof a === 'string' && a.length > 0)
  ) {
    throw new SpiffeError(
      'JWT_OPTIONS_INVALID',
      'internal',
      'verifyJwtSvid needs the expected audience: a non-empty string or a non-empty array of them',
    );
  }
  return list;
}

function toleranceOf(seconds: number | undefined): number {
  if (seconds === undefined) return DEFAULT_CLOCK_TOLERANCE_SECONDS * 1000;
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new SpiffeError('JWT_OPTIONS_INVALID', 'internal', 'clockToleranceSeconds must be a number >= 0');
  }
  return seconds * 1000;
}
