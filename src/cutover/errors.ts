import { CodedError, type CodedErrorOptions, type ErrorCategory } from '../spiffe/errors.js';

/**
 * Stable codes of the cutover's own errors (gate refusals are not errors: they are a
 * result with blockers). Switch on the code, never on the message.
 */
export type CutoverErrorCode =
  /** The scope is not written mesh[/cluster[/namespace]]. */
  | 'CUTOVER_SCOPE_INVALID'
  /** The inventory knows no such scope (import its workloads first). */
  | 'CUTOVER_SCOPE_UNKNOWN'
  /** `--to` names no phase, or a phase the scope cannot enter next. */
  | 'CUTOVER_PHASE_INVALID'
  /** The scope is in its last phase (`retired` for a mesh, `spiffe-only` below it). */
  | 'CUTOVER_NO_NEXT_PHASE'
  /** The scope is in `inventoried`: there is nothing to roll back. */
  | 'CUTOVER_NOTHING_TO_ROLL_BACK'
  /** A rollback without a reason. */
  | 'CUTOVER_REASON_REQUIRED'
  /** Someone else changed the scope between the gate and the write: nothing was written. */
  | 'CUTOVER_CONFLICT'
  /** The overlap window is not a duration. */
  | 'CUTOVER_OVERLAP_INVALID';

const CATEGORY: Record<CutoverErrorCode, ErrorCategory> = {
  CUTOVER_SCOPE_INVALID: 'input',
  CUTOVER_SCOPE_UNKNOWN: 'not-found',
  CUTOVER_PHASE_INVALID: 'input',
  CUTOVER_NO_NEXT_PHASE: 'input',
  CUTOVER_NOTHING_TO_ROLL_BACK: 'input',
  CUTOVER_REASON_REQUIRED: 'input',
  CUTOVER_CONFLICT: 'conflict',
  CUTOVER_OVERLAP_INVALID: 'input',
};

export class CutoverError extends CodedError {
  declare readonly code: CutoverErrorCode;

  constructor(code: CutoverErrorCode, message: string, options: CodedErrorOptions = {}) {
    super(code, CATEGORY[code], message, options);
  }
}
