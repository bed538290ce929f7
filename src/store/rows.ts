/**
 * Row helpers the repositories share: multi-row statements cut to fit the bound
 * parameter limits of both dialects, and JSON kept in TEXT columns read back tolerantly.
 */

/** Bound parameters per statement: under SQLite's 32766 and PostgreSQL's 65535. */
export const MAX_PARAMS = 30_000;

/** `rows` in slices of at most `preferred` rows, each within MAX_PARAMS at `columns` values a row. */
export function batches<T>(rows: readonly T[], columns: number, preferred = Number.POSITIVE_INFINITY): T[][] {
  const size = Math.max(1, Math.min(preferred, Math.floor(MAX_PARAMS / columns)));
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}

/** A JSON TEXT column's value, or `fallback` when it is empty or not JSON. */
export function parseJson<T>(text: string | null, fallback: T): T {
  if (text == null || text === '') return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}
