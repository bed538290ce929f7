import { createPrivateKey, type KeyObject } from 'node:crypto';
import { JwtBundle } from '../bundle/jwtbundle.js';
import { X509Bundle, X509BundleSet } from '../bundle/x509bundle.js';
import { type Clock, SpiffeError, type Warning } from '../errors.js';
import { looksLikePem } from '../pem/index.js';
import { SpiffeId, TrustDomain } from '../spiffeid/index.js';
import { parseInsecure } from '../svid/jwtsvid/index.js';
import { keyMatchesCertificate, validateSvidCertificates, type X509Svid } from '../svid/x509svid/svid.js';
import { type Certificate, parseCertificates } from '../x509/certificate.js';
import { JwtBundleSet } from './bundleset.js';
import {
  type JsonValue,
  type JWTBundlesResponseMessage,
  type JWTSVIDResponseMessage,
  structToJson,
  type ValidateJWTSVIDResponseMessage,
  type X509BundlesResponseMessage,
  type X509SVIDMessage,
  type X509SVIDResponseMessage,
} from './proto.js';

/** Rule 106: clients should not accept hints longer than this many bytes. */
export const MAX_HINT_BYTES = 1024;

/** One FetchX509SVID message, validated and parsed. Complete state (rule 84). */
export interface X509Context {
  /** At least one; `svids[0]` is the default identity (rule 106). */
  svids: X509Svid[];
  /** Own trust-domain bundle(s) plus federated bundles; an absent trust domain is revoked (rule 86). */
  bundles: X509BundleSet;
  /** DER CRLs as sent. */
  crls: Uint8Array[];
  /** SVIDs dropped for duplicate (rule 92) or oversized (rule 106) hints. */
  warnings: Warning[];
}

/** One FetchX509Bundles message. */
export interface X509BundlesUpdate {
  bundles: X509BundleSet;
  crls: Uint8Array[];
}

/** A JWT-SVID as received from FetchJWTSVID; the payload was read without verification. */
export interface JwtSvid {
  id: SpiffeId;
  token: string;
  hint?: string;
  /** `aud` as an array (N8: a single string is accepted). */
  audience: string[];
  expiresAt: Date;
  /** The unverified payload. */
  claims: Record<string, JsonValue>;
}

/** The answer of ValidateJWTSVID. */
export interface ValidatedJwtSvid {
  id: SpiffeId;
  claims: Record<string, JsonValue>;
}

