/**
 * Errors of the static-key ledger. A gate that refuses is not an error (it is a result
 * with named blockers); these are the failures around it. Switch on `code`.
 */
import { CodedError, type ErrorCategory } from '../../spiffe/errors.js';

export type StaticKeyErrorCode =
  /** No key of that name in the ledger. */
  | 'STATIC_KEY_NOT_FOUND'
  /** `keys add` for a name that is already in the ledger. */
  | 'STATIC_KEY_EXISTS'
  /** Someone else changed the key between this command's read and its write (optimistic check). */
  | 'STATIC_KEY_CONFLICT'
  | 'STATIC_KEY_NAME_INVALID'
  /** `--location` is not aws:<secret-id>, vault:<kv-path> or external[:note]. */
  | 'STATIC_KEY_LOCATION_INVALID'
  /** A consumer is not a SPIFFE ID or pattern. */
  | 'STATIC_KEY_CONSUMER_INVALID'
  /** A state name that does not exist. */
  | 'STATIC_KEY_STATE_INVALID'
  /** `--to` names the current or an earlier state. */
  | 'STATIC_KEY_TARGET_INVALID'
  /** A window, quiet period, owner or reason that does not validate. */
  | 'STATIC_KEY_SETTING_INVALID'
  /** An earlier backend operation on the key was interrupted; recover it first. */
  | 'STATIC_KEY_OPERATION_INTERRUPTED'
  /** The backend shows a state the ledger's journal does not explain (someone else's rotation). */
  | 'STATIC_KEY_RECOVERY_CONFLICT'
  /** The key lives in a backend this process has no client for. */
  | 'STATIC_KEY_BACKEND_MISSING';

const CATEGORY: Record<StaticKeyErrorCode, ErrorCategory> = {
  STATIC_KEY_NOT_FOUND: 'not-found',
  STATIC_KEY_EXISTS: 'conflict',
  STATIC_KEY_CONFLICT: 'conflict',
  STATIC_KEY_NAME_INVALID: 'input',
  STATIC_KEY_LOCATION_INVALID: 'input',
  STATIC_KEY_CONSUMER_INVALID: 'input',
  STATIC_KEY_STATE_INVALID: 'input',
  STATIC_KEY_TARGET_INVALID: 'input',
  STATIC_KEY_SETTING_INVALID: 'input',
  STATIC_KEY_OPERATION_INTERRUPTED: 'conflict',
  STATIC_KEY_RECOVERY_CONFLICT: 'conflict',
  STATIC_KEY_BACKEND_MISSING: 'input',
};

export class StaticKeyError extends CodedError {
  declare readonly code: StaticKeyErrorCode;

  constructor(code: StaticKeyErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, CATEGORY[code], message, details === undefined ? {} : { details });
  }
}

export function isStaticKeyError(err: unknown): err is StaticKeyError {
  return err instanceof StaticKeyError;
}
