/**
 * Name globs for rule matches (`payments-*`, `east-?`, `*`): `*` is any run of
 * characters, `?` exactly one, everything else literal. A pattern without either is an
 * exact comparison.
 */
export interface NameGlob {
  readonly pattern: string;
  /** True when the pattern has no wildcard. */
  readonly exact: boolean;
  test(value: string): boolean;
}

export function compileGlob(pattern: string): NameGlob {
  if (!/[*?]/.test(pattern)) {
    return { pattern, exact: true, test: (v) => v === pattern };
  }
  if (pattern === '*') return { pattern, exact: false, test: () => true };
  const body = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.\\^$+()[\]{}|-]/g, '\\$&')))
    .join('');
  const re = new RegExp(`^${body}$`, 's');
  return { pattern, exact: false, test: (v) => re.test(v) };
}

/** Whether any of the globs matches (an empty list matches nothing). */
export function anyGlob(globs: readonly NameGlob[], value: string): boolean {
  for (const g of globs) if (g.test(value)) return true;
  return false;
}
