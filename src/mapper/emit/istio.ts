/**
 * Istio output:
 *
 * - `meshConfig.trustDomain` (the rules' trust domain) and `trustDomainAliases` (every
 *   trust domain Istio identities and policies use today), as an IstioOperator overlay
 *   and as istiod Helm values. With the aliases, istiod expands every principal
 *   `<alias>/ns/N/sa/S` to `<trustDomain>/ns/N/sa/S` as well, so old policies keep
 *   matching while workloads move.
 * - Each AuthorizationPolicy given, rewritten: `from.source.principals`,
 *   `from.source.notPrincipals` and `when` conditions on `source.principal` name the
 *   mapped IDs (Istio form, no `spiffe://`), wildcards kept as wildcards where the new
 *   IDs allow (see ./translate.ts). Two versions: `cutover` keeps every old principal
 *   next to the new ones; `final` keeps only the new ones (and any value that could not
 *   be translated), for when the cutover is over.
 */
import { parseMeshIdentity, withoutScheme } from '../identity.js';
import type { MappingResult } from '../map.js';
import { type MappingProblem, problem } from '../problems.js';
import type { MappingRules } from '../rules.js';
import { asObj, cleanCopy, type PolicyObject, stringList } from './policies.js';
import type { Translation, Translator } from './translate.js';
import { ordered, unique } from './translate.js';

export interface IstioOutput {
  trustDomain: string;
  trustDomainAliases: string[];
  istioOperator: Record<string, unknown>;
  helmValues: Record<string, unknown>;
  cutover: Record<string, unknown>[];
  final: Record<string, unknown>[];
  problems: MappingProblem[];
}

export function emitIstio(
  rules: MappingRules,
  result: MappingResult,
  policies: readonly PolicyObject[],
  tr: Translator,
): IstioOutput {
  const aliases = new Set<string>();
  for (const m of result.identities) {
    if (m.mesh !== 'istio') continue;
    const td = parseMeshIdentity(m.meshIdentity)?.trustDomain;
    if (td) aliases.add(td);
  }
  const problems: MappingProblem[] = [];
  const cutover: Record<string, unknown>[] = [];
  const final: Record<string, unknown>[] = [];
  for (const p of policies) {
    if (p.kind !== 'AuthorizationPolicy') continue;
    const out = rewritePolicy(p, tr, rules, problems, aliases);
    cutover.push(out.cutover);
    final.push(out.final);
  }
  aliases.delete(rules.trustDomain);
  const trustDomainAliases = [...aliases].sort();
  const meshConfig = { trustDomain: rules.trustDomain, trustDomainAliases };
  return {
    trustDomain: rules.trustDomain,
    trustDomainAliases,
    istioOperator: {
      apiVersion: 'install.istio.io/v1alpha1',
      kind: 'IstioOperator',
      metadata: { name: 'meshbridge-trust-domain', namespace: 'istio-system' },
      spec: { meshConfig },
    },
    helmValues: { meshConfig },
    cutover,
    final,
    problems,
  };
}

