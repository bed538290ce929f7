/**
 * Translating the identities an authorization policy names into the mapped SPIFFE IDs.
 *
 * Exact identities are translated by the rules themselves, for every cluster the mesh
 * runs in (a policy naming `cluster.local/ns/a/sa/x` admitted that account from any
 * cluster, so it must admit each cluster's new ID). Wildcards stay wildcards when the
 * new IDs allow it: a prefix pattern (`cluster.local/ns/shop/*`) becomes the rule's
 * template rendered up to the first unknown part (`prod.example.org/k8s/east/ns/shop/sa/*`),
 * a suffix pattern (`*\/sa/web`) the template after the last unknown part. When a
 * template puts the unknown part elsewhere, or the mesh has no SPIFFE ID wildcards
 * (Linkerd), the wildcard is expanded to the SPIFFE IDs of the workloads the inventory
 * knows it matched, and POLICY_WILDCARD_EXPANDED says so.
 */
import { SpiffeId } from '../../spiffe/spiffeid/index.js';
import { type MeshName, parseLinkerdIdentity, parseMeshIdentity, withoutScheme } from '../identity.js';
import type { MappedIdentity, MappingResult } from '../map.js';
import type { CompiledRule, MappingRules, TemplateValues } from '../rules.js';
import { firstMatch, ruleMatches } from '../rules.js';

export type TranslationKind = 'any' | 'exact' | 'prefix' | 'suffix' | 'expanded' | 'unmapped' | 'kept';

export interface Translation {
  /** The new values, in the form the target policy takes (Istio: no scheme; Linkerd: spiffe://). */
  values: string[];
  kind: TranslationKind;
  /** Why nothing (or an expansion) came out. */
  note?: string;
}

const MARK = '\u0001';

export class Translator {
  private readonly byCanonical = new Map<string, MappedIdentity[]>();
  private readonly clusters = new Map<MeshName, (string | null)[]>();

  constructor(
    private readonly rules: MappingRules,
    private readonly result: MappingResult,
  ) {
    const clusters = new Map<MeshName, Set<string | null>>();
    for (const m of result.identities) {
      const list = this.byCanonical.get(m.canonical);
      if (list === undefined) this.byCanonical.set(m.canonical, [m]);
      else list.push(m);
      if (m.mesh !== null) {
        let set = clusters.get(m.mesh);
        if (set === undefined) {
          set = new Set();
          clusters.set(m.mesh, set);
        }
        set.add(m.cluster);
      }
    }
    for (const [mesh, set] of clusters) {
      this.clusters.set(
        mesh,
        [...set].sort((a, b) => ((a ?? '') < (b ?? '') ? -1 : 1)),
      );
    }
  }

  /** Clusters the mesh runs in per the inventory ([null] when unknown). */
  clustersOf(mesh: MeshName): (string | null)[] {
    return this.clusters.get(mesh) ?? [null];
  }

  /** The new SPIFFE IDs (with scheme) of one service account, for every cluster of the mesh. */
  exactIds(mesh: MeshName, namespace: string, serviceAccount: string, canonical: string | null): string[] {
    const out = new Set<string>();
    for (const cluster of this.clustersOf(mesh)) {
      const rule = firstMatch(this.rules, { mesh, cluster, namespace });
      if (rule === null) continue;
      const id = this.render(rule, { cluster, namespace, serviceAccount, mesh });
      if (id !== null) out.add(id);
    }
    if (canonical !== null) for (const m of this.byCanonical.get(canonical) ?? []) out.add(m.spiffeId);
    return [...out].sort();
  }

  /** Mapped identities of `mesh` whose canonical form satisfies `test`. */
  known(mesh: MeshName, test: (canonical: string, m: MappedIdentity) => boolean): MappedIdentity[] {
    return this.result.identities.filter((m) => m.mesh === mesh && test(m.canonical, m));
  }

