/**
 * Linkerd output: each `MeshTLSAuthentication` (policy.linkerd.io) given, rewritten so
 * its `identities` also name the mapped SPIFFE IDs:
 *
 * - an exact identity `web.shop.serviceaccount.identity.linkerd.cluster.local` gets the
 *   SPIFFE ID(s) the rules give that account (every cluster Linkerd runs in);
 * - a wildcard `*.shop.serviceaccount.identity.linkerd.cluster.local` and an
 *   `identityRefs` entry of kind Namespace get the IDs of the workloads the inventory
 *   knows in that namespace (Linkerd has no SPIFFE ID wildcards; POLICY_WILDCARD_EXPANDED);
 * - an `identityRefs` entry of kind ServiceAccount gets that account's SPIFFE ID(s);
 * - `*` and values already `spiffe://` stay.
 *
 * `cutover` keeps every old identity and reference; `final` keeps only the SPIFFE IDs
 * (and whatever could not be translated).
 */
import { type MappingProblem, problem } from '../problems.js';
import type { MappingRules } from '../rules.js';
import { asObj, cleanCopy, type PolicyObject, stringList } from './policies.js';
import type { Translation, Translator } from './translate.js';
import { ordered, unique } from './translate.js';

export interface LinkerdOutput {
  cutover: Record<string, unknown>[];
  final: Record<string, unknown>[];
  problems: MappingProblem[];
}

export function emitLinkerd(
  rules: MappingRules,
  policies: readonly PolicyObject[],
  tr: Translator,
): LinkerdOutput {
  const problems: MappingProblem[] = [];
  const cutover: Record<string, unknown>[] = [];
  const final: Record<string, unknown>[] = [];
  for (const p of policies) {
    if (p.kind !== 'MeshTLSAuthentication') continue;
    const where = `MeshTLSAuthentication ${p.namespace ?? 'default'}/${p.name}`;
    const annotations = (phase: string) => ({
      'meshbridge.io/phase': phase,
      'meshbridge.io/rules-hash': rules.hash,
    });
    const c = cleanCopy(p.object, annotations('cutover'));
    const f = cleanCopy(p.object, annotations('final'));
    const cs = asObj(c.spec) ?? {};
    const fs = asObj(f.spec) ?? {};
    const note = (value: string, t: Translation, field: string) => {
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
          problem('POLICY_WILDCARD_EXPANDED', `${where} ${field}: "${value}" ${t.note ?? 'was expanded'}`, {
            meshIdentity: value,
            details: { policy: p.locator, field, values: t.values },
          }),
        );
      }
    };
    const old = stringList(cs.identities) ?? [];
    const added: string[] = [];
    const kept: string[] = [];
    old.forEach((v, i) => {
      const t = tr.linkerdIdentity(v);
      note(v, t, `identities[${i}]`);
      if (t.kind === 'unmapped') kept.push(v);
      else added.push(...t.values);
    });
    const refs = Array.isArray(cs.identityRefs) ? cs.identityRefs : [];
    const keptRefs: unknown[] = [];
    refs.forEach((ref: unknown, i: number) => {
      const r = asObj(ref);
      const kind = r?.kind;
      const ns = typeof r?.namespace === 'string' ? r.namespace : (p.namespace ?? 'default');
      let t: Translation;
      let label: string;
      if (kind === 'ServiceAccount' && typeof r?.name === 'string') {
        label = `ServiceAccount ${ns}/${r.name}`;
        const ids = tr.exactIds('linkerd', ns, r.name, null);
        t =
          ids.length > 0
            ? { values: ids, kind: 'exact' }
            : { values: [], kind: 'unmapped', note: 'no rule matches it' };
      } else if (kind === 'ServiceAccount' || kind === 'Namespace') {
        const name = typeof r?.name === 'string' ? r.name : ns;
        label = `${String(kind)} ${name}`;
        t = tr.linkerdNamespace(kind === 'Namespace' ? name : ns);
      } else {
        label = `${String(kind)} reference`;
        t = {
          values: [],
          kind: 'unmapped',
          note: `identityRefs of kind ${String(kind)} cannot be translated`,
        };
      }
      note(label, t, `identityRefs[${i}]`);
      if (t.kind === 'unmapped') keptRefs.push(ref);
      else added.push(...t.values);
    });
    if (old.length > 0 || added.length > 0) cs.identities = ordered([...old, ...unique(added)]);
    const finalIds = ordered([...kept, ...unique(added)]);
    if (finalIds.length > 0) fs.identities = finalIds;
    else delete fs.identities;
    if (keptRefs.length > 0) fs.identityRefs = keptRefs;
    else delete fs.identityRefs;
    c.spec = cs;
    f.spec = fs;
    cutover.push(c);
    final.push(f);
  }
  return { cutover, final, problems };
}
