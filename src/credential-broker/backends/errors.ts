/**
 * Errors raised by the broker's downstream backends. Every one carries a stable code
 * (switch on it, never on the message) and a category the server maps to a status:
 * 'unavailable' -> 503 with Retry-After, 'not-found' -> 404, 'denied' -> 403, ...
 *
 * Messages name the backend, the operation and the (non-secret) path or secret id.
 * They never carry a secret value: messages a backend sends back are passed through
 * `redactSecrets` with every value this process sent or received in that call, and no
 * raw client error is attached as `cause` (an axios error holds the request headers,
 * X-Vault-Token included, and the request body).
 */
import { CodedError, type ErrorCategory } from '../../spiffe/errors.js';

export type BackendErrorCode =
  /** The backend cannot be reached, timed out, is sealed, throttles, or answered 5xx; retry later. */
  | 'BACKEND_UNAVAILABLE'
  /** The secret, path, role or lease does not exist downstream. */
  | 'BACKEND_SECRET_NOT_FOUND'
  /** The secret exists but the asked-for version (or stage) does not, or was deleted/destroyed. */
  | 'BACKEND_VERSION_NOT_FOUND'
  /** The backend refused the broker's own credentials (403, AccessDenied, KMS decrypt refused). */
  | 'BACKEND_DENIED'
  /** The backend rejected the request as malformed (400 other than a version conflict). */
  | 'BACKEND_REQUEST_REJECTED'
  /** Someone else changed the secret first (check-and-set mismatch, staging labels moved). */
  | 'BACKEND_CONFLICT'
  /** A rotation was interrupted (AWSPENDING or a rotation marker left behind); finish or undo it first. */
  | 'BACKEND_ROTATION_PENDING'
  /** A rollback asked for a version superseded longer ago than the restore window. */
  | 'BACKEND_RESTORE_WINDOW_PASSED'
  /** The credential spec does not fit this backend (wrong type, missing field, bad TTL). */
  | 'BACKEND_SPEC_INVALID'
  /** The backend configuration does not validate. */
  | 'BACKEND_CONFIG_INVALID'
  /** A backend lease id that this backend did not issue and cannot parse. */
  | 'BACKEND_LEASE_ID_INVALID'
  /** The backend answered with a shape it documents differently (missing lease_id, no SecretString). */
  | 'BACKEND_RESPONSE_INVALID'
  /** Any other failure of the backend. */
  | 'BACKEND_ERROR'
  /** Ephemeral token checks (see `verifyEphemeralToken`). */
  | 'EPHEMERAL_TOKEN_MALFORMED'
  | 'EPHEMERAL_TOKEN_SIGNATURE_INVALID'
  | 'EPHEMERAL_TOKEN_EXPIRED'
  | 'EPHEMERAL_TOKEN_AUDIENCE_MISMATCH'
  | 'EPHEMERAL_TOKEN_REVOKED';

const CATEGORY: Record<BackendErrorCode, ErrorCategory> = {
  BACKEND_UNAVAILABLE: 'unavailable',
  BACKEND_SECRET_NOT_FOUND: 'not-found',
  BACKEND_VERSION_NOT_FOUND: 'not-found',
  BACKEND_DENIED: 'denied',
  BACKEND_REQUEST_REJECTED: 'input',
  BACKEND_CONFLICT: 'conflict',
  BACKEND_ROTATION_PENDING: 'conflict',
  BACKEND_RESTORE_WINDOW_PASSED: 'conflict',
  BACKEND_SPEC_INVALID: 'input',
  BACKEND_CONFIG_INVALID: 'input',
  BACKEND_LEASE_ID_INVALID: 'input',
  BACKEND_RESPONSE_INVALID: 'internal',
  BACKEND_ERROR: 'internal',
  EPHEMERAL_TOKEN_MALFORMED: 'input',
  EPHEMERAL_TOKEN_SIGNATURE_INVALID: 'verdict',
  EPHEMERAL_TOKEN_EXPIRED: 'verdict',
  EPHEMERAL_TOKEN_AUDIENCE_MISMATCH: 'verdict',
  EPHEMERAL_TOKEN_REVOKED: 'verdict',
};

export class BackendError extends CodedError {
  declare readonly code: BackendErrorCode;

  constructor(code: BackendErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, CATEGORY[code], message, details === undefined ? {} : { details });
  }
}

export function isBackendError(err: unknown): err is BackendError {
  return err instanceof BackendError;
}

const MIN_REDACTABLE = 4;
const MAX_MESSAGE = 300;

/**
 * Replace every occurrence of each secret value in `text` by `[redacted]`, then cut the
 * text to a readable length. Values shorter than 4 characters are not searched for (they
 * would shred ordinary words); no secret this module generates or reads is that short.
 */
export function redactSecrets(text: string, secrets: Iterable<string>): string {
  let out = text;
  const sorted = [...new Set(secrets)]
    .filter((s) => s.length >= MIN_REDACTABLE)
    .sort((a, b) => b.length - a.length);
  for (const secret of sorted) {
    if (out.includes(secret)) out = out.split(secret).join('[redacted]');
  }
  out = out.replace(/\s+/g, ' ').trim();
  return out.length > MAX_MESSAGE ? `${out.slice(0, MAX_MESSAGE)}...` : out;
}

/** Every string inside a JSON-ish value: what a request or response may have carried. */
export function collectStrings(value: unknown, into: string[] = []): string[] {
  if (typeof value === 'string') into.push(value);
  else if (Array.isArray(value)) for (const v of value) collectStrings(v, into);
  else if (value !== null && typeof value === 'object')
    for (const v of Object.values(value)) collectStrings(v, into);
  return into;
}

/** Node/undici/axios error codes that mean "nobody answered (in time)". */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ERR_NETWORK',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);

/** The network-level code of an error (or of its cause), if it is one. */
export function networkErrorCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 4 && current !== null && typeof current === 'object'; depth++) {
    const e = current as { code?: unknown; name?: unknown; cause?: unknown };
    if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return e.code;
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'ETIMEDOUT';
    current = e.cause;
  }
  return undefined;
}
