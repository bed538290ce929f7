import type { X509BundleSource } from '../../bundle/source.js';
import { mayHaveIssued, type X509Bundle } from '../../bundle/x509bundle.js';
import { type Clock, SpiffeError, systemClock, type Warning } from '../../errors.js';
import { SpiffeId, type TrustDomain } from '../../spiffeid/index.js';
import { type Certificate, OID, parseCertificates } from '../../x509/certificate.js';
import { nameConstraintViolation } from '../../x509/nameconstraints.js';
import { verifySignature } from '../../x509/signature.js';
import type { VerificationCache } from './cache.js';
import { spiffeIdFromCertificate } from './svid.js';

/**
 * Every verdict of this verifier: code → [rule of spiffe-rules.md, what is wrong].
 * Leaf messages stand alone; signing-certificate messages follow the certificate's
 * role and subject.
 */
const RULES = {
  SVID_ID_NO_PATH: [23, 'leaf SPIFFE ID has no path; a workload ID needs one'],
  SVID_LEAF_IS_CA: [
    26,
    'leaf certificate has the CA flag set; a signing certificate is never a workload identity',
  ],
  SVID_KEY_USAGE_MISSING: [29, 'leaf certificate has no key usage extension'],
  SVID_KEY_USAGE_NOT_CRITICAL: [29, 'leaf key usage extension is not marked critical (N3)'],
  SVID_LEAF_NO_DIGITAL_SIGNATURE: [31, "leaf certificate must have 'digitalSignature' set as key usage"],
  SVID_LEAF_KEY_CERT_SIGN: [32, "leaf certificate must not have 'keyCertSign' set as key usage"],
  SVID_LEAF_CRL_SIGN: [32, "leaf certificate must not have 'cRLSign' set as key usage"],
  SVID_EKU_MISSING_AUTH: [33, 'leaf extended key usage lacks serverAuth and/or clientAuth'],
  SVID_SUBJECT_EMPTY_SAN_NOT_CRITICAL: [24, 'leaf subject is empty but its SAN extension is not critical'],
  SIGNING_CERT_NOT_CA: [27, 'does not have the CA flag set'],
  SIGNING_CERT_KEY_USAGE_MISSING: [29, 'has no key usage extension'],
  SIGNING_CERT_NO_KEY_CERT_SIGN: [30, "must have 'keyCertSign' set as key usage"],
  SIGNING_CERT_KEY_USAGE_NOT_CRITICAL: [29, 'key usage extension is not marked critical (N3)'],
  SIGNING_CERT_DIGITAL_SIGNATURE: [30, 'sets digitalSignature; accepted (N2)'],
  SIGNING_CERT_ID_HAS_PATH: [25, 'carries a SPIFFE ID with a path'],
  CHAIN_CERT_NOT_YET_VALID: [34, 'is not valid yet'],
  CHAIN_CERT_EXPIRED: [34, 'has expired'],
  CHAIN_PATH_LEN_EXCEEDED: [34, 'allows fewer intermediates below it than the path has'],
  CHAIN_NAME_CONSTRAINT_VIOLATION: [28, 'has name constraints that a name below it violates'],
  CHAIN_UNHANDLED_CRITICAL_EXTENSION: [34, 'has unhandled critical extension(s)'],
} as const satisfies Record<string, readonly [number, string]>;

type Code = keyof typeof RULES;

export interface VerifyX509SvidOptions {
  /** The instant to judge validity windows at (default: system time). */
  clock?: Clock;
  /**
   * `false` (default): go-spiffe/SPIRE verdicts; every tolerated deviation from a
   * MUST is reported as a Warning. `true`: every MUST is enforced as an error.
   */
  strict?: boolean;
  /** Remembers verified (issuer, subject) signatures across calls. */
  cache?: VerificationCache;
  /** Longest accepted run of intermediates between leaf and anchor (default 8). */
  maxIntermediates?: number;
}

export interface X509SvidVerification {
  id: SpiffeId;
  trustDomain: TrustDomain;
  /** Leaf first, anchor last (a leaf that is itself an authority gives `[leaf]`). */
  chain: Certificate[];
  anchor: Certificate;
  warnings: Warning[];
}