function rewritePolicy(
  p: PolicyObject,
  tr: Translator,
  rules: MappingRules,
  problems: MappingProblem[],
  aliases: Set<string>,
): { cutover: Record<string, unknown>; final: Record<string, unknown> } {
  const where = `AuthorizationPolicy ${p.namespace ?? 'default'}/${p.name}`;
  const annotations = (phase: string) => ({
    'meshbridge.io/phase': phase,
    'meshbridge.io/rules-hash': rules.hash,
  });
  const cutover = cleanCopy(p.object, annotations('cutover'));
  const final = cleanCopy(p.object, annotations('final'));
  const notePrincipal = (value: string, t: Translation, field: string, negated: boolean) => {
    const text = withoutScheme(value.trim());
    const td = text.split('/')[0] ?? '';
    if (!text.startsWith('*') && text.includes('/') && /^[a-z0-9._-]+$/.test(td)) aliases.add(td);
    if (value.trim().startsWith('spiffe://')) {
      problems.push(
        problem(
          'POLICY_PRINCIPAL_HAS_SCHEME',
          `${where} ${field}: "${value}" starts with spiffe://; Istio adds the scheme itself, so it never matched. The translation is written without it`,
          { meshIdentity: value, details: { policy: p.locator, field } },
        ),
      );
    }
    if (t.kind === 'unmapped') {
      problems.push(
        problem(
          'POLICY_PRINCIPAL_UNMAPPED',
          `${where} ${field}: "${value}" is kept as it is: ${t.note ?? 'no translation'}`,
          {
            meshIdentity: value,
            details: { policy: p.locator, field },
          },
        ),
      );
    } else if (t.kind === 'expanded') {
      problems.push(
        problem(
          'POLICY_WILDCARD_EXPANDED',
          `${where} ${field}: "${value}" ${t.note ?? 'was expanded'}${negated ? ' (in a negated list: new workloads would not be excluded)' : ''}`,
          { meshIdentity: value, details: { policy: p.locator, field, values: t.values } },
        ),
      );
    }
  };
  const rewriteList = (values: string[], field: string, negated: boolean) => {
    const added: string[] = [];
    const kept: string[] = [];
    for (const v of values) {
      const t = tr.istioPrincipal(v);
      notePrincipal(v, t, field, negated);
      if (t.kind === 'unmapped') kept.push(v);
      else if (t.kind === 'any') kept.push('*');
      else added.push(...t.values);
    }
    return { cutover: ordered([...values, ...unique(added)]), final: ordered([...kept, ...unique(added)]) };
  };

  const specs = [asObj(cutover.spec), asObj(final.spec)] as const;
  const rulesOf = (spec: Record<string, unknown> | null) => (Array.isArray(spec?.rules) ? spec.rules : []);
  const [cRules, fRules] = [rulesOf(specs[0]), rulesOf(specs[1])];
  cRules.forEach((rule: unknown, i: number) => {
    const c = asObj(rule);
    const f = asObj(fRules[i]);
    if (c === null || f === null) return;
    const cFrom = Array.isArray(c.from) ? c.from : [];
    const fFrom = Array.isArray(f.from) ? f.from : [];
    cFrom.forEach((from: unknown, j: number) => {
      const cs = asObj(asObj(from)?.source);
      const fs = asObj(asObj(fFrom[j])?.source);
      if (cs === null || fs === null) return;
      const byNamespace = ['namespaces', 'notNamespaces'].filter((k) => stringList(cs[k]) !== null);
      const flat = rules.rules.filter(
        (r) =>
          (r.match.mesh === null || r.match.mesh.includes('istio')) &&
          !r.spiffeId.text.includes('/ns/{namespace}/'),
      );
      if (byNamespace.length > 0 && flat.length > 0) {
        problems.push(
          problem(
            'POLICY_NAMESPACES_UNMATCHED',
            `${where} rules[${i}].from[${j}].source.${byNamespace.join('/')}: Istio matches namespaces by "/ns/<namespace>/" inside the caller's ID, which the IDs of ${flat.map((r) => `rules[${r.index}]`).join(', ')} do not contain; after the cutover this condition ${byNamespace.includes('notNamespaces') ? 'excludes nobody' : 'matches nobody'}. Name the callers by principal, or keep /ns/{namespace}/ in the template`,
            {
              details: {
                policy: p.locator,
                field: `rules[${i}].from[${j}].source`,
                rules: flat.map((r) => r.index),
              },
            },
          ),
        );
      }
      for (const key of ['principals', 'notPrincipals'] as const) {
        const list = stringList(cs[key]);
        if (list === null) continue;
        const r = rewriteList(list, `rules[${i}].from[${j}].source.${key}`, key === 'notPrincipals');
        cs[key] = r.cutover;
        fs[key] = r.final;
      }
    });
    const cWhen = Array.isArray(c.when) ? c.when : [];
    const fWhen = Array.isArray(f.when) ? f.when : [];
    cWhen.forEach((cond: unknown, j: number) => {
      const cc = asObj(cond);
      const fc = asObj(fWhen[j]);
      if (cc === null || fc === null || cc.key !== 'source.principal') return;
      for (const key of ['values', 'notValues'] as const) {
        const list = stringList(cc[key]);
        if (list === null) continue;
        const r = rewriteList(list, `rules[${i}].when[${j}].${key}`, key === 'notValues');
        cc[key] = r.cutover;
        fc[key] = r.final;
      }
    });
  });
  return { cutover, final };
}
