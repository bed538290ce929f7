/**
 * `mapWorkloads`: inventory workloads in, SPIFFE IDs out. Pure: no I/O, no clock.
 *
 * Workloads are grouped by mesh identity (mesh, cluster, identity), since every replica
 * and every rotated certificate of one service account carries the same one. Each group
 * is matched against the rules (first match wins), its template rendered and the result
 * validated as a SPIFFE ID. Then the whole picture is checked: two identities on one ID
 * (collision), an ID different from the stored mapping's (continuity), an ID outside the
 * trust domain. Nothing is dropped: a workload without a mapping is in `unmapped`, with
 * a problem saying why.
 */
import type { CertificateView } from '../mesh-import/inventory.js';
import type { SpiffeError } from '../spiffe/errors.js';
import { RECOMMENDED_MAX_ID_LENGTH, SpiffeId } from '../spiffe/spiffeid/index.js';
import { isMeshName, type MeshName, type ParsedIdentity, parseMeshIdentity } from './identity.js';
import {
  hasBlocking,
  type IdentitySource,
  type MappingProblem,
  type MappingProblemCode,
  problem,
} from './problems.js';
import {
  type CompiledRule,
  explainRule,
  firstMatch,
  type MappingRules,
  type RuleCheck,
  type RuleSubject,
  type TemplateValues,
} from './rules.js';

/** The fields of an inventory workload the mapper reads (a domain certificate or a stored row). */
export type MappableWorkload = Pick<
  CertificateView,
  'fingerprint' | 'mesh' | 'cluster' | 'meshIdentity' | 'namespace' | 'serviceAccount'
> & {
  spiffeId?: string | null;
  sources?: string[];
};

/** One workload certificate and the SPIFFE ID its mesh identity maps to. */
export interface Mapping {
  fingerprint: string;
  mesh: MeshName | null;
  cluster: string | null;
  meshIdentity: string;
  spiffeId: string;
  /** Index of the rule that matched. */
  rule: number;
  owner: string | null;
  namespace: string | null;
  serviceAccount: string | null;
}

export interface UnmappedWorkload {
  fingerprint: string;
  meshIdentity: string | null;
  mesh: MeshName | null;
  cluster: string | null;
  /** The problem that says why. */
  reason: MappingProblemCode;
}

/** One distinct mesh identity and what it maps to (what SPIRE entries and policies are built from). */
export interface MappedIdentity {
  mesh: MeshName | null;
  cluster: string | null;
  meshIdentity: string;
  /** Comparison key of the identity (`spiffe://...` for Istio shapes, the lower-cased DNS name for Linkerd). */
  canonical: string;
  namespace: string | null;
  serviceAccount: string | null;
  spiffeId: string;
  rule: number;
  owner: string | null;
  fingerprints: string[];
}

/** The mapping a previous accepted run stored, per identity (for continuity checks). */
export interface PreviousMapping {
  rulesHash: string;
  runId?: string;
  createdAt?: string;
  identities: { mesh: string | null; cluster: string | null; meshIdentity: string; spiffeId: string }[];
}

export interface MapOptions {
  /** Report ID_CHANGED / ID_REASSIGNED as non-blocking (an intended rules change). */
  allowIdChanges?: boolean;
}

export interface MappingResult {
  trustDomain: string;
  rulesHash: string;
  rulesVersion: number;
  mappings: Mapping[];
  unmapped: UnmappedWorkload[];
  problems: MappingProblem[];
  identities: MappedIdentity[];
  /** True when any problem is blocking. */
  blocking: boolean;
  stats: { workloads: number; identities: number; mapped: number; unmapped: number };
}

interface Group {
  key: string;
  mesh: MeshName | null;
  cluster: string | null;
  meshIdentity: string;
  canonical: string;
  namespace: string | null;
  serviceAccount: string | null;
  fingerprints: string[];
}

const MAX_LISTED = 5;

export function identityKey(mesh: string | null, cluster: string | null, canonical: string): string {
  return `${mesh ?? ''}\u0000${cluster ?? ''}\u0000${canonical}`;
}

