/**
 * The inventory: every trust anchor, intermediate (issuer) and workload certificate an
 * import found, how they chain, which identities they carry, and what is wrong with
 * them. Plain data; `toInventoryJson` gives the stable JSON contract of
 * `meshbridge import --json` and `meshbridge inventory --json`.
 */

export type Mesh = 'istio' | 'linkerd';
export const MESHES: readonly Mesh[] = ['istio', 'linkerd'];

export type CertificateRole = 'anchor' | 'intermediate' | 'workload';

/** The shape a source was recognised as. */
export type SourceKind =
  | 'pem-file'
  | 'der-file'
  | 'istio-cacerts'
  | 'istio-ca-secret'
  | 'istio-ca-root-cert'
  | 'envoy-config-dump'
  | 'istioctl-secret-dump'
  | 'ztunnel-cert-dump'
  | 'linkerd-trust-roots'
  | 'linkerd-identity-issuer'
  | 'linkerd-values'
  | 'linkerd-proxy-env'
  | 'kubernetes-tls-secret'
  | 'kubernetes-secret'
  | 'kubernetes-configmap'
  | 'kubernetes-object';

/** One place certificates were read from: a file, or one key of one object inside a file. */
export interface SourceRef {
  kind: SourceKind;
  /** Unique within an import and shown to people: `file`, `file#secret/ns/name[key]`, `file#$.configs[0]...`. */
  locator: string;
  /** The file, relative to the working directory when inside it. */
  file: string;
  /** The object inside the file: `secret/istio-system/cacerts`, `dynamic_active_secrets[default]`. */
  object?: string;
  /** The key inside the object: `root-cert.pem`, `trusted_ca`. */
  key?: string;
  /** The mesh the shape belongs to (null: a generic shape). */
  mesh: Mesh | null;
}

/** Stable problem codes. Switch on them, never on the message. */
export const PROBLEM_CODES = [
  'CERT_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_EXPIRING_SOON',
  'CHAIN_NO_ANCHOR',
  'CA_WITHOUT_KEY_CERT_SIGN',
  'CA_V1_WITHOUT_EXTENSIONS',
  'ANCHOR_NOT_CA',
  'DUPLICATE_ROOT',
  'SAME_SUBJECT_DIFFERENT_KEY',
  'WEAK_KEY',
  'NON_SPIFFE_URI_SAN',
  'MULTIPLE_URI_SANS',
  'SIGNATURE_ALGORITHM_UNSUPPORTED',
  'CORRUPT_PEM_BLOCK',
  'KEY_CERT_MISMATCH',
] as const;
export type ProblemCode = (typeof PROBLEM_CODES)[number];

export interface Problem {
  code: ProblemCode;
  /** Where it was found, as shown to people (a source locator, with the block position for PEM). */
  source: string;
  message: string;
  fingerprint?: string;
  /** Machine-readable facts behind the message (block number, line, other fingerprints, ...). */
  details?: Record<string, unknown>;
}

/** A private key seen in a source. Never the key itself: only its type and what it matches. */
export interface KeySighting {
  /** Locator of the source that held it. */
  source: string;
  /** `ec-p256`, `rsa-2048`, `ed25519`, `encrypted` (cannot be inspected), ... */
  keyType: string;
  /** The certificate whose public key it is, if one was imported. */
  matchesFingerprint: string | null;
  /**
   * Whether it matches the certificate it is stored with (`ca-key.pem` with `ca-cert.pem`,
   * `tls.key` with `tls.crt`, ...); null when it is stored alone.
   */
  matchesCertificate: boolean | null;
}

export interface SubjectAltNames {
  uris: string[];
  dnsNames: string[];
  ips: string[];
  emails: string[];
}

export interface InventoryCertificate {
  /** Lowercase hex SHA-256 of the DER. */
  fingerprint: string;
  role: CertificateRole;
  mesh: Mesh | null;
  cluster: string | null;
  /** RFC 4514; `''` for an empty subject (Istio and Linkerd leaves). */
  subject: string;
  issuer: string;
  /** Lowercase hex, as encoded. */
  serial: string;
  /** ISO 8601 UTC. */
  notBefore: string;
  notAfter: string;
  /** `EC P-256`, `RSA 2048`, `Ed25519`, ... */
  keyAlgorithm: string;
  keySize: number | null;
  /** basicConstraints cA=TRUE, or a v1 certificate acting as a CA. */
  isCa: boolean;
  /** Its signature verifies under its own key. */
  selfSigned: boolean;
  san: SubjectAltNames;
  /** The SPIFFE ID of the single URI SAN, when it is one. */
  spiffeId: string | null;
  /** The identity the mesh uses: the SPIFFE ID (Istio) or the DNS identity (Linkerd). */
  meshIdentity: string | null;
  namespace: string | null;
  serviceAccount: string | null;
  trustDomain: string | null;
  /** The certificate whose key signed this one (itself when self-signed); found by signature. */
  issuerFingerprint: string | null;
  /** The trust anchor its chain reaches, or null. */
  anchorFingerprint: string | null;
  /** Locators of every source that showed it, sorted. */
  sources: string[];
  /** Base64 (standard alphabet) of the DER. */
  derBase64: string;
}

