/**
 * The gates: for each phase, the named checks that must pass to enter it. Each check is
 * ✓ or × with a hint, like `linkerd check`; a failing one names every blocker (which
 * workload, which edge, which certificate) with a stable code.
 */
import type { Phase } from './scope.js';

export const CHECKS = {
  'scope-nesting': {
    title: 'the parent scope allows this phase',
    hint: 'a scope leads its parent by one phase at most: advance the parent first (it needs every scope inside it at least one phase behind the target)',
  },
  mapping: {
    title: 'mapping has no blocking problem',
    hint: 'run `meshbridge map` with your rules and fix what it reports; workloads imported after the last accepted run need another run',
  },
  'bundle-dry-run': {
    title: "the scope's bundle passes the dry run",
    hint: 'replace the roots named (or plan a shorter --overlap); a workload that would break must get a certificate the new bundle verifies',
  },
  'spire-roots': {
    title: 'SPIRE roots are known',
    hint: "store SPIRE's trust bundle first (`meshbridge spire sync`), so the bundles can carry it",
  },
  'workloads-and-peers-in-dual-trust': {
    title: 'every workload in scope and every peer it talks to is in dual-trust',
    hint: 'advance the scopes named to dual-trust first; without an edge list (--edges) every workload of the mesh counts as a peer',
  },
  'spire-entries': {
    title: 'SPIRE entries exist for every mapped ID',
    hint: 'create the entries (`meshbridge map --emit spire-entries`, then `spire-server entry create -data spire/entries.json`) and store what SPIRE holds (`meshbridge spire sync --entries`)',
  },
  'workloads-in-dual-issue': {
    title: 'every scope inside is in dual-issue',
    hint: 'advance the scopes named to dual-issue first: phases are never skipped',
  },
  'workloads-on-spire': {
    title: 'the latest observation of every workload shows a SPIRE-issued certificate',
    hint: 'restart the workloads named so they fetch SPIRE SVIDs, then re-import their certificates (or let the broker see them)',
  },
  'edge-simulation': {
    title: 'removing the mesh roots breaks no edge',
    hint: 'move the workloads named onto SPIRE SVIDs first, or give the edge list (--edges) of who really talks to whom',
  },
  'mesh-certs-within-overlap': {
    title: 'no mesh-issued certificate in scope stays valid longer than the overlap window',
    hint: 'these mesh certificates outlive the overlap window: re-issue them from SPIRE and wait for them to expire, or plan a longer window (--overlap)',
  },
  'all-scopes-spiffe-only': {
    title: 'every scope of the mesh is spiffe-only',
    hint: 'advance every cluster and namespace of the mesh to spiffe-only first',
  },
  'no-mesh-certs-left': {
    title: 'no unexpired mesh-issued certificate remains in the inventory',
    hint: 'wait until the certificates named expire (re-import to confirm) before decommissioning the mesh CA',
  },
} as const;

export type CheckId = keyof typeof CHECKS;

/** The checks of each gate, in the order they are shown. */
export const GATES: Record<Exclude<Phase, 'inventoried'>, readonly CheckId[]> = {
  'dual-trust': ['scope-nesting', 'mapping', 'bundle-dry-run', 'spire-roots'],
  'dual-issue': ['scope-nesting', 'workloads-and-peers-in-dual-trust', 'spire-entries'],
  'spiffe-only': [
    'scope-nesting',
    'workloads-in-dual-issue',
    'workloads-on-spire',
    'edge-simulation',
    'mesh-certs-within-overlap',
  ],
  retired: ['scope-nesting', 'all-scopes-spiffe-only', 'no-mesh-certs-left'],
};

/** Checks that verify certificates (slow on big scopes): `status` shows their last `plan`/`advance` result. */
export const EXPENSIVE_CHECKS: readonly CheckId[] = ['bundle-dry-run', 'edge-simulation'];

