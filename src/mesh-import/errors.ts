import { CodedError, type CodedErrorOptions } from '../spiffe/errors.js';

/**
 * Why an import could not read its input at all. Every one of these stops the import
 * before anything is saved (an import lands whole or not at all); findings about
 * readable certificates are `Problem`s instead, never errors.
 */
export type ImportErrorCode =
  /** A path given on the command line does not exist. */
  | 'INPUT_NOT_FOUND'
  /** A path exists but cannot be read (permissions, a socket, ...). */
  | 'INPUT_UNREADABLE'
  /** A file is larger than the per-file limit (default 32 MiB). */
  | 'INPUT_TOO_LARGE'
  /** A symbolic link leads back into a folder being walked. */
  | 'INPUT_DIRECTORY_LOOP'
  /** A file named explicitly is none of the shapes meshbridge reads. */
  | 'INPUT_UNRECOGNIZED'
  /** Nothing in the input holds a certificate or a private key. */
  | 'INPUT_NO_CERTIFICATES'
  /** A PEM block is damaged (no END line, body not base64, bad padding). */
  | 'PEM_MALFORMED'
  /** A Secret's `data` value (or an Envoy `inline_bytes`) is not base64. */
  | 'INPUT_BASE64_MALFORMED'
  /** A value that must hold certificates (e.g. `ca-cert.pem`) holds neither PEM nor DER. */
  | 'INPUT_NOT_CERTIFICATE_DATA'
  | 'INPUT_YAML_MALFORMED'
  /** A YAML document resolves more aliases than allowed (a "billion laughs" bomb). */
  | 'INPUT_YAML_ALIAS_LIMIT'
  | 'INPUT_JSON_MALFORMED'
  /** A JSON or YAML document nests deeper than the reader follows. */
  | 'INPUT_TOO_DEEP';

export class ImportError extends CodedError {
  constructor(code: ImportErrorCode, message: string, options: CodedErrorOptions = {}) {
    super(code, 'input', message, options);
  }
}
