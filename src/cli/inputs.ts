import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Clock } from '../spiffe/errors.js';
import { CodedError } from '../spiffe/errors.js';
import { UsageError } from './context.js';

/** Larger inputs are refused rather than read into memory. */
export const MAX_INPUT_BYTES = 50 * 1024 * 1024;

/** Reads a user-named file; a missing or unreadable file is an input error, not a crash. */
export function readInputFile(cwd: string, path: string, what: string): Buffer {
  const full = resolve(cwd, path);
  try {
    const st = statSync(full);
    if (st.isDirectory())
      throw new CodedError('INPUT_IS_DIRECTORY', 'input', `${what} ${path} is a directory, not a file`);
    if (st.size > MAX_INPUT_BYTES) {
      throw new CodedError(
        'INPUT_TOO_LARGE',
        'input',
        `${what} ${path} is ${st.size} bytes; the limit is ${MAX_INPUT_BYTES}`,
      );
    }
    return readFileSync(full);
  } catch (err) {
    if (err instanceof CodedError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CodedError('INPUT_NOT_FOUND', 'input', `${what} ${path} does not exist`);
    throw new CodedError(
      'INPUT_UNREADABLE',
      'input',
      `cannot read ${what} ${path}: ${(err as Error).message}`,
    );
  }
}

/** `--at ISO` → a fixed clock; absent → system time. */
export function clockAt(at: string | undefined): Clock | undefined {
  if (at === undefined) return undefined;
  const t = Date.parse(at);
  if (Number.isNaN(t) || !/^\d{4}-\d{2}-\d{2}/.test(at)) {
    throw new UsageError(
      `--at must be an ISO 8601 instant such as 2026-01-31T12:00:00Z, got "${at}"`,
      'USAGE_AT_INVALID',
    );
  }
  const fixed = new Date(t);
  return () => fixed;
}
