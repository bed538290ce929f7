/**
 * Who is calling: an X.509-SVID over mTLS (SPIRE- or mesh-issued), a Linkerd
 * DNS-identity certificate translated through the mapping, or a JWT-SVID bearer
 * token whose audience names this broker. Every failure is a 401 carrying the code
 * of the rule that failed (SVID_EXPIRED, BUNDLE_NOT_FOUND, JWT_ALG_NONE, ...).
 */
import { createHash } from 'node:crypto';
import { type Clock, CodedError, systemClock } from '../../spiffe/errors.js';
import { SpiffeId } from '../../spiffe/spiffeid/index.js';
import { verifyJwtSvid } from '../../spiffe/svid/jwtsvid/index.js';
import {
  pickLeaf,
  spiffeIdFromCertificate,
  type VerificationCache,
  validateX509Path,
  verifyX509Svid,
} from '../../spiffe/svid/x509svid/index.js';
import { type Certificate, parseCertificate } from '../../spiffe/x509/certificate.js';
import { BrokerError, unauthenticated } from '../errors.js';
import type { AuthMethod, IssuerKind } from '../schema.js';
import type { TrustSnapshot } from './trust.js';

export interface CallerIssuer {
  kind: IssuerKind;
  /** SHA-256 (hex) of the anchor certificate, or of the JWT key's SubjectPublicKeyInfo. */
  fingerprint: string;
  /** The trust source's label (`spire`, `istio-prod`, `workload-api`). */
  label: string;
}

/** An authenticated caller: the request context every decision is made in. */
export interface Caller {
  /** The SPIFFE ID policy is evaluated for. */
  id: SpiffeId;
  method: AuthMethod;
  issuer: CallerIssuer;
  /** What the caller presented when it differs from `id`: a Linkerd DNS identity. */
  presented?: string;
  /** Leaf notAfter or JWT `exp`: the identity is not believed past this. */
  expiresAt: Date;
  /** Tolerated deviations (e.g. SVID_KEY_USAGE_NOT_CRITICAL on Istio certificates). */
  warnings: string[];
  /** The trust snapshot version the verdict was reached under. */
  trustVersion: string;
}

/** Translates a mesh identity (a Linkerd DNS name) to a SPIFFE ID; undefined when unmapped. */
export type MeshIdentityMapper = (meshIdentity: string) => SpiffeId | string | undefined;

export interface LinkerdIdentity {
  serviceAccount: string;
  namespace: string;
  controlPlaneNamespace: string;
  trustDomain: string;
}

const DNS_LABEL = '[a-z0-9](?:[-a-z0-9]*[a-z0-9])?';
const LINKERD_NAME = new RegExp(
  `^(${DNS_LABEL})\\.(${DNS_LABEL})\\.serviceaccount\\.identity\\.(${DNS_LABEL})\\.(${DNS_LABEL}(?:\\.${DNS_LABEL})*)$`,
);

/** `<sa>.<ns>.serviceaccount.identity.<control-plane-ns>.<trust-domain>`, or undefined. */
export function parseLinkerdIdentity(name: string): LinkerdIdentity | undefined {
  const m = LINKERD_NAME.exec(name);
  if (m === null) return undefined;
  return { serviceAccount: m[1]!, namespace: m[2]!, controlPlaneNamespace: m[3]!, trustDomain: m[4]! };
}

/**
 * A mapper from a template over the parts of a Linkerd identity:
 * `spiffe://example.org/ns/{namespace}/sa/{serviceAccount}` ({trustDomain} and
 * {controlPlaneNamespace} also work). For deployments without the stored mapping.
 */
export function templateMapper(template: string): MeshIdentityMapper {
  return (meshIdentity) => {
    const parts = parseLinkerdIdentity(meshIdentity);
    if (parts === undefined) return undefined;
    const text = template.replace(
      /\{(serviceAccount|namespace|controlPlaneNamespace|trustDomain)\}/g,
      (_m, k: keyof LinkerdIdentity) => parts[k],
    );
    try {
      return SpiffeId.parse(text);
    } catch {
      return undefined;
    }
  };
}

export interface X509AuthOptions {
  clock?: Clock;
  cache?: VerificationCache;
  strict?: boolean;
  mapper?: MeshIdentityMapper;
}

/** Authenticates a presented certificate chain (DER, leaf and intermediates in any order). */
export function authenticateX509(
  presented: readonly Uint8Array[],
  trust: TrustSnapshot,
  opts: X509AuthOptions = {},
): Caller {
  if (presented.length === 0) throw unauthenticated('UNAUTHENTICATED', 'no client certificate was presented');
  let certs: Certificate[];
  try {
    certs = presented.map((der) => parseCertificate(der));
  } catch (err) {
    throw asUnauthenticated(err);
  }
  const leaf = certs[pickLeaf(certs)]!;
  const uris = leaf.subjectAltName?.uris ?? [];
  const linkerdName =
    uris.length === 0
      ? (leaf.subjectAltName?.dnsNames ?? []).find((d) => parseLinkerdIdentity(d) !== undefined)
      : undefined;
  if (linkerdName !== undefined) return authenticateLinkerd(leaf, certs, linkerdName, trust, opts);
  try {
    const v = verifyX509Svid(certs, trust, {
      clock: opts.clock,
      cache: opts.cache,
      strict: opts.strict === true,
    });
    const label = trust.anchorLabel(v.anchor.fingerprint);
    return {
      id: v.id,
      method: 'x509',
      issuer: {
        kind: label?.kind ?? 'federated',
        fingerprint: v.anchor.fingerprint,
        label: label?.label ?? 'unlabelled',
      },
      expiresAt: leaf.notAfter,
      warnings: v.warnings.map((w) => w.code),
      trustVersion: trust.version,
    };
  } catch (err) {
    throw asUnauthenticated(err);
  }
}

