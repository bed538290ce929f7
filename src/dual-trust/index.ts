export {
  type BundleForPhaseOptions,
  bundleForPhase,
  type ComposedJwtKey,
  type ComposedRoot,
  type ComposedTrustDomain,
  type ComposeOptions,
  type Composition,
  composeTrust,
  DEFAULT_OVERLAP_SECONDS,
  DEFAULT_REFRESH_HINT_SECONDS,
  digestOf,
  type JwtKeyInput,
  nextSequence,
  type PhaseBundle,
  type PhaseTrustDomain,
  pooledRoots,
  type RootInput,
  type RootStatus,
  type SequenceState,
  withSequences,
} from './compose.js';
export {
  type DryRunBreak,
  type DryRunCandidate,
  type DryRunOptions,
  type DryRunReport,
  type DryRunResult,
  dryRun,
} from './dryrun.js';
export { type Edge, type EdgeList, parseEdges } from './edges.js';
export {
  type Artifact,
  type BundleFormat,
  type EmitOptions,
  emitBundle,
  FORMATS,
  isBundleFormat,
  parseBundleFormat,
  pemOf,
  ROLLOUT_FORMATS,
  spiffeBundleOf,
} from './emit/index.js';
export {
  type BundleEndpointOptions,
  type BundleEndpointSource,
  bundleEndpointPlugin,
  bundlesOfPhase,
  RefreshingBundleSource,
  StaticBundleSource,
} from './endpoint/plugin.js';
export {
  type EndpointTlsOptions,
  httpsSpiffeTls,
  httpsWebTls,
  MOZILLA_INTERMEDIATE_CIPHERS,
} from './endpoint/tls.js';
export { DualTrustError, inputError, verdictError } from './errors.js';
export {
  type EndpointProfile,
  type FetchedBundle,
  type FetchFederatedBundleOptions,
  fetchFederatedBundle,
} from './federation/client.js';
export { identityOf, type PeerIdentity, type PeerVerdict, verifyPeer, workloadKeyOf } from './peer.js';
export {
  activeIn,
  BUNDLE_PHASES,
  DEFAULT_PHASES,
  isPhase,
  ORIGINS,
  type Origin,
  PHASES,
  type Phase,
  parsePhase,
} from './phases.js';
export { type ArtifactKind, type ReadArtifact, readBundleArtifact } from './read.js';
export { ALL_SCOPE, parseScope, type Scope } from './scope.js';
export {
  type BrokenEdge,
  type Direction,
  type PhaseSimulation,
  type SimulateOptions,
  type SimulationReport,
  type SimWorkload,
  simulate,
  workloadsFromChains,
} from './simulate.js';
export {
  type InventoriedCertificate,
  meshRootsFromInventory,
  rootsFromBundle,
  rootsFromStored,
  type StoredRootRow,
  trustDomainOfIdentity,
} from './sources.js';
export { pooledTrustOfPhase, type TrustSet, trustOfPhase, trustSet } from './trust.js';
