/**
 * The one interface every downstream backend meets, and the one every rotating store
 * of static keys meets. The broker (server, leases, sweeper) and the static-key ledger
 * call these; nothing else in meshbridge reaches a backend.
 *
 * Failures are `BackendError`s (see errors.ts). The rule that holds for every method:
 * a backend that is down throws `BACKEND_UNAVAILABLE` and returns nothing, so a caller
 * can never lease a credential that was not issued.
 */
import type { BackendKind, CredentialSpec } from './schemas.js';

export type { BackendKind, CredentialSpec } from './schemas.js';

/** What the broker asks for once the policy said yes. */
export interface IssueRequest {
  /** The credential's name in the policy (e.g. `orders-db`). */
  credential: string;
  /** The policy's credential definition, validated against `CredentialSpecSchema`. */
  spec: CredentialSpec;
  /** The caller's SPIFFE ID; carried downstream as metadata where the backend can hold it. */
  subject: string;
  /** The TTL granted after the policy's cap, in seconds. */
  ttlSeconds: number;
  /** The broker's own lease id, carried downstream as metadata where possible. */
  leaseId?: string;
}

export interface IssuedCredential {
  /** The values handed to the caller. Never logged, never stored. */
  secret: Record<string, string>;
  /**
   * When the credential stops being valid: the granted TTL, or earlier if the backend
   * granted less (a Vault role's max TTL). The broker's lease must not outlive it.
   */
  expiresAt: Date;
  /**
   * What `revoke` needs to end the credential downstream (Vault lease id, a token
   * accessor, an ephemeral id). Absent when there is nothing to revoke (a static secret
   * read from AWS Secrets Manager or KV). Not a secret, but not for callers either.
   */
  backendLeaseId?: string;
  /**
   * A non-secret name of what was handed out, for audit: an ARN + version id, a Vault
   * path + version or lease id, or an HMAC of the value. Never the value itself.
   */
  reference: string;
}

export type BackendStatus = 'up' | 'degraded' | 'sealed' | 'down';

export interface BackendHealth {
  /** True when `issue` can be expected to work. */
  ok: boolean;
  status: BackendStatus;
  checkedAt: Date;
  /** Why not ok, in words (no secrets). */
  message?: string;
}