export interface X509PathResult {
  chain: Certificate[];
  anchor: Certificate;
  warnings: Warning[];
}

/**
 * Verifies an X.509-SVID presented as leaf + intermediates, in any order, against the
 * bundle of the trust domain named in the leaf's own SPIFFE ID (R20). Throws a
 * SpiffeError whose code names the broken rule; see the guard lists below.
 */
export function verifyX509Svid(
  presented: readonly Certificate[] | Uint8Array | string,
  source: X509BundleSource,
  opts: VerifyX509SvidOptions = {},
): X509SvidVerification {
  const certs = Array.isArray(presented)
    ? (presented as readonly Certificate[])
    : parseCertificates(presented as Uint8Array | string);
  if (certs.length === 0) {
    throw new SpiffeError('SVID_NO_CERTIFICATES', 'input', 'no certificates were presented', { rule: 21 });
  }
  const guards = new Guards(opts.strict === true);
  const leafIndex = pickLeaf(certs);
  const leaf = certs[leafIndex]!;
  const id = spiffeIdFromCertificate(leaf); // R21: exactly one URI SAN, a valid SPIFFE ID
  checkLeaf(leaf, id, guards);

  const bundle = source.getX509BundleForTrustDomain(id.trustDomain); // R20: BUNDLE_NOT_FOUND
  if (!bundle.trustDomain.equals(id.trustDomain)) {
    throw verdict(
      'TRUST_DOMAIN_MISMATCH',
      20,
      `the source answered for trust domain "${id.trustDomain.name}" with the bundle of "${bundle.trustDomain.name}"`,
    );
  }
  const others = certs.filter((_, i) => i !== leafIndex);
  const path = validateX509Path(leaf, others, bundle, opts);
  return {
    id,
    trustDomain: id.trustDomain,
    chain: path.chain,
    anchor: path.anchor,
    warnings: [...guards.warnings, ...path.warnings],
  };
}

/**
 * Leaf guards, one rule and one code per line (see RULES). `g.error` always throws;
 * `g.tolerate` throws in strict mode and records a Warning otherwise.
 */
function checkLeaf(leaf: Certificate, id: SpiffeId, g: Guards): void {
  const ku = leaf.keyUsage;
  const eku = leaf.extKeyUsage;
  const san = leaf.subjectAltName;
  if (id.isTrustDomainId()) g.error('SVID_ID_NO_PATH');
  if (leaf.basicConstraints?.ca === true) g.error('SVID_LEAF_IS_CA');
  if (ku === undefined) g.error('SVID_KEY_USAGE_MISSING');
  if (ku !== undefined && !ku.critical) g.tolerate('SVID_KEY_USAGE_NOT_CRITICAL');
  if (ku !== undefined && !ku.flags.has('digitalSignature')) g.error('SVID_LEAF_NO_DIGITAL_SIGNATURE');
  if (ku?.flags.has('keyCertSign')) g.error('SVID_LEAF_KEY_CERT_SIGN');
  if (ku?.flags.has('cRLSign')) g.error('SVID_LEAF_CRL_SIGN');
  if (eku !== undefined && !coversTlsAuth(eku.oids)) g.tolerate('SVID_EKU_MISSING_AUTH');
  if (leaf.subjectEmpty && san?.critical !== true) g.tolerate('SVID_SUBJECT_EMPTY_SAN_NOT_CRITICAL');
}

/**
 * RFC 5280 path validation (R34) from `leaf` through any of `intermediates` to an
 * authority of `bundle`: validity windows of every certificate at the clock,
 * signatures (by key, never by name alone: N12), CA flags, keyCertSign, path length,
 * name constraints, unhandled critical extensions. An anchor need not be
 * self-signed. Exported for the openssl agreement test and for callers that have
 * already applied the leaf guards.
 */