function describe(mesh: string | null, cluster: string | null, identity: string): string {
  return `${mesh ?? 'unknown mesh'}/${cluster ?? 'no cluster'} ${identity}`;
}

/** Maps workloads to SPIFFE IDs with `rules`; `previous` is the last stored accepted mapping. */
export function mapWorkloads(
  workloads: Iterable<MappableWorkload>,
  rules: MappingRules,
  previous?: PreviousMapping | null,
  opts: MapOptions = {},
): MappingResult {
  const problems: MappingProblem[] = [];
  const unmapped: UnmappedWorkload[] = [];
  const groups = new Map<string, Group>();
  const noIdentity: MappableWorkload[] = [];
  let total = 0;

  for (const w of workloads) {
    total++;
    const identity = w.meshIdentity?.trim() ?? '';
    if (identity === '') {
      noIdentity.push(w);
      continue;
    }
    // Fast path: the importer stores mesh, namespace and account beside the identity, and a
    // `spiffe://` identity is its own canonical form; only incomplete records are parsed.
    const complete = isMeshName(w.mesh) && w.namespace != null && w.serviceAccount != null;
    const parsed = complete && identity.startsWith('spiffe://') ? null : parseMeshIdentity(identity);
    const mesh: MeshName | null = isMeshName(w.mesh) ? w.mesh : (parsed?.mesh ?? null);
    const cluster = w.cluster ?? null;
    const canonical = parsed?.canonical ?? identity;
    const key = identityKey(mesh, cluster, canonical);
    let g = groups.get(key);
    if (g === undefined) {
      g = {
        key,
        mesh,
        cluster,
        meshIdentity: identity,
        canonical,
        namespace: w.namespace ?? parsed?.namespace ?? null,
        serviceAccount: w.serviceAccount ?? parsed?.serviceAccount ?? null,
        fingerprints: [],
      };
      groups.set(key, g);
    }
    g.fingerprints.push(w.fingerprint);
  }

  if (noIdentity.length > 0) {
    for (const w of noIdentity) {
      unmapped.push({
        fingerprint: w.fingerprint,
        meshIdentity: null,
        mesh: isMeshName(w.mesh) ? w.mesh : null,
        cluster: w.cluster ?? null,
        reason: 'NO_MESH_IDENTITY',
      });
    }
    problems.push(
      problem(
        'NO_MESH_IDENTITY',
        `${noIdentity.length} workload certificate${noIdentity.length === 1 ? ' carries' : 's carry'} no mesh identity (no SPIFFE URI SAN, no Linkerd identity name) and cannot be mapped; they are listed in unmapped`,
        {
          fingerprints: noIdentity.slice(0, MAX_LISTED).map((w) => w.fingerprint),
          details: { count: noIdentity.length },
        },
      ),
    );
  }

  // (mesh, cluster) -> namespace -> first matching rule
  const ruleCache = new Map<string, Map<string | null, CompiledRule | null>>();
  const values: TemplateValues = { trustDomain: rules.trustDomain };
  const used = new Set<number>();
  const identities: MappedIdentity[] = [];
  const byId = new Map<string, MappedIdentity[]>();
  const td = rules.trustDomain;

  const fail = (g: Group, code: MappingProblemCode, message: string, extra: Partial<MappingProblem> = {}) => {
    for (const fp of g.fingerprints) {
      unmapped.push({
        fingerprint: fp,
        meshIdentity: g.meshIdentity,
        mesh: g.mesh,
        cluster: g.cluster,
        reason: code,
      });
    }
    problems.push(
      problem(code, message, {
        mesh: g.mesh,
        cluster: g.cluster,
        meshIdentity: g.meshIdentity,
        fingerprints: g.fingerprints.slice(0, MAX_LISTED),
        ...extra,
      }),
    );
  };

  for (const g of groups.values()) {
    const scopeKey = `${g.mesh ?? ''}\u0000${g.cluster ?? ''}`;
    let scope = ruleCache.get(scopeKey);
    if (scope === undefined) {
      scope = new Map();
      ruleCache.set(scopeKey, scope);
    }
    let rule = scope.get(g.namespace);
    if (rule === undefined) {
      const subject: RuleSubject = { mesh: g.mesh, cluster: g.cluster, namespace: g.namespace };
      rule = firstMatch(rules, subject);
      scope.set(g.namespace, rule);
    }
    if (rule === null) {
      fail(
        g,
        'NO_RULE_MATCHED',
        `no rule matches ${describe(g.mesh, g.cluster, g.meshIdentity)} (namespace ${g.namespace ?? 'unknown'}); add a rule for it or it will be left behind`,
      );
      continue;
    }
    used.add(rule.index);
    values.cluster = g.cluster;
    values.namespace = g.namespace;
    values.serviceAccount = g.serviceAccount;
    values.mesh = g.mesh;
    const rendered = rule.spiffeId.render(values);
    if (!rendered.ok) {
      fail(
        g,
        'TEMPLATE_VALUE_MISSING',
        `rule ${ruleLabel(rule)} needs {${rendered.missing}} but ${describe(g.mesh, g.cluster, g.meshIdentity)} has none${rendered.missing === 'cluster' ? ' (import it with a cluster name)' : ''}`,
        { rule: rule.index, owner: rule.owner, details: { missing: rendered.missing } },
      );
      continue;
    }
    let id: SpiffeId;
    try {
      id = SpiffeId.parse(rendered.value);
    } catch (err) {
      const e = err as SpiffeError;
      fail(
        g,
        'INVALID_SPIFFE_ID',
        `rule ${ruleLabel(rule)} makes "${rendered.value}" for ${describe(g.mesh, g.cluster, g.meshIdentity)}, which is not a SPIFFE ID: ${e.message}`,
        {
          rule: rule.index,
          owner: rule.owner,
          details: {
            value: rendered.value,
            error: e.code,
            ...(e.rule === undefined ? {} : { spiffeRule: e.rule }),
          },
        },
      );
      continue;
    }
    const spiffeId = id.toString();
    const mapped: MappedIdentity = {
      mesh: g.mesh,
      cluster: g.cluster,
      meshIdentity: g.meshIdentity,
      canonical: g.canonical,
      namespace: g.namespace,
      serviceAccount: g.serviceAccount,
      spiffeId,
      rule: rule.index,
      owner: rule.owner,
      fingerprints: g.fingerprints,
    };
    identities.push(mapped);
    const same = byId.get(spiffeId);
    if (same === undefined) byId.set(spiffeId, [mapped]);
    else same.push(mapped);
    if (id.trustDomain.name !== td) {
      problems.push(
        problem(
          'OUTSIDE_TRUST_DOMAIN',
          `${spiffeId} (rule ${ruleLabel(rule)}, for ${describe(g.mesh, g.cluster, g.meshIdentity)}) is not in the target trust domain ${td}`,
          {
            mesh: g.mesh,
            cluster: g.cluster,
            meshIdentity: g.meshIdentity,
            spiffeId,
            rule: rule.index,
            owner: rule.owner,
          },
        ),
      );
    }
    if (spiffeId.length > RECOMMENDED_MAX_ID_LENGTH) {
      problems.push(
        problem(
          'ID_TOO_LONG',
          `${spiffeId.slice(0, 64)}... is ${spiffeId.length} bytes; SPIFFE IDs should not exceed ${RECOMMENDED_MAX_ID_LENGTH} (spiffe-rules.md A.13)`,
          { meshIdentity: g.meshIdentity, spiffeId, rule: rule.index, owner: rule.owner },
        ),
      );
    }
  }

  // Collisions: one SPIFFE ID, several mesh identities.
  for (const [spiffeId, list] of byId) {
    if (list.length < 2) continue;
    list.sort((a, b) =>
      cmp(identityKey(a.mesh, a.cluster, a.canonical), identityKey(b.mesh, b.cluster, b.canonical)),
    );
    const sources = list.map(sourceOf);
    problems.push(
      problem(
        'ID_COLLISION',
        `${spiffeId} would be given to ${list.length} different mesh identities: ${list
          .map((m) => describe(m.mesh, m.cluster, m.meshIdentity))
          .join(
            ' and ',
          )}; add what tells them apart to the template (e.g. {cluster} or {mesh}) or map them with separate rules`,
        { spiffeId, sources, rule: list[0]!.rule, owner: list[0]!.owner },
      ),
    );
  }

  // Continuity against the last accepted mapping.
  if (previous) {
    const prevByKey = new Map<string, string>();
    const prevById = new Map<string, { key: string; label: string }>();
    for (const p of previous.identities) {
      const canonical = parseMeshIdentity(p.meshIdentity)?.canonical ?? p.meshIdentity;
      const key = identityKey(p.mesh, p.cluster, canonical);
      prevByKey.set(key, p.spiffeId);
      if (!prevById.has(p.spiffeId))
        prevById.set(p.spiffeId, { key, label: describe(p.mesh, p.cluster, p.meshIdentity) });
    }
    const blocking = !opts.allowIdChanges;
    const since = previous.createdAt
      ? ` (stored ${previous.createdAt}, rules ${previous.rulesHash.slice(0, 12)})`
      : '';
    for (const m of identities) {
      const key = identityKey(m.mesh, m.cluster, m.canonical);
      const before = prevByKey.get(key);
      if (before !== undefined && before !== m.spiffeId) {
        problems.push(
          problem(
            'ID_CHANGED',
            `${describe(m.mesh, m.cluster, m.meshIdentity)} was mapped to ${before}${since} and would now be ${m.spiffeId}; SVIDs and policies already use the old ID${blocking ? ' (pass --allow-id-changes if this is intended)' : ''}`,
            {
              blocking,
              mesh: m.mesh,
              cluster: m.cluster,
              meshIdentity: m.meshIdentity,
              spiffeId: m.spiffeId,
              rule: m.rule,
              owner: m.owner,
              details: { previous: before, previousRulesHash: previous.rulesHash, rulesHash: rules.hash },
            },
          ),
        );
      }
      const holder = prevById.get(m.spiffeId);
      if (holder !== undefined && holder.key !== key) {
        const stillThere = byId
          .get(m.spiffeId)
          ?.some((o) => identityKey(o.mesh, o.cluster, o.canonical) === holder.key);
        if (!stillThere) {
          problems.push(
            problem(
              'ID_REASSIGNED',
              `${m.spiffeId} belonged to ${holder.label}${since} and would now go to ${describe(m.mesh, m.cluster, m.meshIdentity)}; policies naming it would authorize a different workload`,
              {
                blocking,
                mesh: m.mesh,
                cluster: m.cluster,
                meshIdentity: m.meshIdentity,
                spiffeId: m.spiffeId,
                rule: m.rule,
                owner: m.owner,
                details: { previousHolder: holder.label, previousRulesHash: previous.rulesHash },
              },
            ),
          );
        }
      }
    }
  }

  for (const r of rules.rules) {
    if (!used.has(r.index) && groups.size > 0) {
      problems.push(
        problem(
          'RULE_UNUSED',
          `rule ${ruleLabel(r)} matches no workload${r.index > 0 ? ' (an earlier rule may match first: first match wins)' : ''}`,
          { rule: r.index, owner: r.owner },
        ),
      );
    }
  }

  // Identities sorted by SPIFFE ID; mappings follow in that order, by fingerprint within one.
  identities.sort(
    (a, b) =>
      cmp(a.spiffeId, b.spiffeId) ||
      cmp(identityKey(a.mesh, a.cluster, a.canonical), identityKey(b.mesh, b.cluster, b.canonical)),
  );
  const mappings: Mapping[] = [];
  for (const m of identities) {
    if (m.fingerprints.length > 1) m.fingerprints.sort();
    for (const fp of m.fingerprints) {
      mappings.push({
        fingerprint: fp,
        mesh: m.mesh,
        cluster: m.cluster,
        meshIdentity: m.meshIdentity,
        spiffeId: m.spiffeId,
        rule: m.rule,
        owner: m.owner,
        namespace: m.namespace,
        serviceAccount: m.serviceAccount,
      });
    }
  }
  unmapped.sort(
    (a, b) => cmp(a.meshIdentity ?? '', b.meshIdentity ?? '') || cmp(a.fingerprint, b.fingerprint),
  );
  problems.sort(byProblem);

  return {
    trustDomain: td,
    rulesHash: rules.hash,
    rulesVersion: rules.version,
    mappings,
    unmapped,
    problems,
    identities,
    blocking: hasBlocking(problems),
    stats: { workloads: total, identities: groups.size, mapped: mappings.length, unmapped: unmapped.length },
  };
}

