/**
 * Mesh identities in the forms meshes write them:
 *
 * - Istio: the workload's SPIFFE ID `spiffe://<td>/ns/<ns>/sa/<sa>`, and the principal
 *   form AuthorizationPolicies use, the same without `spiffe://`.
 * - Linkerd: the DNS-like name `<sa>.<ns>.serviceaccount.identity.<control-plane-ns>.<td>`
 *   (`web.shop.serviceaccount.identity.linkerd.cluster.local`).
 *
 * `canonical` is the comparison key: the SPIFFE ID with scheme for Istio shapes, the
 * lower-cased name for Linkerd, the input otherwise.
 */

export type MeshName = 'istio' | 'linkerd';
export const MESH_NAMES: readonly MeshName[] = ['istio', 'linkerd'];

export type IdentityForm =
  /** `spiffe://td/ns/N/sa/S` */
  | 'istio-spiffe'
  /** `td/ns/N/sa/S` (AuthorizationPolicy principal) */
  | 'istio-principal'
  /** `S.N.serviceaccount.identity.CP.TD` */
  | 'linkerd-dns'
  /** any other `spiffe://` URI: a SPIFFE ID, but not one whose namespace and account can be read */
  | 'spiffe-other';

export interface ParsedIdentity {
  form: IdentityForm;
  /** The mesh the shape belongs to; null for `spiffe-other`. */
  mesh: MeshName | null;
  trustDomain: string | null;
  namespace: string | null;
  serviceAccount: string | null;
  /** Linkerd only: the control plane's namespace (`linkerd`). */
  controlPlaneNamespace: string | null;
  canonical: string;
}

const LINKERD_MARK = '.serviceaccount.identity.';
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// Kubernetes ServiceAccount names are DNS subdomains (dots allowed); namespaces are labels.
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const TD_CHARS = /^[a-z0-9._-]+$/;
const PATH_SEGMENT = /^[a-zA-Z0-9._-]+$/;

/** Reads an Istio or Linkerd identity; null when it is neither (nor any `spiffe://` URI). */
export function parseMeshIdentity(input: string): ParsedIdentity | null {
  const text = input.trim();
  if (text === '') return null;
  if (text.startsWith('spiffe://')) {
    const istio = istioPath(text.slice('spiffe://'.length), 'istio-spiffe');
    if (istio !== null) return istio;
    const rest = text.slice('spiffe://'.length);
    const slash = rest.indexOf('/');
    const td = slash === -1 ? rest : rest.slice(0, slash);
    return {
      form: 'spiffe-other',
      mesh: null,
      trustDomain: td === '' ? null : td,
      namespace: null,
      serviceAccount: null,
      controlPlaneNamespace: null,
      canonical: text,
    };
  }
  const linkerd = parseLinkerdIdentity(text);
  if (linkerd !== null) return linkerd;
  const istio = istioPath(text, 'istio-principal');
  if (istio !== null) return istio;
  return null;
}

function istioPath(rest: string, form: 'istio-spiffe' | 'istio-principal'): ParsedIdentity | null {
  const parts = rest.split('/');
  if (parts.length !== 5 || parts[1] !== 'ns' || parts[3] !== 'sa') return null;
  const [td, , ns, , sa] = parts as [string, string, string, string, string];
  if (!TD_CHARS.test(td) || !PATH_SEGMENT.test(ns) || !PATH_SEGMENT.test(sa)) return null;
  return {
    form,
    mesh: 'istio',
    trustDomain: td,
    namespace: ns,
    serviceAccount: sa,
    controlPlaneNamespace: null,
    canonical: `spiffe://${td}/ns/${ns}/sa/${sa}`,
  };
}

/** `<sa>.<ns>.serviceaccount.identity.<cp-ns>.<td>` → its parts; null for any other shape. */
export function parseLinkerdIdentity(input: string): ParsedIdentity | null {
  const text = input.trim().toLowerCase().replace(/\.$/, '');
  const at = text.indexOf(LINKERD_MARK);
  if (at <= 0) return null;
  const head = text.slice(0, at);
  const tail = text.slice(at + LINKERD_MARK.length);
  const dot = head.lastIndexOf('.');
  const tailDot = tail.indexOf('.');
  if (dot <= 0 || tailDot <= 0) return null;
  const sa = head.slice(0, dot);
  const ns = head.slice(dot + 1);
  const cp = tail.slice(0, tailDot);
  const td = tail.slice(tailDot + 1);
  if (!DNS_SUBDOMAIN.test(sa) || !DNS_LABEL.test(ns) || !DNS_LABEL.test(cp) || td === '') return null;
  return {
    form: 'linkerd-dns',
    mesh: 'linkerd',
    trustDomain: td,
    namespace: ns,
    serviceAccount: sa,
    controlPlaneNamespace: cp,
    canonical: text,
  };
}

/** The Linkerd identity of a service account: what `linkerd-identity` puts in the leaf's DNS SAN. */
export function linkerdIdentity(sa: string, ns: string, controlPlaneNs: string, trustDomain: string): string {
  return `${sa}.${ns}${LINKERD_MARK}${controlPlaneNs}.${trustDomain}`;
}

/** The comparison key of an identity as found in an inventory or a policy. */
export function canonicalIdentity(input: string): string {
  return parseMeshIdentity(input)?.canonical ?? input.trim();
}

/** `spiffe://td/path` → `td/path` (the form Istio principals are written in). */
export function withoutScheme(id: string): string {
  return id.startsWith('spiffe://') ? id.slice('spiffe://'.length) : id;
}

export function isMeshName(value: unknown): value is MeshName {
  return value === 'istio' || value === 'linkerd';
}
