import { CodedError, type CodedErrorOptions, type ErrorCategory } from '../spiffe/errors.js';

/**
 * Why the mapper could not read its input at all. Findings about readable input
 * (collisions, unmapped workloads, ...) are `MappingProblem`s, never errors.
 */
export type MapperErrorCode =
  /** The rules file is not YAML, or not the rules schema (every error carries file:line:column). */
  | 'RULES_INVALID'
  /** `map explain` was given something that is neither an Istio principal nor a Linkerd identity. */
  | 'IDENTITY_UNRECOGNISED'
  /** A `spire-server entry show -output json` dump that does not have that shape. */
  | 'SPIRE_DUMP_INVALID'
  /** A policy file (AuthorizationPolicy, MeshTLSAuthentication) that cannot be read. */
  | 'POLICY_INVALID'
  /** An emitter name `--emit` does not know. */
  | 'EMITTER_UNKNOWN';

export class MapperError extends CodedError {
  constructor(
    code: MapperErrorCode,
    message: string,
    options: CodedErrorOptions = {},
    category: ErrorCategory = 'input',
  ) {
    super(code, category, message, options);
  }
}
