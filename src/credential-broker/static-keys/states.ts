/**
 * The life of a legacy static key, one step at a time:
 *
 *   static -> brokered -> rotated -> short-lived -> retired
 *
 *  - static:      baked into legacy configurations; the ledger only knows it exists.
 *  - brokered:    the broker serves it; consumers are observed fetching it.
 *  - rotated:     the value was replaced downstream, so copies in old configs are dead.
 *  - short-lived: consumers moved to a dynamic or ephemeral credential; the static
 *                 value is no longer issued.
 *  - retired:     gone downstream, restorable within the restore window.
 */
import { StaticKeyError } from './errors.js';

export const KEY_STATES = ['static', 'brokered', 'rotated', 'short-lived', 'retired'] as const;
export type KeyState = (typeof KEY_STATES)[number];

export function isKeyState(value: string): value is KeyState {
  return (KEY_STATES as readonly string[]).includes(value);
}

/** Throws STATIC_KEY_STATE_INVALID naming the states. */
export function parseKeyState(value: string, what = 'state'): KeyState {
  if (isKeyState(value)) return value;
  throw new StaticKeyError(
    'STATIC_KEY_STATE_INVALID',
    `${what} "${value}" is not a key state; use one of ${KEY_STATES.join(', ')}`,
  );
}

export function stateIndex(state: KeyState): number {
  return KEY_STATES.indexOf(state);
}

/** The state after `state`, or null for `retired`. */
export function nextState(state: KeyState): KeyState | null {
  return KEY_STATES[stateIndex(state) + 1] ?? null;
}

/** The state before `state`, or null for `static`. */
export function previousState(state: KeyState): KeyState | null {
  const i = stateIndex(state);
  return i === 0 ? null : (KEY_STATES[i - 1] ?? null);
}
