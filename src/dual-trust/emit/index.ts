import type { PhaseBundle } from '../compose.js';
import { inputError } from '../errors.js';
import { type Artifact, type BundleFormat, type EmitOptions, type Emitter, FORMATS } from './artifact.js';
import { emitIstioCacerts, emitIstioMeshConfig, emitIstioRootConfigMap } from './istio.js';
import { emitLinkerd } from './linkerd.js';
import { emitPem, pemOf } from './pem.js';
import { emitSpiffe, spiffeBundleOf } from './spiffe.js';
import { emitSpire } from './spire.js';
import { emitTrustManager } from './trust-manager.js';

const EMITTERS: Record<BundleFormat, Emitter> = {
  pem: emitPem,
  spiffe: emitSpiffe,
  'istio-cacerts': emitIstioCacerts,
  'istio-mesh-config': emitIstioMeshConfig,
  'istio-root-configmap': emitIstioRootConfigMap,
  linkerd: emitLinkerd,
  spire: emitSpire,
  'trust-manager': emitTrustManager,
};

/**
 * What to roll out, per system, for a phase (cutover's `advance` prints and writes these):
 * the mesh's own trust objects, and SPIRE's side of the overlap.
 */
export const ROLLOUT_FORMATS: Readonly<Record<'istio' | 'linkerd' | 'spire', readonly BundleFormat[]>> = {
  istio: ['istio-cacerts', 'istio-root-configmap'],
  linkerd: ['linkerd'],
  spire: ['spire'],
};

export function isBundleFormat(value: string): value is BundleFormat {
  return (FORMATS as readonly string[]).includes(value);
}

export function parseBundleFormat(value: string): BundleFormat {
  if (isBundleFormat(value)) return value;
  throw inputError('BUNDLE_FORMAT_UNKNOWN', `--format must be one of ${FORMATS.join(', ')}; got "${value}"`);
}

/** Every file of one format, from one phase bundle. The emitter writes; the composition decided. */
export function emitBundle(bundle: PhaseBundle, format: BundleFormat, opts: EmitOptions = {}): Artifact[] {
  return EMITTERS[format](bundle, opts);
}

export { type Artifact, type BundleFormat, type EmitOptions, FORMATS, pemOf, spiffeBundleOf };
