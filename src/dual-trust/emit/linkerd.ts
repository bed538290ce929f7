import { type PhaseBundle, pooledRoots } from '../compose.js';
import type { Artifact, EmitOptions } from './artifact.js';
import { pemOf } from './pem.js';
import { annotations, headerFor, yamlDocuments } from './yaml.js';

/**
 * `linkerd`: the `linkerd-identity-trust-roots` ConfigMap (`ca-bundle.crt`, what every
 * proxy reads through LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS) and the Helm value
 * `identityTrustAnchorsPEM` for `helm upgrade linkerd-control-plane -f`.
 */
export function emitLinkerd(bundle: PhaseBundle, opts: EmitOptions): Artifact[] {
  const roots = pooledRoots(bundle);
  const pem = pemOf(roots);
  const ns = opts.namespace ?? 'linkerd';
  const configMap = {
    kind: 'ConfigMap',
    apiVersion: 'v1',
    metadata: {
      name: 'linkerd-identity-trust-roots',
      namespace: ns,
      labels: { 'linkerd.io/control-plane-component': 'identity', 'linkerd.io/control-plane-ns': ns },
      annotations: annotations(bundle),
    },
    data: { 'ca-bundle.crt': pem },
  };
  return [
    {
      name: 'linkerd-identity-trust-roots.yaml',
      mediaType: 'application/yaml',
      content: yamlDocuments(headerFor(bundle, 'Linkerd trust anchors ConfigMap'), [configMap]),
      description: `ConfigMap ${ns}/linkerd-identity-trust-roots with ${roots.length} anchor(s)`,
    },
    {
      name: 'linkerd-values.yaml',
      mediaType: 'application/yaml',
      content: yamlDocuments(headerFor(bundle, 'Helm values for linkerd-control-plane'), [
        { identityTrustAnchorsPEM: pem },
      ]),
      description: `Helm value identityTrustAnchorsPEM with ${roots.length} anchor(s)`,
    },
  ];
}