function invalid(
  message: string,
  rule: number,
  details?: Record<string, unknown>,
  cause?: unknown,
): SpiffeError {
  return new SpiffeError('WORKLOAD_API_INVALID_RESPONSE', 'input', `Workload API response: ${message}`, {
    rule,
    ...(details === undefined ? {} : { details }),
    ...(cause === undefined ? {} : { cause }),
  });
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Rule 87: a mandatory field at its default value makes the whole message invalid. */
function missing(field: string, rule: number, index?: number): SpiffeError {
  const where = index === undefined ? field : `svids[${index}].${field}`;
  return invalid(`mandatory field ${where} is empty; message discarded`, 87, {
    field: where,
    violates: rule,
  });
}

/** Rules 93/95: these fields are DER; PEM (as java-spiffe's fake sends) is refused. */
function derCertificates(bytes: Uint8Array, field: string, rule: number, allowEmpty: boolean): Certificate[] {
  if (bytes.length === 0 && allowEmpty) return [];
  if (looksLikePem(bytes)) throw invalid(`${field} holds PEM; the Workload API carries DER`, rule, { field });
  let certs: Certificate[];
  try {
    certs = parseCertificates(bytes);
  } catch (err) {
    throw invalid(`${field} is not concatenated DER certificates: ${reason(err)}`, rule, { field }, err);
  }
  if (certs.length === 0 && !allowEmpty) throw invalid(`${field} holds no certificate`, rule, { field });
  return certs;
}

function trustDomainKey(key: string, field: string): TrustDomain {
  try {
    // SPIRE sends `spiffe://td`; go-spiffe also accepts a bare `td` (rule 95).
    return TrustDomain.parse(key);
  } catch (err) {
    throw invalid(
      `${field} key ${JSON.stringify(key)} is not a trust domain: ${reason(err)}`,
      95,
      { field },
      err,
    );
  }
}

function parseId(text: string, field: string): SpiffeId {
  try {
    return SpiffeId.parse(text);
  } catch (err) {
    throw invalid(`${field} ${JSON.stringify(text)} is not a SPIFFE ID: ${reason(err)}`, 91, { field }, err);
  }
}

function parseX509Svid(msg: X509SVIDMessage, index: number): { svid: X509Svid; bundleCerts: Certificate[] } {
  // Rule 91: spiffe_id, x509_svid, x509_svid_key, bundle are mandatory.
  if (msg.spiffe_id === '') throw missing('spiffe_id', 91, index);
  if (msg.x509_svid.length === 0) throw missing('x509_svid', 91, index);
  if (msg.x509_svid_key.length === 0) throw missing('x509_svid_key', 91, index);
  if (msg.bundle.length === 0) throw missing('bundle', 91, index);
  const id = parseId(msg.spiffe_id, `svids[${index}].spiffe_id`);
  const certificates = derCertificates(msg.x509_svid, `svids[${index}].x509_svid`, 93, false);
  const leaf = certificates[0]!;
  let leafId: SpiffeId;
  try {
    // go-spiffe x509svid.ParseRaw structure checks (R21, R23, R27, R30-R32).
    leafId = validateSvidCertificates(certificates);
  } catch (err) {
    const rule = err instanceof SpiffeError && err.rule !== undefined ? err.rule : 21;
    throw invalid(`svids[${index}].x509_svid is not an X509-SVID: ${reason(err)}`, rule, { index }, err);
  }
  if (!leafId.equals(id)) {
    throw invalid(`svids[${index}]: leaf certificate is ${leafId}, but spiffe_id says ${id}`, 91, { index });
  }
  if (looksLikePem(msg.x509_svid_key)) {
    throw invalid(`svids[${index}].x509_svid_key holds PEM; expected DER PKCS#8`, 94, { index });
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: Buffer.from(msg.x509_svid_key), format: 'der', type: 'pkcs8' });
  } catch (err) {
    throw invalid(
      `svids[${index}].x509_svid_key is not an unencrypted DER PKCS#8 key: ${reason(err)}`,
      94,
      { index },
      err,
    );
  }
  if (!keyMatchesCertificate(privateKey, leaf)) {
    throw invalid(`svids[${index}]: private key does not match the leaf certificate`, 94, { index });
  }
  const bundleCerts = derCertificates(msg.bundle, `svids[${index}].bundle`, 95, false);
  const svid: X509Svid = { id, certificates, privateKey };
  if (msg.hint !== '') svid.hint = msg.hint;
  return { svid, bundleCerts };
}

/**
 * Rule 92: keep the first SVID of each non-empty hint, drop later ones (empty hints
 * are never de-duplicated). Rule 106: drop hints longer than 1024 bytes.
 */
export function filterHints<T extends { hint?: string }>(
  items: readonly T[],
  what: string,
): { kept: T[]; warnings: Warning[] } {
  const seen = new Set<string>();
  const kept: T[] = [];
  const warnings: Warning[] = [];
  items.forEach((item, index) => {
    const hint = item.hint ?? '';
    if (Buffer.byteLength(hint, 'utf8') > MAX_HINT_BYTES) {
      warnings.push({
        code: 'WORKLOAD_API_HINT_TOO_LONG',
        rule: 106,
        message: `${what}[${index}] dropped: hint is longer than ${MAX_HINT_BYTES} bytes`,
      });
      return;
    }
    if (hint !== '') {
      if (seen.has(hint)) {
        warnings.push({
          code: 'WORKLOAD_API_HINT_DUPLICATE',
          rule: 92,
          message: `${what}[${index}] dropped: hint ${JSON.stringify(hint)} repeats an earlier one`,
        });
        return;
      }
      seen.add(hint);
    }
    kept.push(item);
  });
  return { kept, warnings };
}

function x509Bundles(entries: Record<string, Buffer>, field: string, into: X509BundleSet): void {
  for (const [key, value] of Object.entries(entries)) {
    const td = trustDomainKey(key, field);
    if (into.has(td)) continue;
    const certs = derCertificates(value, `${field}[${JSON.stringify(key)}]`, 95, true);
    into.add(new X509Bundle(td, certs));
  }
}

/** Validates one X509SVIDResponse (rules 86, 87, 90-95, 106); throws WORKLOAD_API_INVALID_RESPONSE. */
export function parseX509SvidResponse(msg: X509SVIDResponseMessage): X509Context {
  if (msg.svids.length === 0) throw invalid('svids is empty; at least one X509-SVID is required', 90);
  const parsed = msg.svids.map((s, i) => ({ ...parseX509Svid(s, i), hint: s.hint }));
  const { kept, warnings } = filterHints(parsed, 'svids');
  if (kept.length === 0) throw invalid('every X509-SVID was dropped for its hint', 106, { warnings });
  // Own bundles first (the first SVID of a trust domain wins), then federated ones.
  const bundles = new X509BundleSet();
  for (const { svid, bundleCerts } of kept) {
    const td = svid.id.trustDomain;
    if (!bundles.has(td)) bundles.add(new X509Bundle(td, bundleCerts));
  }
  x509Bundles(msg.federated_bundles, 'federated_bundles', bundles);
  return {
    svids: kept.map((k) => k.svid),
    bundles,
    crls: msg.crl.map((c) => new Uint8Array(c)),
    warnings,
  };
}