export interface InventoryStats {
  files: number;
  /** Files in walked folders that hold none of the shapes meshbridge reads. */
  skippedFiles: number;
  /** Certificates read, counting repeats. */
  certificatesSeen: number;
}

export interface Inventory {
  mesh: Mesh | null;
  cluster: string | null;
  /** The instant validity was judged at (ISO 8601 UTC). */
  evaluatedAt: string;
  anchors: InventoryCertificate[];
  intermediates: InventoryCertificate[];
  workloads: InventoryCertificate[];
  sources: SourceRef[];
  keys: KeySighting[];
  problems: Problem[];
  stats: InventoryStats;
}

// ---------------------------------------------------------------- JSON contract

export interface AnchorJson {
  fingerprint: string;
  subject: string;
  notBefore: string;
  notAfter: string;
  keyAlgorithm: string;
  mesh: Mesh | null;
  sources: string[];
}

export interface WorkloadJson {
  fingerprint: string;
  mesh: Mesh | null;
  cluster: string | null;
  meshIdentity: string | null;
  spiffeId: string | null;
  namespace: string | null;
  serviceAccount: string | null;
  serial: string;
  notBefore: string;
  notAfter: string;
  keyAlgorithm: string;
  anchor: string | null;
  sources: string[];
}

export interface ProblemJson {
  code: string;
  source: string;
  message: string;
  fingerprint?: string;
}

export interface InventoryJson {
  anchors: AnchorJson[];
  intermediates: AnchorJson[];
  workloads: WorkloadJson[];
  problems: ProblemJson[];
}

/** The fields of a certificate the JSON contract needs, from the domain type or a stored row. */
export interface CertificateView {
  fingerprint: string;
  mesh: string | null;
  cluster: string | null;
  subject: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  keyAlgorithm: string;
  meshIdentity: string | null;
  spiffeId: string | null;
  namespace: string | null;
  serviceAccount: string | null;
  anchorFingerprint: string | null;
  sources: string[];
}

const iso = (t: string): string => new Date(t).toISOString();

export function anchorJson(c: CertificateView): AnchorJson {
  return {
    fingerprint: c.fingerprint,
    subject: c.subject,
    notBefore: iso(c.notBefore),
    notAfter: iso(c.notAfter),
    keyAlgorithm: c.keyAlgorithm,
    mesh: (c.mesh as Mesh | null) ?? null,
    sources: [...c.sources].sort(),
  };
}

export function workloadJson(c: CertificateView): WorkloadJson {
  return {
    fingerprint: c.fingerprint,
    mesh: (c.mesh as Mesh | null) ?? null,
    cluster: c.cluster ?? null,
    meshIdentity: c.meshIdentity ?? null,
    spiffeId: c.spiffeId ?? null,
    namespace: c.namespace ?? null,
    serviceAccount: c.serviceAccount ?? null,
    serial: c.serial,
    notBefore: iso(c.notBefore),
    notAfter: iso(c.notAfter),
    keyAlgorithm: c.keyAlgorithm,
    anchor: c.anchorFingerprint ?? null,
    sources: [...c.sources].sort(),
  };
}

export function problemJson(p: {
  code: string;
  source: string;
  message: string;
  fingerprint?: string | null;
}): ProblemJson {
  return p.fingerprint
    ? { code: p.code, source: p.source, message: p.message, fingerprint: p.fingerprint }
    : { code: p.code, source: p.source, message: p.message };
}

/** Certificates by notAfter, then fingerprint: the order of both JSON faces. */
export function byExpiry<T extends { notAfter: string; fingerprint: string }>(a: T, b: T): number {
  const x = Date.parse(a.notAfter);
  const y = Date.parse(b.notAfter);
  if (x !== y) return x - y;
  return a.fingerprint < b.fingerprint ? -1 : a.fingerprint > b.fingerprint ? 1 : 0;
}

/** Problems by code, source, fingerprint, message. */
export function byProblem<
  T extends { code: string; source: string; message: string; fingerprint?: string | null },
>(a: T, b: T): number {
  return (
    cmp(a.code, b.code) ||
    cmp(a.source, b.source) ||
    cmp(a.fingerprint ?? '', b.fingerprint ?? '') ||
    cmp(a.message, b.message)
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Assembles the contract from certificate views (already split by role) and problems. */
export function inventoryJsonOf(
  anchors: CertificateView[],
  intermediates: CertificateView[],
  workloads: CertificateView[],
  problems: { code: string; source: string; message: string; fingerprint?: string | null }[],
): InventoryJson {
  return {
    anchors: [...anchors].sort(byExpiry).map(anchorJson),
    intermediates: [...intermediates].sort(byExpiry).map(anchorJson),
    workloads: [...workloads].sort(byExpiry).map(workloadJson),
    problems: [...problems].sort(byProblem).map(problemJson),
  };
}

/** The JSON contract of an inventory: anchors, intermediates, workloads, problems. */
export function toInventoryJson(inv: Inventory): InventoryJson {
  return inventoryJsonOf(inv.anchors, inv.intermediates, inv.workloads, inv.problems);
}
