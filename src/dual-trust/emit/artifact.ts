import type { PhaseBundle } from '../compose.js';

export const FORMATS = [
  'pem',
  'spiffe',
  'istio-cacerts',
  'istio-mesh-config',
  'istio-root-configmap',
  'linkerd',
  'spire',
  'trust-manager',
] as const;
export type BundleFormat = (typeof FORMATS)[number];

/** One file an emitter produces. */
export interface Artifact {
  /** Suggested file name (a directory writer uses it as is). */
  name: string;
  mediaType: 'application/x-pem-file' | 'application/json' | 'application/yaml' | 'text/plain';
  content: string;
  /** What this file is for, in one line (shown by the CLI). */
  description: string;
  /** Set for per-trust-domain files. */
  trustDomain?: string;
}

export interface EmitOptions {
  /** Per-trust-domain formats (`spiffe`): emit only this one. */
  trustDomain?: string;
  /** Kubernetes namespace of the emitted object(s) (defaults: istio-system, linkerd, cert-manager). */
  namespace?: string;
  /** `istio-root-configmap`: one ConfigMap per namespace (default: `namespace` or istio-system). */
  namespaces?: string[];
  /**
   * `istio-cacerts`: an existing `cacerts` Secret (parsed YAML/JSON object) whose other keys
   * (`ca-cert.pem`, `ca-key.pem`, `cert-chain.pem`, ...) are carried over unchanged.
   */
  cacertsBase?: Record<string, unknown>;
  /** `spire`: SPIRE's own trust domain (default: the trust domain of the SPIRE-origin roots). */
  spireTrustDomain?: string;
  /** `trust-manager`: the Bundle's name (default meshbridge-dual-trust). */
  name?: string;
}

export type Emitter = (bundle: PhaseBundle, opts: EmitOptions) => Artifact[];
