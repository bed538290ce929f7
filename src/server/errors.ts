/**
 * Errors of `meshbridge serve` itself (config, access). Coded like every other
 * meshbridge error; the server's one error handler turns any coded error into
 * `{"error":{"code","message"}}` with the status of its category.
 */
import { CodedError, type CodedErrorOptions, type ErrorCategory } from '../spiffe/errors.js';

export type ServerErrorCode =
  /** The config file is not valid YAML, or breaks the schema (each problem with file:line:col). */
  | 'CONFIG_INVALID'
  /** The config file (or a file it names) cannot be read. */
  | 'CONFIG_UNREADABLE'
  /** A dashboard or API request on a non-loopback listener without an admin token or admin SVID. */
  | 'UNAUTHENTICATED'
  /** A valid SVID that is not one of `access.adminIds`. */
  | 'FORBIDDEN'
  | 'ROUTE_NOT_FOUND'
  | 'REQUEST_INVALID'
  /** A scope the dashboard API does not know. */
  | 'SCOPE_NOT_FOUND'
  | 'NOT_READY';

const CATEGORY: Record<ServerErrorCode, ErrorCategory> = {
  CONFIG_INVALID: 'input',
  CONFIG_UNREADABLE: 'input',
  UNAUTHENTICATED: 'verdict',
  FORBIDDEN: 'denied',
  ROUTE_NOT_FOUND: 'not-found',
  REQUEST_INVALID: 'input',
  SCOPE_NOT_FOUND: 'not-found',
  NOT_READY: 'unavailable',
};

export class ServerError extends CodedError {
  declare readonly code: ServerErrorCode;

  constructor(code: ServerErrorCode, message: string, options: CodedErrorOptions = {}) {
    super(code, CATEGORY[code], message, options);
  }
}
