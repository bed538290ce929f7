/**
 * Every failure a caller can cause carries a stable `code` (switch on it, never on
 * the message) and a `category` that tells a CLI which exit code and a server
 * which HTTP status to use. `rule` names the spiffe-rules.md rule that was broken.
 */
export type ErrorCategory =
  /** The input could not be read at all (malformed PEM, bad JSON, missing file). */
  | 'input'
  /** The input was read and judged: a negative verdict (expired SVID, wrong trust domain). */
  | 'verdict'
  /** The caller is authenticated but not allowed (policy). */
  | 'denied'
  | 'not-found'
  | 'conflict'
  /** A dependency is down; retrying later may succeed. */
  | 'unavailable'
  | 'internal';

export interface CodedErrorOptions {
  rule?: number;
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class CodedError extends Error {
  readonly code: string;
  readonly category: ErrorCategory;
  readonly rule: number | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, category: ErrorCategory, message: string, options: CodedErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.category = category;
    this.rule = options.rule;
    this.details = options.details;
  }

  toJSON(): { code: string; message: string; rule?: number } {
    return this.rule === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, rule: this.rule };
  }
}

/** Errors raised by the SPIFFE kernel. */
export class SpiffeError extends CodedError {}

export function isCodedError(err: unknown): err is CodedError {
  return err instanceof CodedError;
}

/** A tolerated deviation from the letter of a spec, reported beside a positive verdict. */
export interface Warning {
  code: string;
  rule: number;
  message: string;
}

/** Injected time: everything that judges validity takes one. */
export type Clock = () => Date;
export const systemClock: Clock = () => new Date();
