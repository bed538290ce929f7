import { CodedError, type CodedErrorOptions, type ErrorCategory } from '../spiffe/errors.js';

/**
 * Codes raised by `src/dual-trust/`. Switch on `code`, never on the message.
 *
 * Composition: `BUNDLE_ROOT_EXPIRED`, `BUNDLE_ROOT_EXPIRING` (verdict: refused unless
 * `allowExpiring`), `BUNDLE_NO_ROOTS` (verdict), `BUNDLE_PHASE_INVALID`,
 * `BUNDLE_FORMAT_UNKNOWN`, `BUNDLE_TRUST_DOMAIN_AMBIGUOUS`, `BUNDLE_TRUST_DOMAIN_UNKNOWN` (input).
 * Artifacts read back: `BUNDLE_ARTIFACT_UNRECOGNIZED` (input).
 * Simulation input: `EDGES_MALFORMED`, `EDGES_EMPTY` (input).
 * Federation (client): `FEDERATION_URL_INVALID` (input, R114), `FEDERATION_UNREACHABLE`
 * (unavailable), `FEDERATION_TLS_REJECTED` (verdict, R120), `FEDERATION_ENDPOINT_ID_MISMATCH`
 * (verdict, R123), `FEDERATION_HTTP_STATUS`, `FEDERATION_REDIRECT_INVALID` (R119),
 * `FEDERATION_RESPONSE_TOO_LARGE`, `FEDERATION_RESPONSE_NOT_UTF8` (R118),
 * `FEDERATION_TRUST_DOMAIN_MISMATCH` (R110/R64), `FEDERATION_SEQUENCE_REGRESSED`,
 * `FEDERATION_SEQUENCE_REUSED` (R57), `FEDERATION_AUTHORITY_INVALID`,
 * `FEDERATION_BUNDLE_INCONSISTENT` (R124), plus the kernel's bundle parse codes
 * (`BUNDLE_JSON_INVALID`, `BUNDLE_X5C_INVALID`, ...) passed through.
 */
export class DualTrustError extends CodedError {
  constructor(code: string, category: ErrorCategory, message: string, options: CodedErrorOptions = {}) {
    super(code, category, message, options);
  }
}

export function inputError(code: string, message: string, options: CodedErrorOptions = {}): DualTrustError {
  return new DualTrustError(code, 'input', message, options);
}

export function verdictError(code: string, message: string, options: CodedErrorOptions = {}): DualTrustError {
  return new DualTrustError(code, 'verdict', message, options);
}
