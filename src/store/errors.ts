/**
 * The store's own coded error. `src/store/` may import nothing else in src, so this
 * mirrors the fields of `src/spiffe/errors.ts` `CodedError` (code, category, message,
 * details, cause, toJSON) without importing it. Switch on `code`, never on the message.
 */
export type StoreErrorCategory = 'input' | 'unavailable' | 'conflict' | 'internal';

export type StoreErrorCode =
  /** The database cannot be reached or opened (refused, auth failed, missing directory, not a database). */
  | 'STORE_UNAVAILABLE'
  /** The target looks like a URL but is not a usable postgres:// URL. */
  | 'STORE_URL_INVALID'
  /** An applied migration's file was edited after it was applied. */
  | 'STORE_MIGRATION_CHANGED'
  /** The migrations folder is missing or holds a badly named / incomplete set. */
  | 'STORE_MIGRATION_INVALID'
  /** A migration's SQL failed; nothing of it was applied. */
  | 'STORE_MIGRATION_FAILED'
  /** The data handed to a repository is not acceptable (bad fingerprint, unknown role, ...). */
  | 'STORE_INPUT_INVALID'
  /** A write broke a constraint (foreign key, check, unique); the transaction was rolled back. */
  | 'STORE_CONSTRAINT_VIOLATED'
  /** A write was refused because someone else changed the same rows first. */
  | 'STORE_CONFLICT'
  /** The database stayed locked by another writer longer than the busy timeout. */
  | 'STORE_BUSY';

export interface StoreErrorOptions {
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  readonly category: StoreErrorCategory;
  /** Always undefined: store errors cite no spiffe-rules.md rule. Kept for shape parity with CodedError. */
  readonly rule: number | undefined = undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: StoreErrorCode,
    category: StoreErrorCategory,
    message: string,
    options: StoreErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.category = category;
    this.details = options.details;
  }

  toJSON(): { code: string; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function isStoreError(err: unknown): err is StoreError {
  return err instanceof StoreError;
}
