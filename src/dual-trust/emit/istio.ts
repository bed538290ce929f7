import { type PhaseBundle, pooledRoots } from '../compose.js';
import { inputError } from '../errors.js';
import type { Artifact, EmitOptions } from './artifact.js';
import { pemOf } from './pem.js';
import { annotations, headerFor, MANAGED_BY, yamlDocuments } from './yaml.js';

/**
 * `istio-cacerts`: the plug-in CA Secret `cacerts` (istio-system) with a multi-root
 * `root-cert.pem` (every root of the phase, pooled: istiod distributes it as the mesh's
 * trust). Given the current Secret, its other keys (`ca-cert.pem`, `ca-key.pem`,
 * `cert-chain.pem`, ...) are carried over unchanged; without it only `root-cert.pem` is
 * written, to be merged with `kubectl patch secret cacerts -n istio-system --patch-file`.
 */
export function emitIstioCacerts(bundle: PhaseBundle, opts: EmitOptions): Artifact[] {
  const pem = pemOf(pooledRoots(bundle));
  const base = opts.cacertsBase;
  let data: Record<string, string> = {};
  let type = 'Opaque';
  let namespace = opts.namespace ?? 'istio-system';
  if (base !== undefined) {
    const meta = (base.metadata ?? {}) as Record<string, unknown>;
    if (base.kind !== 'Secret' || (meta.name !== undefined && meta.name !== 'cacerts')) {
      throw inputError('BUNDLE_CACERTS_BASE_INVALID', 'the --cacerts file must hold the cacerts Secret');
    }
    if (typeof base.type === 'string') type = base.type;
    if (typeof meta.namespace === 'string' && opts.namespace === undefined) namespace = meta.namespace;
    const existing = (base.data ?? {}) as Record<string, unknown>;
    const plain = (base.stringData ?? {}) as Record<string, unknown>;
    for (const [k, v] of Object.entries(existing)) if (typeof v === 'string') data[k] = v;
    for (const [k, v] of Object.entries(plain))
      if (typeof v === 'string') data[k] = Buffer.from(v).toString('base64');
  }
  data = { ...data, 'root-cert.pem': Buffer.from(pem).toString('base64') };
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'cacerts', namespace, labels: { ...MANAGED_BY }, annotations: annotations(bundle) },
    type,
    data: Object.fromEntries(Object.entries(data).sort(([a], [b]) => (a < b ? -1 : 1))),
  };
  const header = headerFor(bundle, 'Istio plug-in CA Secret cacerts with a multi-root root-cert.pem');
  if (base === undefined) {
    header.push('only root-cert.pem is set: merge it into the existing Secret with');
    header.push('  kubectl patch secret cacerts -n istio-system --patch-file <this file>');
  }
  return [
    {
      name: 'istio-cacerts.yaml',
      mediaType: 'application/yaml',
      content: yamlDocuments(header, [secret]),
      description: `Secret ${namespace}/cacerts with ${pooledRoots(bundle).length} root(s) in root-cert.pem`,
    },
  ];
}

/**
 * `istio-mesh-config`: `meshConfig.caCertificates` entries, one per root, each with the
 * trust domains it verifies (`trustDomains`), as Helm values for istiod (the same
 * `meshConfig` block goes under `spec.meshConfig` of an IstioOperator).
 */
export function emitIstioMeshConfig(bundle: PhaseBundle, _opts: EmitOptions): Artifact[] {
  const byFingerprint = new Map<string, { pem: string; trustDomains: string[] }>();
  for (const td of bundle.trustDomains) {
    for (const r of td.roots) {
      const entry = byFingerprint.get(r.fingerprint);
      if (entry === undefined) byFingerprint.set(r.fingerprint, { pem: pemOf([r]), trustDomains: [td.name] });
      else if (!entry.trustDomains.includes(td.name)) entry.trustDomains.push(td.name);
    }
  }
  const caCertificates = pooledRoots(bundle).map((r) => {
    const e = byFingerprint.get(r.fingerprint)!;
    return { pem: e.pem, trustDomains: [...e.trustDomains].sort() };
  });
  return [
    {
      name: 'istio-mesh-config.yaml',
      mediaType: 'application/yaml',
      content: yamlDocuments(headerFor(bundle, 'istiod Helm values: meshConfig.caCertificates'), [
        { meshConfig: { caCertificates } },
      ]),
      description: `meshConfig.caCertificates with ${caCertificates.length} entr${caCertificates.length === 1 ? 'y' : 'ies'}`,
    },
  ];
}

/** `istio-root-configmap`: the `istio-ca-root-cert` ConfigMap (label istio.io/config) per namespace. */
export function emitIstioRootConfigMap(bundle: PhaseBundle, opts: EmitOptions): Artifact[] {
  const pem = pemOf(pooledRoots(bundle));
  const namespaces = opts.namespaces?.length ? opts.namespaces : [opts.namespace ?? 'istio-system'];
  const docs = namespaces.map((ns) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: 'istio-ca-root-cert',
      namespace: ns,
      labels: { 'istio.io/config': 'true', ...MANAGED_BY },
      annotations: annotations(bundle),
    },
    data: { 'root-cert.pem': pem },
  }));
  return [
    {
      name: 'istio-ca-root-cert.yaml',
      mediaType: 'application/yaml',
      content: yamlDocuments(
        headerFor(bundle, 'ConfigMap istio-ca-root-cert (what sidecars mount as their roots)'),
        docs,
      ),
      description: `ConfigMap istio-ca-root-cert in ${namespaces.join(', ')}`,
    },
  ];
}
