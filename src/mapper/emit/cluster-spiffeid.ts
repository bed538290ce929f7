/**
 * spire-controller-manager `ClusterSPIFFEID` manifests (spire.spiffe.io/v1alpha1)
 * equivalent to the rules, one file per cluster.
 *
 * ClusterSPIFFEIDs are not ordered (every matching one registers an entry) and select by
 * labels, not globs, so "first match wins" is made explicit: for each (rule, mesh) the
 * manifest selects exactly the namespaces of that cluster where the rule wins,
 * by name (`kubernetes.io/metadata.name In [...]`), and the pods of that mesh by the
 * label its injector sets (Istio sidecars: `security.istio.io/tlsMode`; Linkerd:
 * `linkerd.io/control-plane-ns`). Namespaces the inventory has not seen are therefore
 * not covered: re-run `meshbridge map` after importing them.
 *
 * Template: `{trustDomain}` → `{{ .TrustDomain }}`, `{namespace}` →
 * `{{ .PodMeta.Namespace }}`, `{serviceAccount}` → `{{ .PodSpec.ServiceAccountName }}`;
 * `{cluster}` and `{mesh}` are written literally (each file is for one cluster and each
 * manifest for one mesh). The owner goes to `spec.hint` (`meshbridge:<owner>`, the same
 * mark as the SPIRE entries) and to the `meshbridge.io/owner` annotation.
 */
import { formatDuration } from '../../spiffe/duration.js';
import type { MeshName } from '../identity.js';
import type { MappingResult } from '../map.js';
import type { MappingRules, Placeholder } from '../rules.js';
import { ownershipHint } from '../spire/entries.js';

export const MESH_POD_LABEL: Record<MeshName, string> = {
  istio: 'security.istio.io/tlsMode',
  linkerd: 'linkerd.io/control-plane-ns',
};

export interface ClusterSpiffeIdFile {
  /** null: workloads imported without a cluster name. */
  cluster: string | null;
  manifests: Record<string, unknown>[];
}

export function emitClusterSpiffeIds(rules: MappingRules, result: MappingResult): ClusterSpiffeIdFile[] {
  // cluster -> "rule\0mesh" -> namespaces
  const groups = new Map<
    string | null,
    Map<string, { rule: number; mesh: MeshName | null; namespaces: Set<string> }>
  >();
  for (const m of result.identities) {
    if (m.namespace === null) continue;
    let byRule = groups.get(m.cluster);
    if (byRule === undefined) {
      byRule = new Map();
      groups.set(m.cluster, byRule);
    }
    const key = `${m.rule}\u0000${m.mesh ?? ''}`;
    let g = byRule.get(key);
    if (g === undefined) {
      g = { rule: m.rule, mesh: m.mesh, namespaces: new Set() };
      byRule.set(key, g);
    }
    g.namespaces.add(m.namespace);
  }
  const files: ClusterSpiffeIdFile[] = [];
  const clusters = [...groups.keys()].sort((a, b) => ((a ?? '') < (b ?? '') ? -1 : 1));
  for (const cluster of clusters) {
    const byRule = groups.get(cluster)!;
    const manifests = [...byRule.values()]
      .sort((a, b) => a.rule - b.rule || ((a.mesh ?? '') < (b.mesh ?? '') ? -1 : 1))
      .map((g) => manifest(rules, cluster, g.rule, g.mesh, [...g.namespaces].sort()));
    files.push({ cluster, manifests });
  }
  return files;
}

const GO_TEMPLATE: Record<Exclude<Placeholder, 'cluster' | 'mesh'>, string> = {
  trustDomain: '{{ .TrustDomain }}',
  namespace: '{{ .PodMeta.Namespace }}',
  serviceAccount: '{{ .PodSpec.ServiceAccountName }}',
};

function manifest(
  rules: MappingRules,
  cluster: string | null,
  index: number,
  mesh: MeshName | null,
  namespaces: string[],
): Record<string, unknown> {
  const rule = rules.rules[index]!;
  const toGo = (key: Placeholder) =>
    key === 'cluster'
      ? (cluster ?? '{{ .ClusterName }}')
      : key === 'mesh'
        ? (mesh ?? 'unknown')
        : GO_TEMPLATE[key];
  const name = k8sName(
    ['meshbridge', cluster ?? '', rule.name ?? `rule${index}`, mesh ?? ''].filter(Boolean).join('-'),
  );
  const spec: Record<string, unknown> = {
    spiffeIDTemplate: rule.spiffeId.map(toGo),
    namespaceSelector: {
      matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: namespaces }],
    },
  };
  if (mesh !== null) {
    spec.podSelector = { matchExpressions: [{ key: MESH_POD_LABEL[mesh], operator: 'Exists' }] };
  }
  if (rule.x509SvidTtl > 0) spec.ttl = formatDuration(rule.x509SvidTtl);
  if (rule.jwtSvidTtl > 0) spec.jwtTtl = formatDuration(rule.jwtSvidTtl);
  if (rule.dnsNames.length > 0) spec.dnsNameTemplates = rule.dnsNames.map((t) => t.map(toGo));
  if (rule.federatesWith.length > 0) spec.federatesWith = rule.federatesWith;
  spec.hint = ownershipHint(rule.owner);
  const annotations: Record<string, string> = {
    'meshbridge.io/rule': String(index),
    'meshbridge.io/rules-hash': rules.hash,
  };
  if (rule.name !== null) annotations['meshbridge.io/rule-name'] = rule.name;
  if (rule.owner !== null) annotations['meshbridge.io/owner'] = rule.owner;
  return {
    apiVersion: 'spire.spiffe.io/v1alpha1',
    kind: 'ClusterSPIFFEID',
    metadata: { name, labels: { 'app.kubernetes.io/managed-by': 'meshbridge' }, annotations },
    spec,
  };
}

/** A DNS-subdomain object name (lower case, [a-z0-9.-], at most 253, alphanumeric ends). */
export function k8sName(raw: string): string {
  const s = raw
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  return (s === '' ? 'meshbridge' : s).slice(0, 253).replace(/[^a-z0-9]+$/, '');
}
