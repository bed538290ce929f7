/**
 * Identities a certificate carries.
 *
 * - SPIFFE: the single URI SAN, when it is a valid SPIFFE ID. Istio's
 *   `spiffe://<td>/ns/<namespace>/sa/<service account>` also gives namespace and SA.
 * - Linkerd: the DNS SAN `<sa>.<ns>.serviceaccount.identity.<control-plane-ns>.<td>`
 *   (the identity controller writes it as the only SAN and as the CN).
 *
 * Any other URI SAN is a finding (NON_SPIFFE_URI_SAN); several URI SANs on one
 * certificate too (MULTIPLE_URI_SANS: an X.509-SVID carries exactly one).
 */
import { SpiffeError } from '../spiffe/errors.js';
import { SpiffeId } from '../spiffe/spiffeid/index.js';
import type { Mesh, ProblemCode, SubjectAltNames } from './inventory.js';

export const LINKERD_IDENTITY = /^([^.]+)\.([^.]+)\.serviceaccount\.identity\.([^.]+)\.(.+)$/;

export interface IdentityFinding {
  code: ProblemCode;
  message: string;
  details?: Record<string, unknown>;
}

export interface DerivedIdentity {
  spiffeId: string | null;
  meshIdentity: string | null;
  namespace: string | null;
  serviceAccount: string | null;
  trustDomain: string | null;
  /** The mesh the identity's shape points to, if any. */
  mesh: Mesh | null;
  /** Linkerd only: the control plane's namespace. */
  controlPlaneNamespace: string | null;
  findings: IdentityFinding[];
}

export function deriveIdentity(san: SubjectAltNames): DerivedIdentity {
  const out: DerivedIdentity = {
    spiffeId: null,
    meshIdentity: null,
    namespace: null,
    serviceAccount: null,
    trustDomain: null,
    mesh: null,
    controlPlaneNamespace: null,
    findings: [],
  };
  const valid: SpiffeId[] = [];
  for (const uri of san.uris) {
    if (!uri.toLowerCase().startsWith('spiffe://')) {
      out.findings.push({
        code: 'NON_SPIFFE_URI_SAN',
        message: `URI SAN ${JSON.stringify(uri)} is not a SPIFFE ID; it maps to no workload identity`,
        details: { uri },
      });
      continue;
    }
    try {
      valid.push(SpiffeId.parse(uri));
    } catch (err) {
      if (!(err instanceof SpiffeError)) throw err;
      out.findings.push({
        code: 'NON_SPIFFE_URI_SAN',
        message: `URI SAN ${JSON.stringify(uri)} looks like a SPIFFE ID but is not a valid one: ${err.message} [${err.code}]`,
        details: { uri, rule: err.rule, error: err.code },
      });
    }
  }
  if (san.uris.length > 1) {
    out.findings.push({
      code: 'MULTIPLE_URI_SANS',
      message: `carries ${san.uris.length} URI SANs (${san.uris.join(', ')}); an X.509-SVID carries exactly one, so no SPIFFE ID is taken from it`,
      details: { uris: san.uris },
    });
  } else if (valid.length === 1) {
    const id = valid[0]!;
    out.spiffeId = id.toString();
    out.meshIdentity = out.spiffeId;
    out.trustDomain = id.trustDomain.name;
    const seg = id.segments();
    if (seg.length === 4 && seg[0] === 'ns' && seg[2] === 'sa') {
      out.namespace = seg[1]!;
      out.serviceAccount = seg[3]!;
      out.mesh = 'istio';
    }
  }
  for (const dns of san.dnsNames) {
    const m = LINKERD_IDENTITY.exec(dns.toLowerCase());
    if (m === null) continue;
    out.meshIdentity = dns.toLowerCase();
    out.serviceAccount = m[1]!;
    out.namespace = m[2]!;
    out.controlPlaneNamespace = m[3]!;
    out.trustDomain ??= m[4]!;
    out.mesh = 'linkerd';
    break;
  }
  return out;
}