export function validateX509Path(
  leaf: Certificate,
  intermediates: readonly Certificate[],
  bundle: X509Bundle,
  opts: VerifyX509SvidOptions = {},
): X509PathResult {
  const now = (opts.clock ?? systemClock)().getTime();
  const strict = opts.strict === true;
  if (now < leaf.notBefore.getTime()) {
    throw verdict(
      'SVID_NOT_YET_VALID',
      34,
      `leaf certificate is not valid before ${leaf.notBefore.toISOString()}`,
      {
        notBefore: leaf.notBefore.toISOString(),
      },
    );
  }
  if (now > leaf.notAfter.getTime()) {
    throw verdict('SVID_EXPIRED', 34, `leaf certificate expired at ${leaf.notAfter.toISOString()}`, {
      notAfter: leaf.notAfter.toISOString(),
    });
  }
  if (leaf.unhandledCriticalExtensions.length > 0) {
    const list = leaf.unhandledCriticalExtensions.join(', ');
    throw verdict(
      'CHAIN_UNHANDLED_CRITICAL_EXTENSION',
      34,
      `leaf certificate has unhandled critical extension(s): ${list}`,
    );
  }
  if (bundle.isEmpty()) {
    throw verdict(
      'CHAIN_NO_ANCHOR',
      60,
      `the bundle of "${bundle.trustDomain.name}" holds no authorities; it trusts nothing`,
    );
  }
  if (bundle.hasAuthority(leaf)) {
    // The leaf itself is a configured authority (go-spiffe/crypto/x509 accept this as a one-element chain).
    return { chain: [leaf], anchor: leaf, warnings: [] };
  }
  const ctx: SearchContext = {
    now,
    strict,
    cache: opts.cache,
    bundle,
    intermediates: dedupe(intermediates, leaf),
    maxIntermediates: opts.maxIntermediates ?? 8,
    firstError: undefined,
    signatureError: undefined,
  };
  const chain = search(ctx, [leaf], new Set([leaf.fingerprint]));
  if (chain === undefined) {
    throw (
      ctx.firstError ??
      ctx.signatureError ??
      verdict(
        'CHAIN_NO_ANCHOR',
        34,
        `no certification path from the leaf (issuer "${leaf.issuer}") to an authority of "${bundle.trustDomain.name}"`,
      )
    );
  }
  const warnings: Warning[] = [];
  for (let i = 1; i < chain.length; i++) {
    const role = i === chain.length - 1 ? 'anchor' : 'intermediate';
    for (const f of signingCertFindings(chain[i]!, role, chain.slice(0, i), now)) {
      if (f.severity !== 'error') warnings.push({ code: f.code, rule: f.rule, message: f.message });
    }
  }
  return { chain, anchor: chain[chain.length - 1]!, warnings };
}

// ---------------------------------------------------------------------------

interface SearchContext {
  now: number;
  strict: boolean;
  cache: VerificationCache | undefined;
  bundle: X509Bundle;
  intermediates: readonly Certificate[];
  maxIntermediates: number;
  /** First hard failure on a link whose signature verified (most telling). */
  firstError: SpiffeError | undefined;
  signatureError: SpiffeError | undefined;
}

/**
 * Depth-first: authorities first, then presented intermediates, backtracking on
 * failure. Candidates matched by key identifier or exact name bytes are tried before
 * those matched only by case-folded name text.
 */
function search(ctx: SearchContext, chain: Certificate[], used: Set<string>): Certificate[] | undefined {
  return searchWith(ctx, chain, used, 'exact') ?? searchWith(ctx, chain, used, 'canonical');
}

function searchWith(
  ctx: SearchContext,
  chain: Certificate[],
  used: Set<string>,
  match: 'exact' | 'canonical',
): Certificate[] | undefined {
  const cert = chain[chain.length - 1]!;
  for (const anchor of ctx.bundle.candidateIssuers(cert, match)) {
    if (!signedBy(ctx, anchor, cert)) continue;
    if (rejected(ctx, anchor, 'anchor', chain)) continue;
    return [...chain, anchor];
  }
  if (chain.length > ctx.maxIntermediates) return undefined;
  for (const inter of ctx.intermediates) {
    if (used.has(inter.fingerprint) || !mayHaveIssued(inter, cert, match)) continue;
    if (!signedBy(ctx, inter, cert)) continue;
    if (rejected(ctx, inter, 'intermediate', chain)) continue;
    used.add(inter.fingerprint);
    const found = search(ctx, [...chain, inter], used);
    if (found !== undefined) return found;
    used.delete(inter.fingerprint);
  }
  return undefined;
}

