/**
 * The static-key retirement ledger (issue 8): legacy static credentials walked from
 * `static` to `retired` on evidence from the broker, rotated through the backend, with
 * rollback within a restore window and crash recovery.
 */
export { isStaticKeyError, StaticKeyError, type StaticKeyErrorCode } from './errors.js';
export {
  brokerEvidence,
  type EvidenceQuery,
  type KeyEvidenceSource,
  type KeySighting,
  type StaticLease,
} from './evidence.js';
export { type FunnelBlocker, type FunnelInput, type StaticKeyFunnel, staticKeyFunnel } from './funnel.js';
export { consumerViews, evaluateGates, type GateInput, nextStep } from './gates.js';
export { formatLocation, type KeyLocation, parseLocation } from './location.js';
export {
  type AddKeyInput,
  type AdvanceOptions,
  type AdvanceResult,
  DEFAULT_QUIET_SECONDS,
  DEFAULT_RECOVER_GRACE_SECONDS,
  DEFAULT_RESTORE_SECONDS,
  DEFAULT_WINDOW_SECONDS,
  type DownstreamView,
  type InterruptedView,
  type KeyView,
  type LedgerHooks,
  type RecoverOptions,
  type RecoveryResult,
  type RollbackOptions,
  type RollbackResult,
  type SecretStoreResolver,
  StaticKeyLedger,
  type StaticKeyLedgerOptions,
} from './service.js';
export { isKeyState, KEY_STATES, type KeyState, nextState, parseKeyState, previousState } from './states.js';
export type {
  Blocker,
  BlockerCode,
  ConsumerView,
  GateResult,
  JournalEntry,
  NextStep,
  StaticKey,
  Transition,
} from './types.js';
