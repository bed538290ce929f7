import { StoreError } from './errors.js';

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ENOENT',
  'EACCES',
]);

/** The readable part of a driver error (AggregateError from dual-stack connects has an empty message). */
export function driverMessage(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) {
    const parts = err.errors.map((e) => driverMessage(e));
    return [...new Set(parts)].join('; ');
  }
  if (err instanceof Error) {
    if (err.message) return err.message;
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? code : err.name;
  }
  return String(err);
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** True for errors that mean "the database is not reachable", not "the query is wrong". */
export function isUnavailableError(err: unknown): boolean {
  if (err instanceof AggregateError) return err.errors.some(isUnavailableError);
  const code = codeOf(err);
  if (code !== undefined) {
    if (NETWORK_CODES.has(code)) return true;
    // PostgreSQL SQLSTATE: 08 connection exception, 28 authorization, 3D000 no such database,
    // 53300 too many connections, 57P01-57P03 shutdown / cannot connect now.
    if (/^08/.test(code) || /^28/.test(code) || code === '3D000' || code === '53300' || /^57P0/.test(code)) {
      return true;
    }
    if (code === 'SQLITE_CANTOPEN' || code === 'SQLITE_NOTADB' || code === 'SQLITE_IOERR') return true;
  }
  const message = err instanceof Error ? err.message : '';
  return /Connection terminated|timeout expired|Client has encountered a connection error|directory does not exist/i.test(
    message,
  );
}

export function isBusyError(err: unknown): boolean {
  const code = codeOf(err);
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || code === 'SQLITE_BUSY_SNAPSHOT';
}

/** Constraint failures from either driver (SQLite SQLITE_CONSTRAINT_*, PostgreSQL class 23). */
export function isConstraintError(err: unknown): boolean {
  const code = codeOf(err);
  return code !== undefined && (code.startsWith('SQLITE_CONSTRAINT') || /^23/.test(code));
}

/** Replaces every occurrence of `secret` in `text`. */
export function scrub(text: string, secret: string | null): string {
  if (!secret) return text;
  return text.split(secret).join('***');
}

/** Maps driver-level failures (connection lost, lock time-out) to StoreError; other errors pass through. */
export function mapDriverError(err: unknown, target: string, secret: string | null): unknown {
  if (err instanceof StoreError) return err;
  if (isBusyError(err)) {
    return new StoreError(
      'STORE_BUSY',
      'unavailable',
      `the store ${target} stayed locked by another writer past the busy timeout; try again`,
      { cause: err },
    );
  }
  if (isUnavailableError(err)) {
    return new StoreError(
      'STORE_UNAVAILABLE',
      'unavailable',
      scrub(`lost the store ${target}: ${driverMessage(err)}`, secret),
      { cause: err },
    );
  }
  return err;
}
