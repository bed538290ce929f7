/**
 * Errors the broker raises itself. Every one has a stable `code` and the HTTP status
 * the server answers with; the kernel's and the backends' coded errors pass through
 * the same error handler (see `httpStatusOf`).
 */
import { CodedError, type CodedErrorOptions, type ErrorCategory } from '../spiffe/errors.js';

export type BrokerErrorCode =
  /** No client certificate and no bearer token. */
  | 'UNAUTHENTICATED'
  /** A Linkerd DNS identity for which no trust anchors are configured. */
  | 'MESH_TRUST_NOT_FOUND'
  /** A mesh identity the mapping does not translate to a SPIFFE ID. */
  | 'MESH_IDENTITY_UNMAPPED'
  /** The Authorization header is not `Bearer <JWT-SVID>`. */
  | 'BEARER_MALFORMED'
  /** The policy names no credential of this name. */
  | 'CREDENTIAL_NOT_FOUND'
  /** Default deny: no rule gives this identity this credential. */
  | 'POLICY_NO_RULE'
  /** A rule matched but requires another issuer (e.g. `spire` after a scope cut over). */
  | 'POLICY_ISSUER_NOT_ALLOWED'
  /** A rule matched but requires a declared purpose. */
  | 'POLICY_PURPOSE_REQUIRED'
  /** A rule matched but not for the declared purpose. */
  | 'POLICY_PURPOSE_NOT_ALLOWED'
  /** A rule matched but not at this time. */
  | 'POLICY_OUTSIDE_WINDOW'
  | 'POLICY_INVALID'
  | 'POLICY_UNREADABLE'
  | 'POLICY_CASES_INVALID'
  | 'CONFIG_INVALID'
  | 'CONFIG_UNREADABLE'
  | 'TRUST_UNREADABLE'
  | 'LEASE_NOT_FOUND'
  /** Another broker process is revoking this lease right now. */
  | 'LEASE_BUSY'
  | 'RATE_LIMITED'
  | 'REQUEST_INVALID'
  /** The request body is over the server's limit (413). */
  | 'REQUEST_TOO_LARGE'
  | 'ROUTE_NOT_FOUND'
  /** The token exchange asked for a token type or grant the broker does not issue. */
  | 'TOKEN_EXCHANGE_UNSUPPORTED'
  /** The credential's secret has no single token field to hand out as an access token. */
  | 'TOKEN_EXCHANGE_NOT_A_TOKEN'
  /** The audit record (or the lease) could not be written: the request fails. */
  | 'AUDIT_UNAVAILABLE'
  | 'BACKEND_NOT_CONFIGURED'
  | 'BROKER_NOT_READY'
  /** A listener could not open (port taken, no permission, no such address). */
  | 'LISTEN_FAILED'
  | 'FETCH_FAILED'
  | 'FETCH_SERVER_UNTRUSTED';

const CATEGORY: Record<BrokerErrorCode, ErrorCategory> = {
  UNAUTHENTICATED: 'verdict',
  MESH_TRUST_NOT_FOUND: 'verdict',
  MESH_IDENTITY_UNMAPPED: 'verdict',
  BEARER_MALFORMED: 'verdict',
  CREDENTIAL_NOT_FOUND: 'not-found',
  POLICY_NO_RULE: 'denied',
  POLICY_ISSUER_NOT_ALLOWED: 'denied',
  POLICY_PURPOSE_REQUIRED: 'denied',
  POLICY_PURPOSE_NOT_ALLOWED: 'denied',
  POLICY_OUTSIDE_WINDOW: 'denied',
  POLICY_INVALID: 'input',
  POLICY_UNREADABLE: 'input',
  POLICY_CASES_INVALID: 'input',
  CONFIG_INVALID: 'input',
  CONFIG_UNREADABLE: 'input',
  TRUST_UNREADABLE: 'input',
  LEASE_NOT_FOUND: 'not-found',
  LEASE_BUSY: 'unavailable',
  RATE_LIMITED: 'unavailable',
  REQUEST_INVALID: 'input',
  REQUEST_TOO_LARGE: 'input',
  ROUTE_NOT_FOUND: 'not-found',
  TOKEN_EXCHANGE_UNSUPPORTED: 'input',
  TOKEN_EXCHANGE_NOT_A_TOKEN: 'input',
  AUDIT_UNAVAILABLE: 'unavailable',
  BACKEND_NOT_CONFIGURED: 'internal',
  BROKER_NOT_READY: 'unavailable',
  LISTEN_FAILED: 'unavailable',
  FETCH_FAILED: 'unavailable',
  FETCH_SERVER_UNTRUSTED: 'verdict',
};

export interface BrokerErrorOptions extends CodedErrorOptions {
  /** HTTP status; default from the category. */
  status?: number;
  /** For a code that is not the broker's own (a remote broker's answer); default from the code. */
  category?: ErrorCategory;
  /** Seconds, sent as Retry-After (429, 503). */
  retryAfter?: number;
}

export class BrokerError extends CodedError {
  readonly status: number;
  readonly retryAfter: number | undefined;

  constructor(code: BrokerErrorCode | string, message: string, options: BrokerErrorOptions = {}) {
    const category = options.category ?? CATEGORY[code as BrokerErrorCode] ?? 'internal';
    super(code, category, message, options);
    this.status = options.status ?? statusOfCategory(category);
    this.retryAfter = options.retryAfter;
  }
}

/** A failed authentication (401) carrying the code of the rule that failed, e.g. SVID_EXPIRED. */
export function unauthenticated(code: string, message: string, cause?: unknown): BrokerError {
  return new BrokerError(code, message, { status: 401, ...(cause === undefined ? {} : { cause }) });
}

export function statusOfCategory(category: ErrorCategory): number {
  switch (category) {
    case 'input':
      return 400;
    case 'verdict':
      return 401;
    case 'denied':
      return 403;
    case 'not-found':
      return 404;
    case 'conflict':
      return 409;
    case 'unavailable':
      return 503;
    case 'internal':
      return 500;
  }
}

/** What an error answer's HTTP status says about it (the inverse of statusOfCategory). */
export function categoryOfStatus(status: number): ErrorCategory {
  if (status === 401) return 'verdict';
  if (status === 403) return 'denied';
  if (status === 404) return 'not-found';
  if (status === 409) return 'conflict';
  if (status === 429 || status === 502 || status === 503 || status === 504) return 'unavailable';
  if (status >= 400 && status < 500) return 'input';
  return 'internal';
}

/** The HTTP status for any error that reaches the broker's error handler. */
export function httpStatusOf(err: unknown): number {
  if (err instanceof BrokerError) return err.status;
  if (err instanceof CodedError) return statusOfCategory(err.category);
  const e = err as { statusCode?: unknown; validation?: unknown };
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 600) return e.statusCode;
  return 500;
}