export const BLOCKER_CODES = [
  /** The parent is more than one phase behind the target. */
  'PARENT_BEHIND',
  /** A scope inside is more than one phase behind the target (phases are never skipped). */
  'SCOPE_BEHIND',
  /** No accepted mapping run is stored. */
  'MAPPING_MISSING',
  /** The stored run carries a blocking problem. */
  'MAPPING_BLOCKING_PROBLEM',
  /** A workload is not in the latest accepted mapping run. */
  'WORKLOAD_UNMAPPED',
  /** The inventory holds no anchor of the mesh: a dual-trust bundle would lack the mesh roots. */
  'MESH_ROOTS_UNKNOWN',
  /** The roots cannot be composed: one expired or expires inside the overlap window. */
  'BUNDLE_ROOT_REFUSED',
  /** A workload certificate valid under today's bundle would not verify under the new one. */
  'BUNDLE_WOULD_BREAK',
  /** No SPIRE root is stored. */
  'SPIRE_ROOTS_UNKNOWN',
  /** A peer (from the edge list, or any workload of the mesh without one) is not in dual-trust. */
  'PEER_NOT_IN_DUAL_TRUST',
  /** An edge names a workload the inventory does not know. */
  'PEER_UNKNOWN',
  /** No SPIRE entry dump is stored. */
  'SPIRE_ENTRIES_UNKNOWN',
  /** A mapped SPIFFE ID has no entry in the stored SPIRE entry dump. */
  'SPIRE_ENTRY_MISSING',
  /** The latest observation of a workload shows a mesh-issued certificate. */
  'WORKLOAD_ON_MESH_CERT',
  /** The latest observation of a workload shows a certificate of an unknown (or federated) issuer. */
  'WORKLOAD_NOT_ON_SPIRE',
  /** An edge would break once the scope's bundle drops the mesh roots. */
  'EDGE_WOULD_BREAK',
  /** No edge list: a workload of the mesh presents a certificate the scope would then refuse. */
  'PEER_WOULD_BE_REFUSED',
  /** A mesh-issued certificate in scope stays valid beyond the overlap window. */
  'MESH_CERT_OUTLIVES_OVERLAP',
  /** A cluster or namespace of the mesh is not spiffe-only. */
  'SCOPE_NOT_SPIFFE_ONLY',
  /** A mesh-issued workload certificate has not expired yet. */
  'MESH_CERT_UNEXPIRED',
  /** (status only) The check verifies certificates and has not been run on the current inputs. */
  'CHECK_NOT_EVALUATED',
  /** (rollback) A scope inside would lead its parent by two phases. */
  'CHILD_AHEAD',
  /** (rollback) The mesh is retired: roll it back first. */
  'MESH_RETIRED',
] as const;

export type BlockerCode = (typeof BLOCKER_CODES)[number];

export interface BlockerCertificate {
  fingerprint: string;
  notAfter?: string;
  issuer?: string | null;
  issuerKind?: string;
}

/** One thing standing in the way, named. */
export interface Blocker {
  code: BlockerCode;
  message: string;
  check?: CheckId;
  scope?: string;
  phase?: Phase;
  workload?: string;
  spiffeId?: string;
  identity?: string;
  edge?: { source: string; destination: string; direction?: string };
  peer?: string;
  certificate?: BlockerCertificate;
  /** Aggregated blockers (status): how many, and a few examples. */
  count?: number;
  examples?: string[];
}

export interface CheckResult {
  id: CheckId;
  title: string;
  passed: boolean;
  hint: string;
  blockers: Blocker[];
  /** What the check looked at: counts, run and dump ids, root fingerprints. */
  evidence: Record<string, unknown>;
}

export function checkResult(
  id: CheckId,
  blockers: Blocker[],
  evidence: Record<string, unknown> = {},
): CheckResult {
  return {
    id,
    title: CHECKS[id].title,
    passed: blockers.length === 0,
    hint: CHECKS[id].hint,
    blockers: blockers.map((b) => ({ ...b, check: id })),
    evidence,
  };
}
