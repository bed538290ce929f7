/**
 * The phased cutover (issue 6): per scope (mesh > cluster > namespace) a phase, gates on
 * evidence with every blocker named, rollback one phase at a time with a reason, the
 * history, and progress derived from observations. Data in, data out; time injected.
 */
export {
  BLOCKER_CODES,
  type Blocker,
  type BlockerCode,
  CHECKS,
  type CheckId,
  type CheckResult,
  EXPENSIVE_CHECKS,
  GATES,
} from './checks.js';
export { type GateInputs, type StoredEdge, storeEdges } from './context.js';
export { CutoverError, type CutoverErrorCode } from './errors.js';
export { evaluateGate, evidenceOf, type GateEvaluation, type GateOptions, planGate } from './gates.js';
export { type HistoryOptions, loadHistory, type Transition, transitionJson } from './history.js';
export {
  type IngestResult,
  ISSUER_KINDS,
  type IssuerKind,
  type ObservationInput,
  type ObservationOptions,
  parseWorkloadId,
  type RecordedObservation,
  recordObservation,
  recordObservations,
  recordObservationsFromInventory,
  type WorkloadRef,
  workloadId,
} from './observations.js';
export { type Rollout, type RolloutArtifact, type RolloutOptions, rolloutFor } from './rollout.js';
export {
  DEFAULT_CLUSTER,
  isPhase,
  lastPhase,
  nextPhase,
  PHASES,
  type Phase,
  parsePhase,
  parseScopeName,
  phaseIndex,
  previousPhase,
  type ScopeLevel,
  type ScopeName,
  UNKNOWN,
  within,
} from './scope.js';
export {
  cutoverGauges,
  cutoverStatus,
  type GaugeSample,
  type NextGate,
  type ScopeStatus,
  type StatusOptions,
  type StatusReport,
  spireShare,
  statusJson,
} from './status.js';
export {
  type AdvanceOptions,
  type AdvanceResult,
  advanceScope,
  planRollback,
  type RollbackOptions,
  type RollbackResult,
  rollbackScope,
  type TransitionRow,
} from './transitions.js';