function authenticateLinkerd(
  leaf: Certificate,
  certs: readonly Certificate[],
  name: string,
  trust: TrustSnapshot,
  opts: X509AuthOptions,
): Caller {
  const parts = parseLinkerdIdentity(name)!;
  const bundle = trust.linkerdBundle(parts.trustDomain);
  if (bundle === undefined) {
    throw unauthenticated(
      'MESH_TRUST_NOT_FOUND',
      `no Linkerd trust anchors are configured for trust domain ${parts.trustDomain} (identity ${name})`,
    );
  }
  // The leaf guards that apply without a SPIFFE ID (R26, R31, R32).
  if (leaf.basicConstraints?.ca === true)
    throw unauthenticated(
      'SVID_LEAF_IS_CA',
      'the client certificate is a CA certificate, not a workload identity',
    );
  const ku = leaf.keyUsage?.flags;
  if (ku !== undefined && (!ku.has('digitalSignature') || ku.has('keyCertSign') || ku.has('cRLSign'))) {
    throw unauthenticated(
      'SVID_LEAF_KEY_USAGE_INVALID',
      'the client certificate key usage must include digitalSignature and exclude keyCertSign/cRLSign',
    );
  }
  let path: ReturnType<typeof validateX509Path>;
  try {
    path = validateX509Path(
      leaf,
      certs.filter((c) => c !== leaf),
      bundle,
      { clock: opts.clock, cache: opts.cache, strict: opts.strict === true },
    );
  } catch (err) {
    throw asUnauthenticated(err);
  }
  const mapped = opts.mapper?.(name);
  if (mapped === undefined) {
    throw unauthenticated(
      'MESH_IDENTITY_UNMAPPED',
      `the Linkerd identity ${name} is not mapped to a SPIFFE ID; add it to the mapping`,
    );
  }
  const id = typeof mapped === 'string' ? SpiffeId.parse(mapped) : mapped;
  const label = trust.anchorLabel(path.anchor.fingerprint);
  return {
    id,
    method: 'x509',
    issuer: {
      kind: label?.kind ?? 'mesh',
      fingerprint: path.anchor.fingerprint,
      label: label?.label ?? 'linkerd',
    },
    presented: name,
    expiresAt: leaf.notAfter,
    warnings: path.warnings.map((w) => w.code),
    trustVersion: trust.version,
  };
}

export interface JwtAuthOptions {
  /** The audiences that name this broker; the token must carry one of them. */
  audience: readonly string[];
  clock?: Clock;
  clockToleranceSeconds?: number;
}

/** Authenticates a JWT-SVID bearer token. */
export function authenticateJwt(token: string, trust: TrustSnapshot, opts: JwtAuthOptions): Caller {
  if (opts.audience.length === 0) {
    throw new BrokerError('BROKER_NOT_READY', 'the broker has no audience to check JWT-SVIDs against');
  }
  try {
    const v = verifyJwtSvid(token, trust, {
      audience: [...opts.audience],
      clock: opts.clock ?? systemClock,
      ...(opts.clockToleranceSeconds === undefined
        ? {}
        : { clockToleranceSeconds: opts.clockToleranceSeconds }),
    });
    const authority = trust.jwtAuthority(v.id.trustDomain.name, v.kid);
    return {
      id: v.id,
      method: 'jwt',
      issuer: {
        kind: authority?.label.kind ?? 'federated',
        fingerprint: authority?.fingerprint ?? createHash('sha256').update(v.kid).digest('hex'),
        label: authority?.label.label ?? 'unlabelled',
      },
      expiresAt: v.expiresAt,
      warnings: [],
      trustVersion: trust.version,
    };
  } catch (err) {
    throw asUnauthenticated(err);
  }
}

/** Reads `Authorization: Bearer <token>`; undefined when the header is absent. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header === '') return undefined;
  const m = /^Bearer +([^\s]+) *$/i.exec(header);
  if (m === null)
    throw unauthenticated('BEARER_MALFORMED', 'the Authorization header must be "Bearer <JWT-SVID>"');
  return m[1]!;
}

function asUnauthenticated(err: unknown): BrokerError {
  if (err instanceof BrokerError) return err;
  if (err instanceof CodedError) return unauthenticated(err.code, err.message, err);
  return unauthenticated(
    'UNAUTHENTICATED',
    `the presented identity could not be verified: ${(err as Error).message}`,
  );
}

/** The SPIFFE ID of a certificate, if it names exactly one (for logs of failed attempts). */
export function claimedId(der: Uint8Array): string | undefined {
  try {
    return spiffeIdFromCertificate(parseCertificate(der)).toString();
  } catch {
    return undefined;
  }
}