  /** An Istio `principals` / `notPrincipals` / `source.principal` value. */
  istioPrincipal(value: string): Translation {
    const raw = value.trim();
    if (raw === '*') return { values: ['*'], kind: 'any' };
    const text = withoutScheme(raw);
    const star = text.indexOf('*');
    if (star === -1) {
      const parsed = parseMeshIdentity(text);
      if (parsed === null || parsed.mesh !== 'istio') {
        const ids = (this.byCanonical.get(`spiffe://${text}`) ?? []).map((m) => withoutScheme(m.spiffeId));
        return ids.length > 0
          ? { values: unique(ids), kind: 'exact' }
          : { values: [], kind: 'unmapped', note: 'not an Istio identity the inventory or the rules know' };
      }
      const ids = this.exactIds('istio', parsed.namespace!, parsed.serviceAccount!, parsed.canonical);
      return ids.length > 0
        ? { values: ids.map(withoutScheme), kind: 'exact' }
        : { values: [], kind: 'unmapped', note: 'no rule matches this identity in any cluster' };
    }
    if (star !== text.lastIndexOf('*') || (star !== 0 && star !== text.length - 1)) {
      return { values: [], kind: 'unmapped', note: 'Istio accepts * only at the start or the end' };
    }
    if (star === text.length - 1) return this.istioPrefix(text.slice(0, -1));
    return this.istioSuffix(text.slice(1));
  }

  private istioPrefix(prefix: string): Translation {
    const parts = prefix.split('/');
    const td = parts[0] ?? '';
    // td/ns/NS/sa/SAPREFIX  or  td/ns/NS/  (both: namespace fixed, account open)
    const nsFixed =
      (parts.length === 5 && parts[1] === 'ns' && parts[3] === 'sa') ||
      (parts.length === 4 && parts[1] === 'ns' && parts[3] === '');
    if (nsFixed && td !== '' && parts[2] !== '') {
      const ns = parts[2]!;
      const saPrefix = parts.length === 5 ? parts[4]! : '';
      const out = new Set<string>();
      let ok = true;
      for (const cluster of this.clustersOf('istio')) {
        const rule = firstMatch(this.rules, { mesh: 'istio', cluster, namespace: ns });
        if (rule === null) continue;
        const r = rule.spiffeId.render(
          this.values({ cluster, namespace: ns, serviceAccount: MARK, mesh: 'istio' }),
        );
        if (!r.ok) continue;
        const at = r.value.indexOf(MARK);
        if (at === -1 || at !== r.value.length - 1 || !r.value.slice(0, at).includes(ns)) {
          ok = false;
          break;
        }
        out.add(`${withoutScheme(r.value.slice(0, at))}${saPrefix}*`);
      }
      if (ok && out.size > 0) return { values: [...out].sort(), kind: 'prefix' };
      return this.expandIstio((c) => c.startsWith(`spiffe://${prefix}`));
    }
    // td/  (every identity of the old trust domain)
    if (parts.length === 2 && parts[1] === '' && td !== '') {
      const all = this.known('istio', (c) => c.startsWith(`spiffe://${td}/`));
      if (all.length > 0 && all.every((m) => m.spiffeId.startsWith(`spiffe://${this.rules.trustDomain}/`))) {
        return { values: [`${this.rules.trustDomain}/*`], kind: 'prefix' };
      }
    }
    return this.expandIstio((c) => c.startsWith(`spiffe://${prefix}`));
  }

  private istioSuffix(suffix: string): Translation {
    let fixed: { namespace: string | null; serviceAccount: string; mustContain: string[] } | null = null;
    const both = /^\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(suffix);
    const saOnly = /^\/sa\/([^/]+)$/.exec(suffix);
    if (both) fixed = { namespace: both[1]!, serviceAccount: both[2]!, mustContain: [both[1]!, both[2]!] };
    else if (saOnly) fixed = { namespace: null, serviceAccount: saOnly[1]!, mustContain: [saOnly[1]!] };
    else if (/^[a-zA-Z0-9._-]+$/.test(suffix))
      fixed = { namespace: null, serviceAccount: `${MARK}${suffix}`, mustContain: [suffix] };
    if (fixed !== null) {
      const out = new Set<string>();
      let ok = true;
      for (const cluster of this.clustersOf('istio')) {
        const candidates =
          fixed.namespace === null
            ? this.reachable('istio', cluster)
            : [firstMatch(this.rules, { mesh: 'istio', cluster, namespace: fixed.namespace })].filter(
                (r): r is CompiledRule => r !== null,
              );
        for (const rule of candidates) {
          const r = rule.spiffeId.render(
            this.values({
              cluster,
              namespace: fixed.namespace ?? MARK,
              serviceAccount: fixed.serviceAccount,
              mesh: 'istio',
            }),
          );
          if (!r.ok) continue;
          const last = r.value.lastIndexOf(MARK);
          const tail = last === -1 ? r.value.replace(/^spiffe:\/\/[^/]*/, '') : r.value.slice(last + 1);
          if (tail === '' || !fixed.mustContain.every((v) => tail.includes(v))) {
            ok = false;
            break;
          }
          out.add(`*${tail}`);
        }
        if (!ok) break;
      }
      if (ok && out.size > 0) return { values: [...out].sort(), kind: 'suffix' };
    }
    return this.expandIstio((c) => c.endsWith(suffix));
  }

