import { type PhaseBundle, pooledRoots } from '../compose.js';
import type { Artifact, EmitOptions } from './artifact.js';
import { pemOf } from './pem.js';
import { annotations, headerFor, MANAGED_BY, yamlDocuments } from './yaml.js';

/** `trust-manager`: a cert-manager trust-manager `Bundle` with the roots in line, to a ConfigMap key. */
export function emitTrustManager(bundle: PhaseBundle, opts: EmitOptions): Artifact[] {
  const roots = pooledRoots(bundle);
  const name = opts.name ?? 'meshbridge-dual-trust';
  const doc = {
    apiVersion: 'trust.cert-manager.io/v1alpha1',
    kind: 'Bundle',
    metadata: { name, labels: { ...MANAGED_BY }, annotations: annotations(bundle) },
    spec: {
      sources: [{ useDefaultCAs: false }, { inLine: pemOf(roots) }],
      target: { configMap: { key: 'root-certs.pem' } },
    },
  };
  return [
    {
      name: 'trust-manager-bundle.yaml',
      mediaType: 'application/yaml',
      content: yamlDocuments(headerFor(bundle, 'trust-manager Bundle (cluster-scoped)'), [doc]),
      description: `trust-manager Bundle ${name} with ${roots.length} root(s)`,
    },
  ];
}
