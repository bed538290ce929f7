import { inputError } from './errors.js';

/**
 * The migration phases of a scope, in order (issue 6). A root enters the bundle in
 * one phase and may leave it in a later one; the bundle of a phase holds the roots
 * with `entersAt <= phase < leavesAt`.
 */
export const PHASES = ['inventoried', 'dual-trust', 'dual-issue', 'spiffe-only', 'retired'] as const;
export type Phase = (typeof PHASES)[number];

/** Phases a bundle is rolled out for (`retired` trusts what `spiffe-only` trusts). */
export const BUNDLE_PHASES: readonly Phase[] = ['inventoried', 'dual-trust', 'dual-issue', 'spiffe-only'];

export type Origin = 'mesh' | 'spire' | 'federated';
export const ORIGINS: readonly Origin[] = ['mesh', 'spire', 'federated'];

/** Where each origin's roots enter and leave by default. */
export const DEFAULT_PHASES: Record<Origin, { entersAt: Phase; leavesAt: Phase | null }> = {
  mesh: { entersAt: 'inventoried', leavesAt: 'spiffe-only' },
  spire: { entersAt: 'dual-trust', leavesAt: null },
  federated: { entersAt: 'dual-trust', leavesAt: null },
};

export function phaseIndex(p: Phase): number {
  return PHASES.indexOf(p);
}

export function isPhase(value: unknown): value is Phase {
  return typeof value === 'string' && (PHASES as readonly string[]).includes(value);
}

export function parsePhase(value: string, what = 'phase'): Phase {
  if (isPhase(value)) return value;
  throw inputError(
    'BUNDLE_PHASE_INVALID',
    `${what} "${value}" is not a phase; use one of ${PHASES.join(', ')}`,
  );
}

/** True when a root entering at `entersAt` and leaving at `leavesAt` is trusted in `phase`. */
export function activeIn(phase: Phase, entersAt: Phase, leavesAt: Phase | null): boolean {
  const i = phaseIndex(phase);
  return phaseIndex(entersAt) <= i && (leavesAt === null || i < phaseIndex(leavesAt));
}