function sourceOf(m: MappedIdentity): IdentitySource {
  return {
    mesh: m.mesh,
    cluster: m.cluster,
    meshIdentity: m.meshIdentity,
    fingerprints: m.fingerprints.slice(0, MAX_LISTED),
    rule: m.rule,
  };
}

export function ruleLabel(r: CompiledRule): string {
  return r.name === null ? `rules[${r.index}]` : `rules[${r.index}] "${r.name}"`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const BLOCKING_FIRST = (p: MappingProblem) => (p.blocking ? 0 : 1);

function byProblem(a: MappingProblem, b: MappingProblem): number {
  return (
    BLOCKING_FIRST(a) - BLOCKING_FIRST(b) ||
    cmp(a.code, b.code) ||
    cmp(a.spiffeId ?? '', b.spiffeId ?? '') ||
    cmp(a.meshIdentity ?? '', b.meshIdentity ?? '') ||
    cmp(a.cluster ?? '', b.cluster ?? '') ||
    cmp(a.message, b.message)
  );
}

// ---------------------------------------------------------------- explain

export interface RuleVerdict {
  index: number;
  name: string | null;
  matched: boolean;
  checks: RuleCheck[];
}

export interface ExplainedSubject {
  mesh: MeshName | null;
  cluster: string | null;
  namespace: string | null;
  serviceAccount: string | null;
  /** Workload certificates in the inventory with this identity in this cluster. */
  fingerprints: string[];
  /** Every rule up to and including the first match (later rules are never tried). */
  rules: RuleVerdict[];
  rule: number | null;
  owner: string | null;
  spiffeId: string | null;
  /** Why there is no SPIFFE ID, when there is none. */
  problem: { code: MappingProblemCode; message: string } | null;
}

export interface Explanation {
  identity: string;
  parsed: {
    form: ParsedIdentity['form'] | null;
    mesh: MeshName | null;
    trustDomain: string | null;
    namespace: string | null;
    serviceAccount: string | null;
  };
  inInventory: boolean;
  subjects: ExplainedSubject[];
  /** Problems of a full mapping run that involve this identity (when a result was given). */
  problems: MappingProblem[];
}

export interface ExplainOptions {
  /** Cluster(s) to explain for when the inventory does not hold the identity. */
  cluster?: string | null;
  mesh?: MeshName | null;
  /** A full mapping result, to list the problems (collisions, ...) this identity is part of. */
  result?: MappingResult;
}

/** Why `identity` maps to what it maps to: every rule tried, each check, the winner. */
export function explainIdentity(
  identity: string,
  rules: MappingRules,
  workloads: Iterable<MappableWorkload>,
  opts: ExplainOptions = {},
): Explanation | null {
  const parsed = parseMeshIdentity(identity);
  const canonical = parsed?.canonical ?? identity.trim();
  const subjects = new Map<
    string,
    { mesh: MeshName | null; cluster: string | null; ns: string | null; sa: string | null; fps: string[] }
  >();
  for (const w of workloads) {
    if (!w.meshIdentity) continue;
    const p = parseMeshIdentity(w.meshIdentity);
    if ((p?.canonical ?? w.meshIdentity.trim()) !== canonical) continue;
    const mesh: MeshName | null = isMeshName(w.mesh) ? w.mesh : (p?.mesh ?? null);
    if (opts.cluster != null && w.cluster !== opts.cluster) continue;
    const key = `${mesh ?? ''}\u0000${w.cluster ?? ''}`;
    let s = subjects.get(key);
    if (s === undefined) {
      s = {
        mesh,
        cluster: w.cluster ?? null,
        ns: w.namespace ?? p?.namespace ?? null,
        sa: w.serviceAccount ?? p?.serviceAccount ?? null,
        fps: [],
      };
      subjects.set(key, s);
    }
    s.fps.push(w.fingerprint);
  }
  const inInventory = subjects.size > 0;
  if (!inInventory) {
    if (parsed === null) return null;
    subjects.set('', {
      mesh: opts.mesh ?? parsed.mesh,
      cluster: opts.cluster ?? null,
      ns: parsed.namespace,
      sa: parsed.serviceAccount,
      fps: [],
    });
  }
  const explained: ExplainedSubject[] = [...subjects.values()]
    .sort((a, b) => cmp(a.mesh ?? '', b.mesh ?? '') || cmp(a.cluster ?? '', b.cluster ?? ''))
    .map((s) => explainSubject(rules, s));
  const related = (opts.result?.problems ?? []).filter(
    (p) =>
      (p.meshIdentity != null &&
        (parseMeshIdentity(p.meshIdentity)?.canonical ?? p.meshIdentity) === canonical) ||
      (p.sources ?? []).some(
        (src) => (parseMeshIdentity(src.meshIdentity)?.canonical ?? src.meshIdentity) === canonical,
      ),
  );
  return {
    identity,
    parsed: {
      form: parsed?.form ?? null,
      mesh: parsed?.mesh ?? null,
      trustDomain: parsed?.trustDomain ?? null,
      namespace: parsed?.namespace ?? null,
      serviceAccount: parsed?.serviceAccount ?? null,
    },
    inInventory,
    subjects: explained,
    problems: related,
  };
}

function explainSubject(
  rules: MappingRules,
  s: { mesh: MeshName | null; cluster: string | null; ns: string | null; sa: string | null; fps: string[] },
): ExplainedSubject {
  const subject: RuleSubject = { mesh: s.mesh, cluster: s.cluster, namespace: s.ns };
  const verdicts: RuleVerdict[] = [];
  let winner: CompiledRule | null = null;
  for (const r of rules.rules) {
    const v = explainRule(r, subject);
    verdicts.push({ index: r.index, name: r.name, matched: v.matched, checks: v.checks });
    if (v.matched) {
      winner = r;
      break;
    }
  }
  const base = {
    mesh: s.mesh,
    cluster: s.cluster,
    namespace: s.ns,
    serviceAccount: s.sa,
    fingerprints: s.fps,
    rules: verdicts,
  };
  if (winner === null) {
    return {
      ...base,
      rule: null,
      owner: null,
      spiffeId: null,
      problem: { code: 'NO_RULE_MATCHED', message: 'no rule matches' },
    };
  }
  const rendered = winner.spiffeId.render({
    trustDomain: rules.trustDomain,
    cluster: s.cluster,
    namespace: s.ns,
    serviceAccount: s.sa,
    mesh: s.mesh,
  });
  if (!rendered.ok) {
    return {
      ...base,
      rule: winner.index,
      owner: winner.owner,
      spiffeId: null,
      problem: {
        code: 'TEMPLATE_VALUE_MISSING',
        message: `the template needs {${rendered.missing}}, which is unknown`,
      },
    };
  }
  try {
    const id = SpiffeId.parse(rendered.value).toString();
    return { ...base, rule: winner.index, owner: winner.owner, spiffeId: id, problem: null };
  } catch (err) {
    return {
      ...base,
      rule: winner.index,
      owner: winner.owner,
      spiffeId: null,
      problem: {
        code: 'INVALID_SPIFFE_ID',
        message: `"${rendered.value}" is not a SPIFFE ID: ${(err as Error).message}`,
      },
    };
  }
}