export interface CredentialBackend {
  readonly kind: BackendKind;
  /** The backend's name in the config (defaults to its kind). */
  readonly name: string;
  /** Mint or read one credential. Throws BackendError; never returns a partial credential. */
  issue(request: IssueRequest): Promise<IssuedCredential>;
  /**
   * End a credential downstream. Idempotent: revoking an id that is already revoked or
   * expired resolves. Concurrent calls for one id in this process share one request.
   */
  revoke(backendLeaseId: string): Promise<void>;
  /** Never throws: a backend that cannot be reached reports `{ok:false,status:'down'}`. */
  health(): Promise<BackendHealth>;
  /** Release sockets and timers. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------- static keys

/**
 * A static key's value as field -> string. A secret stored as a plain string reads as
 * `{ value: "<string>" }` and is written back as a plain string.
 */
export type SecretValue = Record<string, string>;

export interface StaticSecret {
  value: SecretValue;
  /** AWS version id, or the KV v2 version number as a string. */
  version: string;
  /** Non-secret audit name of this version (ARN#versionId, vault:mount/data/path#vN). */
  reference: string;
  createdAt?: Date;
}

/** Where an interrupted rotation stopped. */
export type PendingStage =
  /** Vault: the rotation marker is set but no new version was written; nothing changed. */
  | 'marked'
  /** AWS: a new version holds AWSPENDING, AWSCURRENT still on the old one. */
  | 'staged'
  /** The new version is current; only the clean-up (AWSPENDING / the marker) is missing. */
  | 'promoted';

export interface PendingRotation {
  stage: PendingStage;
  /** The version that was current when the rotation started. */
  fromVersion: string;
  /** The version the rotation wrote (absent at 'marked'). */
  pendingVersion?: string;
  /** When the rotation started, if the backend recorded it. */
  startedAt?: Date;
}

/** Steps a rotation passes, in order; `onStep` sees each right after it is durable. */
export type RotationStep = 'marked' | 'staged' | 'promoted' | 'cleared';

export interface GenerateOptions {
  /** Fields to replace with a fresh random value (default: `password` if present, else the only field). */
  fields?: string[];
  /** Length of each generated value (default 32). */
  length?: number;
  /** Include punctuation (default false: static keys end up in connection strings and shells). */
  symbols?: boolean;
}

export interface RotateOptions {
  /**
   * What to do when an earlier rotation was interrupted:
   *  - 'finish' (default): complete it, if `newValue` is absent or equal to the pending
   *    value (so re-running an interrupted rotation rotates exactly once); a different
   *    `newValue` is refused with BACKEND_ROTATION_PENDING. At 'marked' nothing was
   *    written, so the marker is dropped and the rotation runs afresh.
   *  - 'undo': undo it first (see `undoRotation`), then rotate afresh.
   *  - 'fail': refuse with BACKEND_ROTATION_PENDING.
   */
  onPending?: 'finish' | 'undo' | 'fail';
  /** How to make the new value when `newValue` is not given. */
  generate?: GenerateOptions;
  /** Test hook for crash drills: called after each durable step. */
  onStep?: (
    step: RotationStep,
    state: { fromVersion: string; pendingVersion?: string },
  ) => void | Promise<void>;
}

export interface RotationResult {
  /** The version that was current before (kept for rollback: AWSPREVIOUS / KV history). */
  previousVersion: string;
  /** The version now current. */
  newVersion: string;
  /** Audit name of the new current version. */
  reference: string;
  /** True when this call finished an interrupted rotation instead of starting one. */
  recovered: boolean;
}

export interface RecoveryResult {
  /**
   * 'finished': the interrupted rotation's value is now current; 'undone': the value from
   * before it is current again; 'discarded': nothing had been written, the marker is gone;
   * 'nothing-pending': there was no interrupted rotation.
   */
  outcome: 'finished' | 'undone' | 'discarded' | 'nothing-pending';
  currentVersion: string;
  previousVersion?: string;
}

export interface RollbackOptions {
  /** Overrides the configured restore window for this call. */
  restoreWindowSeconds?: number;
}

export interface SecretVersionInfo {
  version: string;
  /** AWS staging labels; for Vault: 'current' / 'previous' / 'deleted' / 'destroyed'. */
  stages: string[];
  createdAt?: Date;
}

/** A secret deleted downstream but still restorable (AWS scheduled deletion; a KV v2 soft delete). */
export interface DeletedState {
  /** The version that was current when it was deleted (what `restore` brings back). */
  version: string;
  /** When it was deleted (Vault's deletion_time), if the backend says. */
  deletedAt?: Date;
  /**
   * Until when `restore` works downstream: AWS's scheduled deletion date. Absent for
   * Vault, whose soft delete has no expiry (the ledger's restore window governs).
   */
  restorableUntil?: Date;
}

export interface RetireOptions {
  /**
   * How long the deletion must stay restorable. AWS takes whole days between 7 and 30
   * (clamp(ceil(seconds / 86400), 7, 30)); Vault's soft delete has no expiry, so this is
   * only reported back as `restorableUntil`.
   */
  restoreWindowSeconds: number;
}

export interface RetireResult {
  /** Audit name of the deleted version (ARN#versionId, vault:mount/data/path#vN). */
  reference: string;
  /** The version that was deleted. */
  version: string;
  /**
   * Until when `restore` brings the value back. AWS: the scheduled deletion date, after
   * which the secret is gone for good. Vault: now + the window asked (by this backend's
   * clock), since a soft delete does not expire by itself.
   */
  restorableUntil: Date;
  /** True when the backend deletes the secret for good at `restorableUntil` (AWS); false for Vault. */
  expiresDownstream: boolean;
  /** False when the secret was already deleted (the call changed nothing). */
  changed: boolean;
}

export interface RestoreResult {
  /** Audit name of the version readable again. */
  reference: string;
  version: string;
  /** False when the secret was not deleted (the call changed nothing). */
  changed: boolean;
}

export interface SecretDescription {
  location: string;
  /** Non-secret name of the secret (ARN, vault:mount/data/path). */
  reference: string;
  currentVersion: string;
  /** What `rollback` restores by default: AWSPREVIOUS, or the newest live KV version below current. */
  previousVersion?: string;
  pending: PendingRotation | null;
  versions: SecretVersionInfo[];
  /** Present when the secret is deleted downstream (by `retire`) and can still be restored. */
  deleted?: DeletedState;
}

/**
 * A static key that lives in a backend and is replaced through it (issue 8). Locations
 * are backend-native: an AWS secret name or ARN; a Vault KV v2 `<mount>/<path>`.
 */
export interface RotatingSecretStore {
  readonly kind: 'aws-secrets-manager' | 'vault';
  readCurrent(location: string): Promise<StaticSecret>;
  /** Read one version (AWS version id or KV version number). */
  readVersion(location: string, version: string): Promise<StaticSecret>;
  /**
   * Replace the value. `newValue` is the whole new value (every field); omitted, the
   * current value is kept with fresh random values in the generated fields (untouched
   * JSON fields keep their types). AWS writes AWSPENDING, moves AWSCURRENT to it (AWSPREVIOUS follows
   * the old version) and clears AWSPENDING; Vault writes a new KV version (check-and-set
   * on the current one) between setting and clearing a rotation marker in the key's
   * custom metadata. Either way a crash leaves a state `pendingRotation` reports.
   */
  rotate(location: string, newValue?: SecretValue, options?: RotateOptions): Promise<RotationResult>;
  /**
   * Make `toVersion`'s value current again, if it was superseded within the restore
   * window. AWS moves AWSCURRENT back; Vault writes that version's data as a new version.
   */
  rollback(location: string, toVersion: string, options?: RollbackOptions): Promise<RotationResult>;
  describe(location: string): Promise<SecretDescription>;
  /** An interrupted rotation, or null. */
  pendingRotation(location: string): Promise<PendingRotation | null>;
  /** Complete an interrupted rotation (its value is stored downstream, so it is known). */
  finishRotation(location: string): Promise<RecoveryResult>;
  /** Abandon an interrupted rotation: the value from before it is (again) current. */
  undoRotation(location: string): Promise<RecoveryResult>;
  /**
   * Delete the secret downstream, restorably: reads of it fail from now on (AWS: the
   * secret is scheduled for deletion, GetSecretValue is refused; Vault: the current KV v2
   * version is soft-deleted, reads 404). Never a permanent delete. Idempotent: a secret
   * already deleted resolves with `changed: false`. Refused with BACKEND_ROTATION_PENDING
   * while a rotation is interrupted.
   */
  retire(location: string, options: RetireOptions): Promise<RetireResult>;
  /**
   * Undo `retire`: the value deleted is readable again, unchanged (AWS RestoreSecret; Vault
   * undelete of the current version). Idempotent: a secret that is not deleted resolves
   * with `changed: false`.
   */
  restore(location: string): Promise<RestoreResult>;
}
