/**
 * Scopes and phases, and the nesting rule that ties them together.
 *
 * A scope is a mesh (`istio`), a cluster in it (`istio/east`) or a namespace in a cluster
 * (`istio/east/payments`). Workloads belong to exactly one namespace scope; a workload
 * imported without a cluster belongs to cluster `default`, one without a namespace (or
 * mesh) to `unknown`.
 *
 * Phases, in order: inventoried (0) < dual-trust (1) < dual-issue (2) < spiffe-only (3) <
 * retired (4). `retired` is for a mesh only; clusters and namespaces end at spiffe-only.
 *
 * THE NESTING RULE ("the ladder"). For every scope C with parent P:
 *
 *     phase(P) <= phase(C) <= phase(P) + 1        (phases of C capped at spiffe-only)
 *
 * - A child leads its parent by at most one phase. Since a parent can only advance when
 *   none of its children is behind it, a child is never more than one phase ahead of its
 *   least advanced sibling: before any namespace of a cluster receives SPIRE SVIDs
 *   (dual-issue), every namespace of that cluster trusts the SPIRE roots (dual-trust);
 *   before any namespace drops the mesh roots (spiffe-only), every namespace of the
 *   cluster is issued SPIRE SVIDs. Edges (when an edge list is given) add the peers of
 *   other clusters and meshes to that, in the gates.
 * - A parent is never ahead of any child: its phase is what holds for everything inside
 *   it, so a workload's phase is the phase of its namespace.
 *
 * What a transition does under the rule:
 * - advance S to X (X = next phase of S) needs X <= phase(parent(S)) + 1 (check
 *   `scope-nesting`, blocker PARENT_BEHIND) and no scope inside S below X - 1 (blocker
 *   SCOPE_BEHIND: phases are never skipped). Scopes inside S that are at X - 1 come along
 *   to X, each with its own history row (`via` = S), on S's gate evidence.
 *   `retired` moves the mesh alone: its clusters and namespaces stay at spiffe-only.
 * - roll back S from X to X - 1: S's ancestors that are at X follow it to X - 1 (their
 *   phase is a floor for what is inside them). Refused while a scope inside S, or inside
 *   an ancestor that follows, would then lead its parent by two phases (blocker
 *   CHILD_AHEAD: roll that one back first), and, for a cluster or namespace, while its
 *   mesh is retired (blocker MESH_RETIRED).
 * - A scope the inventory shows for the first time starts in `inventoried`, whatever its
 *   parent's phase; the parent's next transition then names it as SCOPE_BEHIND.
 */
import { PHASES, type Phase } from '../dual-trust/phases.js';
import { CutoverError } from './errors.js';

export { PHASES, type Phase };

export type ScopeLevel = 'mesh' | 'cluster' | 'namespace';

/** Workloads imported without a cluster belong to this cluster. */
export const DEFAULT_CLUSTER = 'default';
/** Workloads without a mesh or a namespace belong to this one. */
export const UNKNOWN = 'unknown';

export function isPhase(value: unknown): value is Phase {
  return typeof value === 'string' && (PHASES as readonly string[]).includes(value);
}

export function phaseIndex(p: Phase): number {
  return PHASES.indexOf(p);
}

export function parsePhase(value: string, what = '--to'): Phase {
  if (isPhase(value)) return value;
  throw new CutoverError(
    'CUTOVER_PHASE_INVALID',
    `${what} "${value}" is not a phase; use one of ${PHASES.join(', ')}`,
  );
}

/** The last phase a scope of this level can be in. */
export function lastPhase(level: ScopeLevel): Phase {
  return level === 'mesh' ? 'retired' : 'spiffe-only';
}

/** The phase after `p` for a scope of `level`, or null at its last phase. */
export function nextPhase(p: Phase, level: ScopeLevel): Phase | null {
  if (p === lastPhase(level)) return null;
  return PHASES[phaseIndex(p) + 1] ?? null;
}

export function previousPhase(p: Phase): Phase | null {
  const i = phaseIndex(p);
  return i === 0 ? null : PHASES[i - 1]!;
}

export interface ScopeName {
  /** `istio/east/payments` */
  name: string;
  level: ScopeLevel;
  mesh: string;
  cluster: string | null;
  namespace: string | null;
  /** `istio/east` for a namespace, `istio` for a cluster, null for a mesh. */
  parent: string | null;
}

const PART = /^[^/\s]+$/;

/** Reads `mesh[/cluster[/namespace]]`. */
export function parseScopeName(text: string): ScopeName {
  const parts = text.trim().split('/');
  if (text.trim() === '' || parts.length > 3 || parts.some((p) => !PART.test(p))) {
    throw new CutoverError(
      'CUTOVER_SCOPE_INVALID',
      `scope "${text}" is not mesh[/cluster[/namespace]], e.g. istio, istio/east or istio/east/payments`,
    );
  }
  return scopeName(parts[0]!, parts[1] ?? null, parts[2] ?? null);
}

export function scopeName(mesh: string, cluster: string | null, namespace: string | null): ScopeName {
  if (namespace !== null && cluster === null) throw new TypeError('a namespace scope needs a cluster');
  if (namespace !== null) {
    return {
      name: `${mesh}/${cluster}/${namespace}`,
      level: 'namespace',
      mesh,
      cluster,
      namespace,
      parent: `${mesh}/${cluster}`,
    };
  }
  if (cluster !== null)
    return { name: `${mesh}/${cluster}`, level: 'cluster', mesh, cluster, namespace: null, parent: mesh };
  return { name: mesh, level: 'mesh', mesh, cluster: null, namespace: null, parent: null };
}

/** True when `inner` is `outer` or lies inside it. */
export function within(inner: string, outer: string): boolean {
  return inner === outer || inner.startsWith(`${outer}/`);
}

/** The ancestors of a scope, nearest first. */
export function ancestorsOf(s: ScopeName): ScopeName[] {
  const out: ScopeName[] = [];
  if (s.level === 'namespace') out.push(scopeName(s.mesh, s.cluster, null));
  if (s.level !== 'mesh') out.push(scopeName(s.mesh, null, null));
  return out;
}

/** The scopes of one namespace, mesh first. */
export function chainOf(mesh: string, cluster: string, namespace: string): ScopeName[] {
  return [scopeName(mesh, null, null), scopeName(mesh, cluster, null), scopeName(mesh, cluster, namespace)];
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
