/**
 * What a mapping run found. Every problem has a stable `code` (switch on it, never on
 * the message) and a `blocking` flag: `meshbridge map` exits 1, writes nothing and saves
 * nothing while any blocking problem exists.
 */
export const MAPPING_PROBLEM_CODES = {
  /** A workload certificate carries no mesh identity at all; it is listed in `unmapped`. */
  NO_MESH_IDENTITY: false,
  /** No rule matches a workload's (mesh, cluster, namespace); listed in `unmapped`. */
  NO_RULE_MATCHED: true,
  /** The matching rule's template needs a value the workload does not have (`{cluster}` of an import without one). */
  TEMPLATE_VALUE_MISSING: true,
  /** The rendered template is not a SPIFFE ID (spiffe-rules.md section A); `details.rule` names the broken rule. */
  INVALID_SPIFFE_ID: true,
  /** The rendered SPIFFE ID is not in the rules' `trustDomain`. */
  OUTSIDE_TRUST_DOMAIN: true,
  /** Two different mesh identities (across clusters or meshes) map to one SPIFFE ID; `sources` names each. */
  ID_COLLISION: true,
  /** A mesh identity gets another SPIFFE ID than the stored mapping gave it (blocking unless changes are allowed). */
  ID_CHANGED: true,
  /** A SPIFFE ID the stored mapping gave one mesh identity now goes to another (blocking unless changes are allowed). */
  ID_REASSIGNED: true,
  /** Longer than the 2048 bytes producers should not exceed (rule 13). */
  ID_TOO_LONG: false,
  /** A rule matched no workload (often: shadowed by an earlier rule, first match wins). */
  RULE_UNUSED: false,
  /** A policy principal/identity no rule translates; it is kept as it was. */
  POLICY_PRINCIPAL_UNMAPPED: false,
  /** A wildcard principal could not stay a wildcard under the new IDs and was expanded to the known workloads. */
  POLICY_WILDCARD_EXPANDED: false,
  /**
   * An AuthorizationPolicy matches callers by `namespaces` / `notNamespaces`, which Istio reads
   * from `/ns/<namespace>/` inside the caller's SPIFFE ID; some rules make IDs without it.
   */
  POLICY_NAMESPACES_UNMATCHED: false,
  /** An Istio principal written with `spiffe://`: Istio adds the scheme itself, so it never matched. */
  POLICY_PRINCIPAL_HAS_SCHEME: false,
  /**
   * Two wanted SPIRE entries of different clusters share parent ID and selectors, so every
   * matching workload would receive both SVIDs (a parentId without {cluster}).
   */
  SPIRE_SELECTORS_SHARED: true,
  /** A wanted SPIRE entry already exists but meshbridge did not create it; it is left alone. */
  SPIRE_ENTRY_FOREIGN: false,
} as const;

export type MappingProblemCode = keyof typeof MAPPING_PROBLEM_CODES;

/** Where a mesh identity came from, as named in collision and continuity problems. */
export interface IdentitySource {
  mesh: string | null;
  cluster: string | null;
  meshIdentity: string;
  /** Workload certificate fingerprints carrying it (at most 5 listed). */
  fingerprints: string[];
  /** Index of the rule that produced the SPIFFE ID. */
  rule?: number;
}

export interface MappingProblem {
  code: MappingProblemCode;
  blocking: boolean;
  message: string;
  mesh?: string | null;
  cluster?: string | null;
  meshIdentity?: string | null;
  spiffeId?: string;
  rule?: number;
  owner?: string | null;
  fingerprints?: string[];
  sources?: IdentitySource[];
  details?: Record<string, unknown>;
}

export function problem(
  code: MappingProblemCode,
  message: string,
  extra: Omit<MappingProblem, 'code' | 'message' | 'blocking'> & { blocking?: boolean } = {},
): MappingProblem {
  const { blocking, ...rest } = extra;
  return { code, blocking: blocking ?? MAPPING_PROBLEM_CODES[code], message, ...rest };
}

export function hasBlocking(problems: readonly MappingProblem[]): boolean {
  return problems.some((p) => p.blocking);
}