/** Validates one X509BundlesResponse (rules 87, 95, 97). */
export function parseX509BundlesResponse(msg: X509BundlesResponseMessage): X509BundlesUpdate {
  if (Object.keys(msg.bundles).length === 0) throw missing('bundles', 97);
  const bundles = new X509BundleSet();
  x509Bundles(msg.bundles, 'bundles', bundles);
  return { bundles, crls: msg.crl.map((c) => new Uint8Array(c)) };
}

/** Validates one JWTBundlesResponse (rules 87, 100). Values are JWKS without `use` (N7). */
export function parseJwtBundlesResponse(msg: JWTBundlesResponseMessage): JwtBundleSet {
  if (Object.keys(msg.bundles).length === 0) throw missing('bundles', 100);
  const bundles = new JwtBundleSet();
  for (const [key, value] of Object.entries(msg.bundles)) {
    const td = trustDomainKey(key, 'bundles');
    if (bundles.has(td)) continue;
    let bundle: JwtBundle;
    try {
      bundle = JwtBundle.parse(td, value);
    } catch (err) {
      throw invalid(
        `bundles[${JSON.stringify(key)}] is not a JWKS: ${reason(err)}`,
        100,
        { trustDomain: td.name },
        err,
      );
    }
    bundles.add(bundle);
  }
  return bundles;
}

/**
 * Validates one JWTSVIDResponse (rules 87, 98, 99). Token payloads are read without
 * verifying signatures (the agent is the issuer); `sub` must equal `spiffe_id`,
 * `exp` must be a number in the future, `aud` must contain every requested audience.
 */
export function parseJwtSvidResponse(
  msg: JWTSVIDResponseMessage,
  audience: readonly string[],
  clock: Clock,
): JwtSvid[] {
  if (msg.svids.length === 0) throw invalid('svids is empty; at least one JWT-SVID is required', 99);
  const now = clock().getTime();
  const svids = msg.svids.map((s, index): JwtSvid => {
    if (s.spiffe_id === '') throw missing('spiffe_id', 99, index);
    if (s.svid === '') throw missing('svid', 99, index);
    const id = parseId(s.spiffe_id, `svids[${index}].spiffe_id`);
    let token: ReturnType<typeof parseInsecure>;
    try {
      token = parseInsecure(s.svid);
    } catch (err) {
      throw invalid(`svids[${index}].svid is not a JWT-SVID: ${reason(err)}`, 99, { index }, err);
    }
    if (!token.id.equals(id)) {
      throw invalid(`svids[${index}]: token sub ${token.id} does not match spiffe_id ${id}`, 99, { index });
    }
    const aud = token.audience;
    const missingAud = audience.filter((a) => !aud.includes(a));
    if (missingAud.length > 0) {
      throw invalid(`svids[${index}]: token aud lacks ${JSON.stringify(missingAud)}`, 98, { index });
    }
    const expiresAt = token.expiresAt;
    if (expiresAt === undefined) throw invalid(`svids[${index}]: token has no exp claim`, 99, { index });
    if (expiresAt.getTime() <= now) {
      throw invalid(`svids[${index}]: token expired at ${expiresAt.toISOString()}`, 99, { index });
    }
    const claims = token.claims as Record<string, JsonValue>;
    const svid: JwtSvid = { id, token: s.svid, audience: aud, expiresAt, claims };
    if (s.hint !== '') svid.hint = s.hint;
    return svid;
  });
  const { kept } = filterHints(svids, 'svids');
  if (kept.length === 0) throw invalid('every JWT-SVID was dropped for its hint', 106);
  return kept;
}

/** Validates a ValidateJWTSVIDResponse (rule 101). */
export function parseValidateJwtSvidResponse(msg: ValidateJWTSVIDResponseMessage): ValidatedJwtSvid {
  if (msg.spiffe_id === '') throw missing('spiffe_id', 101);
  return { id: parseId(msg.spiffe_id, 'spiffe_id'), claims: structToJson(msg.claims) };
}