function signedBy(ctx: SearchContext, issuer: Certificate, subject: Certificate): boolean {
  if (ctx.cache?.has(issuer.fingerprint, subject.fingerprint)) return true;
  let ok: boolean;
  try {
    ok = verifySignature(subject, issuer.publicKey);
  } catch (err) {
    if (!(err instanceof SpiffeError)) throw err;
    ctx.firstError ??= err;
    return false;
  }
  if (!ok) {
    ctx.signatureError ??= verdict(
      'CHAIN_SIGNATURE_INVALID',
      34,
      `the signature of "${subject.subject || '<empty subject>'}" does not verify under the key of candidate issuer "${issuer.subject}"`,
      { subject: subject.fingerprint, issuer: issuer.fingerprint },
    );
    return false;
  }
  ctx.cache?.remember(issuer.fingerprint, subject.fingerprint);
  return true;
}

function rejected(ctx: SearchContext, cert: Certificate, role: Role, below: readonly Certificate[]): boolean {
  for (const f of signingCertFindings(cert, role, below, ctx.now)) {
    if (f.severity === 'error' || (f.severity === 'tolerated' && ctx.strict)) {
      ctx.firstError ??= verdict(f.code, f.rule, f.message, { fingerprint: cert.fingerprint, role });
      return true;
    }
  }
  return false;
}

type Role = 'intermediate' | 'anchor';
type Severity = 'error' | 'tolerated' | 'note';

interface Finding {
  severity: Severity;
  code: Code;
  rule: number;
  message: string;
}

/**
 * Signing-certificate guards, one rule and one code per line (see RULES). `below` is
 * the chain from the leaf up to the certificate `cert` signed. Anchors are
 * operator-configured trust: their CA flag and key usage are tolerated (warned) by
 * default, as go-spiffe does, and enforced in strict mode. Time, path length and name
 * constraints are judged on every call; the rest depends on the certificate alone and
 * is computed once per certificate and role.
 */
function signingCertFindings(
  cert: Certificate,
  role: Role,
  below: readonly Certificate[],
  now: number,
): readonly Finding[] {
  const pathLen = cert.basicConstraints?.pathLen;
  const nc = cert.nameConstraints;
  const fixed = staticFindings(cert, role);
  const notYetValid = now < cert.notBefore.getTime();
  const expired = now > cert.notAfter.getTime();
  const tooDeep = pathLen !== undefined && below.length - 1 > pathLen;
  const outside =
    nc === undefined ? undefined : below.map((c) => nameConstraintViolation(nc, c)).find(Boolean);
  if (!notYetValid && !expired && !tooDeep && outside === undefined) return fixed;
  const out: Finding[] = [];
  const nb = cert.notBefore.toISOString();
  const na = cert.notAfter.toISOString();
  if (notYetValid) out.push(finding(cert, role, 'error', 'CHAIN_CERT_NOT_YET_VALID', `: not before ${nb}`));
  if (expired) out.push(finding(cert, role, 'error', 'CHAIN_CERT_EXPIRED', `: not after ${na}`));
  out.push(...fixed);
  if (tooDeep) out.push(finding(cert, role, 'error', 'CHAIN_PATH_LEN_EXCEEDED', `: pathLen ${pathLen}`));
  if (outside) out.push(finding(cert, role, 'error', 'CHAIN_NAME_CONSTRAINT_VIOLATION', `: ${outside}`));
  return out;
}

const fixedFindings = new WeakMap<Certificate, Partial<Record<Role, readonly Finding[]>>>();

function staticFindings(cert: Certificate, role: Role): readonly Finding[] {
  let entry = fixedFindings.get(cert);
  if (entry === undefined) {
    entry = {};
    fixedFindings.set(cert, entry);
  }
  entry[role] ??= computeStaticFindings(cert, role);
  return entry[role]!;
}

