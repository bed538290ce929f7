/**
 * The static-key funnel for the dashboard (issue 9): how many keys are in each state,
 * which are ready for their next step, and every blocker in the way. Pure: it takes the
 * views `StaticKeyLedger.list()` returns and does no I/O.
 */
import type { KeyView } from './service.js';
import { KEY_STATES, type KeyState } from './states.js';

export interface FunnelBlocker {
  key: string;
  owner: string;
  state: KeyState;
  /** The state the blocker keeps the key from entering. */
  next: KeyState;
  code: string;
  message: string;
}

export interface StaticKeyFunnel {
  total: number;
  /** Every state, in order, with its count (zero included). */
  states: { state: KeyState; count: number }[];
  /** Keys whose next step may be taken now. */
  ready: string[];
  /** Keys with an interrupted backend operation (see `keys recover`). */
  interrupted: string[];
  blockers: FunnelBlocker[];
}

export type FunnelInput = Pick<KeyView, 'name' | 'owner' | 'state' | 'next' | 'interrupted'>;

export function staticKeyFunnel(keys: readonly FunnelInput[]): StaticKeyFunnel {
  const counts = new Map<KeyState, number>(KEY_STATES.map((s) => [s, 0]));
  const ready: string[] = [];
  const interrupted: string[] = [];
  const blockers: FunnelBlocker[] = [];
  for (const k of keys) {
    counts.set(k.state, (counts.get(k.state) ?? 0) + 1);
    if (k.interrupted !== null) interrupted.push(k.name);
    const next = k.next.state;
    if (next === null) continue;
    if (k.next.ready) ready.push(k.name);
    for (const b of k.next.blockers)
      blockers.push({ key: k.name, owner: k.owner, state: k.state, next, code: b.code, message: b.message });
  }
  return {
    total: keys.length,
    states: KEY_STATES.map((state) => ({ state, count: counts.get(state) ?? 0 })),
    ready: ready.sort(),
    interrupted: interrupted.sort(),
    blockers,
  };
}
