import type { ErrorCategory } from '../spiffe/errors.js';

/** Stable exit codes; scripts depend on them. */
export const EXIT = {
  ok: 0,
  /** A negative verdict: invalid SVID, a gate that refused, a blocking problem. */
  negative: 1,
  /** Usage error or unreadable input. */
  usage: 2,
  /** A dependency (database, backend, Workload API) is down; retry later. */
  unavailable: 3,
  /** A bug: please report it. */
  internal: 4,
} as const;

export function exitCodeFor(category: ErrorCategory): number {
  switch (category) {
    case 'verdict':
    case 'denied':
    case 'conflict':
      return EXIT.negative;
    case 'input':
    case 'not-found':
      return EXIT.usage;
    case 'unavailable':
      return EXIT.unavailable;
    case 'internal':
      return EXIT.internal;
  }
}