  private expandIstio(test: (canonical: string) => boolean): Translation {
    const ids = unique(this.known('istio', (c) => test(c)).map((m) => withoutScheme(m.spiffeId)));
    return ids.length > 0
      ? {
          values: ids,
          kind: 'expanded',
          note: `expanded to the ${ids.length} workload identit${ids.length === 1 ? 'y' : 'ies'} the inventory knows; workloads added later are not covered`,
        }
      : { values: [], kind: 'unmapped', note: 'the inventory has no workload this wildcard matches' };
  }

  /** A Linkerd `MeshTLSAuthentication.spec.identities` value. */
  linkerdIdentity(value: string): Translation {
    const raw = value.trim();
    if (raw === '*') return { values: ['*'], kind: 'any' };
    if (raw.startsWith('spiffe://')) return { values: [raw], kind: 'kept' };
    if (raw.startsWith('*.')) {
      const suffix = raw.slice(1).toLowerCase();
      const ids = unique(this.known('linkerd', (c) => c.endsWith(suffix)).map((m) => m.spiffeId));
      return ids.length > 0
        ? {
            values: ids,
            kind: 'expanded',
            note: `Linkerd takes no SPIFFE ID wildcards: expanded to the ${ids.length} workload identit${ids.length === 1 ? 'y' : 'ies'} the inventory knows; workloads added later are not covered`,
          }
        : { values: [], kind: 'unmapped', note: 'the inventory has no workload this wildcard matches' };
    }
    const parsed = parseLinkerdIdentity(raw);
    if (parsed === null) return { values: [], kind: 'unmapped', note: 'not a Linkerd identity' };
    const ids = this.exactIds('linkerd', parsed.namespace!, parsed.serviceAccount!, parsed.canonical);
    return ids.length > 0
      ? { values: ids, kind: 'exact' }
      : { values: [], kind: 'unmapped', note: 'no rule matches this identity in any cluster' };
  }

  /** Every SPIFFE ID of a Linkerd namespace (an `identityRefs` entry of kind Namespace). */
  linkerdNamespace(namespace: string): Translation {
    const ids = unique(this.known('linkerd', (_c, m) => m.namespace === namespace).map((m) => m.spiffeId));
    return ids.length > 0
      ? {
          values: ids,
          kind: 'expanded',
          note: `expanded to the ${ids.length} workload identit${ids.length === 1 ? 'y' : 'ies'} of namespace ${namespace} the inventory knows`,
        }
      : { values: [], kind: 'unmapped', note: `the inventory has no workload in namespace ${namespace}` };
  }

  /**
   * The rules that can win for some namespace of this mesh and cluster, in order: up to
   * and including the first one without a namespace condition (it shadows all later ones).
   */
  private reachable(mesh: MeshName, cluster: string | null): CompiledRule[] {
    const out: CompiledRule[] = [];
    for (const rule of this.rules.rules) {
      const open = { ...rule, match: { ...rule.match, namespace: null } };
      if (!ruleMatches(open, { mesh, cluster, namespace: null })) continue;
      out.push(rule);
      if (rule.match.namespace === null) break;
    }
    return out;
  }

  private values(v: Omit<TemplateValues, 'trustDomain'>): TemplateValues {
    return { trustDomain: this.rules.trustDomain, ...v };
  }

  private render(rule: CompiledRule, v: Omit<TemplateValues, 'trustDomain'>): string | null {
    const r = rule.spiffeId.render(this.values(v));
    if (!r.ok) return null;
    try {
      return SpiffeId.parse(r.value).toString();
    } catch {
      return null;
    }
  }
}

export function unique(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

/** Each value once, in first-seen order (old values stay where the team wrote them). */
export function ordered(values: Iterable<string>): string[] {
  return [...new Set(values)];
}