function computeStaticFindings(c: Certificate, role: Role): readonly Finding[] {
  const out: Finding[] = [];
  const ku = c.keyUsage;
  const anchor = role === 'anchor';
  const soft: Severity = anchor ? 'tolerated' : 'error';
  const idPath = signingIdWithPath(c);
  const critical = c.unhandledCriticalExtensions.join(', ');
  const noKu: Code = anchor ? 'SIGNING_CERT_KEY_USAGE_MISSING' : 'SIGNING_CERT_NO_KEY_CERT_SIGN';
  const add = (severity: Severity, code: Code, extra = '') =>
    out.push(finding(c, role, severity, code, extra));
  if (c.basicConstraints?.ca !== true) add(soft, 'SIGNING_CERT_NOT_CA');
  if (ku === undefined) add(soft, noKu);
  if (ku !== undefined && !ku.flags.has('keyCertSign')) add(soft, 'SIGNING_CERT_NO_KEY_CERT_SIGN');
  if (ku !== undefined && !ku.critical) add('tolerated', 'SIGNING_CERT_KEY_USAGE_NOT_CRITICAL');
  if (ku?.flags.has('digitalSignature')) add('note', 'SIGNING_CERT_DIGITAL_SIGNATURE');
  if (idPath !== undefined) add('tolerated', 'SIGNING_CERT_ID_HAS_PATH', `: ${idPath}`);
  if (critical !== '') add('error', 'CHAIN_UNHANDLED_CRITICAL_EXTENSION', `: ${critical}`);
  return out;
}

function finding(cert: Certificate, role: Role, severity: Severity, code: Code, extra = ''): Finding {
  const [rule, text] = RULES[code];
  return { severity, code, rule, message: `${role} "${cert.subject || '<empty subject>'}" ${text}${extra}` };
}

function signingIdWithPath(cert: Certificate): string | undefined {
  for (const uri of cert.subjectAltName?.uris ?? []) {
    if (!uri.startsWith('spiffe://')) continue;
    try {
      const id = SpiffeId.parse(uri);
      if (!id.isTrustDomainId()) return uri;
    } catch {
      // not a valid SPIFFE ID: not an SVID identity, nothing to judge here
    }
  }
  return undefined;
}

function coversTlsAuth(oids: readonly string[]): boolean {
  if (oids.includes(OID.anyExtendedKeyUsage)) return true;
  return oids.includes(OID.serverAuth) && oids.includes(OID.clientAuth);
}

/**
 * The leaf among certificates presented in any order: one that issued none of the
 * others (by key identifier or exact name). Among those, a non-CA certificate wins
 * over a CA one, and the first presented wins a tie, so leaf-first input keeps
 * go-spiffe's reading and a lone CA certificate is still judged as the leaf (R26).
 */
export function pickLeaf(certs: readonly Certificate[]): number {
  if (certs.length <= 1) return 0;
  let firstCandidate = -1;
  for (let i = 0; i < certs.length; i++) {
    const c = certs[i]!;
    let issuesOther = false;
    for (let j = 0; j < certs.length && !issuesOther; j++) {
      const o = certs[j]!;
      if (i !== j && o.fingerprint !== c.fingerprint && mayHaveIssued(c, o, 'exact')) issuesOther = true;
    }
    if (issuesOther) continue;
    if (c.basicConstraints?.ca !== true) return i;
    if (firstCandidate === -1) firstCandidate = i;
  }
  return firstCandidate === -1 ? 0 : firstCandidate;
}

function dedupe(certs: readonly Certificate[], leaf: Certificate): Certificate[] {
  const seen = new Set<string>([leaf.fingerprint]);
  const out: Certificate[] = [];
  for (const c of certs) {
    if (seen.has(c.fingerprint)) continue;
    seen.add(c.fingerprint);
    out.push(c);
  }
  return out;
}

class Guards {
  readonly warnings: Warning[] = [];

  constructor(private readonly strict: boolean) {}

  error(code: Code): void {
    const [rule, text] = RULES[code];
    throw verdict(code, rule, text);
  }

  tolerate(code: Code): void {
    const [rule, text] = RULES[code];
    if (this.strict) throw verdict(code, rule, `${text} (strict mode)`);
    this.warnings.push({ code, rule, message: text });
  }
}

function verdict(
  code: string,
  rule: number,
  message: string,
  details?: Record<string, unknown>,
): SpiffeError {
  return new SpiffeError(code, 'verdict', message, { rule, ...(details === undefined ? {} : { details }) });
}
