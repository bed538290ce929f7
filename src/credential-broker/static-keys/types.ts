/** The ledger's values, as the rest of meshbridge sees them (no database rows). */
import type { KeyLocation } from './location.js';
import type { JournalOperation, TransitionKind } from './schema.js';
import type { KeyState } from './states.js';

export interface StaticKey {
  name: string;
  /** The broker credential (policy name) consumers fetch the key as. */
  credential: string;
  location: KeyLocation;
  owner: string;
  state: KeyState;
  /** Optimistic lock: bumped by every write. */
  version: number;
  /** Expected consumers: SPIFFE IDs or patterns, in the order given. */
  consumers: string[];
  windowSeconds: number;
  quietSeconds: number;
  restoreSeconds: number;
  /** Non-secret name of the secret downstream (ARN, vault:<mount>/data/<path>), once known. */
  backendReference: string | null;
  /** Backend version current as far as the ledger knows. */
  currentVersion: string | null;
  /** Backend version a rollback restores. */
  previousVersion: string | null;
  /** When the previous value stopped being current; the restore window runs from here. */
  replacedAt: Date | null;
  stateSince: Date;
  createdAt: Date;
  updatedAt: Date;
}

/** A backend operation started and not (yet) recorded as finished. */
export interface JournalEntry {
  operation: JournalOperation;
  fromState: KeyState;
  toState: KeyState;
  keyVersion: number;
  backendFromVersion: string;
  backendTargetVersion: string | null;
  startedAt: Date;
  by: string;
  reason: string | null;
  evidence: unknown;
}

export interface Transition {
  id: string;
  key: string;
  /** The key's version this change produced. */
  version: number;
  kind: TransitionKind;
  from: KeyState | null;
  to: KeyState;
  at: Date;
  by: string;
  reason: string | null;
  evidence: unknown;
  backendFromVersion: string | null;
  backendToVersion: string | null;
}

/** Why the next step cannot be taken yet; `code` is stable, extra fields name the subject. */
export interface Blocker {
  code: BlockerCode;
  message: string;
  consumer?: string;
  spiffeId?: string;
  [extra: string]: unknown;
}

export type BlockerCode =
  /** An expected consumer has not fetched the key through the broker within the window. */
  | 'CONSUMER_NOT_SEEN'
  /** A SPIFFE ID that is no expected consumer asked for the key (allowed or denied) within the window. */
  | 'UNEXPECTED_CALLER'
  /** The broker issued a lease of the static value within the window. */
  | 'STATIC_LEASE_ISSUED'
  /** The key has not been short-lived for the quiet period yet. */
  | 'QUIET_PERIOD_NOT_OVER'
  /** Someone asked for the key (or got a lease of it) since it became short-lived. */
  | 'ASKED_DURING_QUIET_PERIOD'
  /** An external key: the operator must confirm the out-of-band step (--confirm). */
  | 'CONFIRMATION_REQUIRED'
  /** A backend operation was interrupted; `keys recover` (or `keys advance`) finishes or undoes it. */
  | 'OPERATION_INTERRUPTED'
  /** The backend has a rotation in flight that the ledger did not start. */
  | 'DOWNSTREAM_ROTATION_PENDING'
  /** The key's secret does not exist downstream. */
  | 'LOCATION_NOT_FOUND'
  /** The key's secret is deleted downstream (retired there) while the ledger has it in use. */
  | 'LOCATION_DELETED'
  /** A rollback past the restore window. */
  | 'RESTORE_WINDOW_PASSED'
  /** `rollback` of a key still `static`. */
  | 'NOTHING_TO_ROLL_BACK'
  /** `advance` of a key already `retired`. */
  | 'ALREADY_RETIRED';

/** One named check, like a line of `linkerd check`. */
export interface GateResult {
  name: string;
  ok: boolean;
  /** What to do when it fails. */
  hint?: string;
  blockers: Blocker[];
}

export interface NextStep {
  /** The state an advance would enter; null when retired. */
  state: KeyState | null;
  ready: boolean;
  blockers: Blocker[];
  gates: GateResult[];
}

/** How one expected consumer has been seen through the broker. */
export interface ConsumerView {
  id: string;
  /** Last fetch (allowed request) of the key by this consumer (any matching ID for a pattern), or null. */
  lastSeen: string | null;
  /** Whether that fetch falls within the evidence window. */
  inWindow: boolean;
  /** The SPIFFE IDs that fetched it as this consumer (for a pattern, possibly several). */
  seenAs: string[];
}
