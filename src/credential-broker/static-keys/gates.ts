/**
 * The evidence gates, as pure functions of the key, its evidence and the time. Each
 * gate is a named check that passes or names every blocker with a hint, like a line of
 * `linkerd check`:
 *
 *   static      -> brokered     no interrupted operation (the backend is checked by the
 *                               ledger at advance time: the secret exists, no rotation pending)
 *   brokered    -> rotated      every expected consumer fetched the key through the broker
 *                               within the window; no unexpected SPIFFE ID asked for it in
 *                               the window (allowed or denied); external keys: --confirm
 *   rotated     -> short-lived  no lease of the static value issued within the window
 *   short-lived -> retired      the quiet period has passed since the key became
 *                               short-lived and nobody asked for it (or got a lease) since;
 *                               external keys: --confirm
 */
import { formatDuration } from '../../spiffe/duration.js';
import { parseMatcher, SpiffeId } from '../../spiffe/spiffeid/index.js';
import type { Matcher } from '../../spiffe/spiffeid/match.js';
import type { KeySighting, StaticLease } from './evidence.js';
import { type KeyState, nextState } from './states.js';
import type { Blocker, ConsumerView, GateResult, JournalEntry, NextStep, StaticKey } from './types.js';

export interface GateInput {
  key: StaticKey;
  now: Date;
  /** Every SPIFFE ID that asked for the key's credential (any time span that covers the window). */
  sightings: readonly KeySighting[];
  /** Leases of the static value issued since min(window start, state since). */
  staticLeases: readonly StaticLease[];
  /** An interrupted backend operation, if any. */
  journal: JournalEntry | null;
  /** The operator confirmed the out-of-band step of an external key (`--confirm`). */
  confirmed?: boolean;
}

export function windowStart(key: StaticKey, now: Date): Date {
  return new Date(now.getTime() - key.windowSeconds * 1000);
}

/** Matchers of the expected consumers; a pattern that no longer parses matches nothing. */
function consumerMatchers(key: StaticKey): { pattern: string; match: Matcher }[] {
  return key.consumers.map((pattern) => {
    try {
      return { pattern, match: parseMatcher(pattern) };
    } catch {
      return { pattern, match: () => false };
    }
  });
}

function parseId(text: string): SpiffeId | undefined {
  try {
    return SpiffeId.parse(text);
  } catch {
    return undefined;
  }
}

/** Per expected consumer: when it last fetched the key, and as which IDs. */
export function consumerViews(key: StaticKey, sightings: readonly KeySighting[], now: Date): ConsumerView[] {
  const start = windowStart(key, now).getTime();
  return consumerMatchers(key).map(({ pattern, match }) => {
    let last: Date | null = null;
    const seenAs: string[] = [];
    for (const s of sightings) {
      if (s.lastAllowed === null) continue;
      const id = parseId(s.spiffeId);
      if (id === undefined || !match(id)) continue;
      seenAs.push(s.spiffeId);
      if (last === null || s.lastAllowed > last) last = s.lastAllowed;
    }
    return {
      id: pattern,
      lastSeen: last === null ? null : last.toISOString(),
      inWindow: last !== null && last.getTime() >= start,
      seenAs: seenAs.sort(),
    };
  });
}

/** IDs that asked within `since` and match no expected consumer. */
function unexpectedCallers(key: StaticKey, sightings: readonly KeySighting[], since: Date): KeySighting[] {
  const matchers = consumerMatchers(key);
  return sightings.filter((s) => {
    if (s.lastSeen < since) return false;
    const id = parseId(s.spiffeId);
    return id === undefined || !matchers.some((m) => m.match(id));
  });
}

/** `code` and `message` first, then the fields naming the subject (stable JSON to read). */
export function orderBlocker({ code, message, ...rest }: Blocker): Blocker {
  return { code, message, ...rest };
}

function gate(name: string, found: Blocker[], hint?: string): GateResult {
  const blockers = found.map(orderBlocker);
  return blockers.length === 0
    ? { name, ok: true, blockers }
    : { name, ok: false, blockers, ...(hint === undefined ? {} : { hint }) };
}

export function interruptedGate(key: StaticKey, journal: JournalEntry | null): GateResult {
  if (journal === null) return gate('no-interrupted-operation', []);
  const what = journal.operation === 'rotate' ? 'rotation' : 'rollback';
  return gate(
    'no-interrupted-operation',
    [
      {
        code: 'OPERATION_INTERRUPTED',
        message:
          `a ${what} of ${key.name} (${journal.fromState} -> ${journal.toState}) started at ` +
          `${journal.startedAt.toISOString()} by ${journal.by} was not recorded as finished; ` +
          `run \`meshbridge keys recover ${key.name}\` to finish it (or --undo to undo it)`,
        operation: journal.operation,
        startedAt: journal.startedAt.toISOString(),
      },
    ],
    'a process died between the backend write and the ledger update, or is still running',
  );
}

function confirmationGate(key: StaticKey, to: KeyState, confirmed: boolean | undefined): GateResult {
  if (key.location.kind !== 'external' || confirmed === true) return gate('operator-confirmed', []);
  const what =
    to === 'rotated'
      ? 'the value was replaced where it lives (meshbridge cannot rotate an external key)'
      : 'the key was deleted where it lives (meshbridge cannot delete an external key)';
  return gate(
    'operator-confirmed',
    [
      {
        code: 'CONFIRMATION_REQUIRED',
        message: `${key.name} is external: confirm that ${what} with --confirm`,
      },
    ],
    'do the step out of band, then advance again with --confirm',
  );
}

function consumersGate(key: StaticKey, input: GateInput): GateResult {
  const window = formatDuration(key.windowSeconds);
  const blockers: Blocker[] = [];
  for (const c of consumerViews(key, input.sightings, input.now)) {
    if (c.inWindow) continue;
    blockers.push({
      code: 'CONSUMER_NOT_SEEN',
      consumer: c.id,
      lastSeen: c.lastSeen,
      message:
        c.lastSeen === null
          ? `${c.id} has never fetched ${key.credential} through the broker`
          : `${c.id} has not fetched ${key.credential} through the broker within ${window} (last ${c.lastSeen})`,
    });
  }
  return gate(
    'consumers-fetched-through-broker',
    blockers,
    `point each consumer at the broker (meshbridge fetch --credential ${key.credential}) or remove it from the key's consumers`,
  );
}

function unexpectedGate(key: StaticKey, input: GateInput): GateResult {
  const window = formatDuration(key.windowSeconds);
  const blockers: Blocker[] = unexpectedCallers(key, input.sightings, windowStart(key, input.now)).map(
    (s) => ({
      code: 'UNEXPECTED_CALLER',
      spiffeId: s.spiffeId,
      allowed: s.allowedCount,
      denied: s.deniedCount,
      lastSeen: s.lastSeen.toISOString(),
      message:
        `${s.spiffeId} asked for ${key.credential} within ${window} (${s.allowedCount} allowed, ` +
        `${s.deniedCount} denied, last ${s.lastSeen.toISOString()}) but is no expected consumer`,
    }),
  );
  return gate(
    'no-unexpected-callers',
    blockers,
    'find out who that is: add it as a consumer (keys add ... --consumer) if it needs the key, or stop it asking',
  );
}

/** Blockers, one per SPIFFE ID, for leases of the static value since `since`. */
function leaseBlockers(key: StaticKey, leases: readonly StaticLease[], since: Date, span: string): Blocker[] {
  const byId = new Map<string, StaticLease[]>();
  for (const l of leases) {
    if (l.issuedAt < since) continue;
    const list = byId.get(l.spiffeId) ?? [];
    list.push(l);
    byId.set(l.spiffeId, list);
  }
  return [...byId.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([spiffeId, list]) => {
      const last = list.reduce((a, b) => (b.issuedAt > a.issuedAt ? b : a));
      return {
        code: 'STATIC_LEASE_ISSUED',
        spiffeId,
        leases: list.length,
        lastIssuedAt: last.issuedAt.toISOString(),
        lastLeaseId: last.leaseId,
        message:
          `${spiffeId} was issued the static value of ${key.name} ${list.length} time(s) ${span} ` +
          `(last ${last.issuedAt.toISOString()}, lease ${last.leaseId})`,
      } satisfies Blocker;
    });
}

function noStaticLeasesGate(key: StaticKey, input: GateInput): GateResult {
  const window = formatDuration(key.windowSeconds);
  return gate(
    'no-static-leases-in-window',
    leaseBlockers(key, input.staticLeases, windowStart(key, input.now), `within ${window}`),
    `move those consumers to a dynamic or ephemeral credential and drop ${key.credential} from their policy rules`,
  );
}

function quietGates(key: StaticKey, input: GateInput): GateResult[] {
  const quiet = formatDuration(key.quietSeconds);
  const until = new Date(key.stateSince.getTime() + key.quietSeconds * 1000);
  const elapsed = gate(
    'quiet-period-elapsed',
    input.now >= until
      ? []
      : [
          {
            code: 'QUIET_PERIOD_NOT_OVER',
            until: until.toISOString(),
            message: `${key.name} has been short-lived since ${key.stateSince.toISOString()}; the ${quiet} quiet period ends at ${until.toISOString()}`,
          },
        ],
    'wait for the quiet period to pass',
  );
  const asked: Blocker[] = input.sightings
    .filter((s) => s.lastSeen >= key.stateSince)
    .map((s) => ({
      code: 'ASKED_DURING_QUIET_PERIOD',
      spiffeId: s.spiffeId,
      lastSeen: s.lastSeen.toISOString(),
      message: `${s.spiffeId} asked for ${key.credential} at ${s.lastSeen.toISOString()}, after ${key.name} became short-lived`,
    }));
  const seen = new Set(asked.map((b) => b.spiffeId));
  for (const b of leaseBlockers(key, input.staticLeases, key.stateSince, 'since it became short-lived'))
    if (!seen.has(b.spiffeId)) asked.push({ ...b, code: 'ASKED_DURING_QUIET_PERIOD' });
  return [
    elapsed,
    gate(
      'nobody-asked-during-quiet-period',
      asked,
      'something still depends on the key: find it before retiring',
    ),
  ];
}

/** The gates between the key's state and `to` (the state right after it). */
export function evaluateGates(input: GateInput, to: KeyState): GateResult[] {
  const key = input.key;
  const gates: GateResult[] = [interruptedGate(key, input.journal)];
  switch (to) {
    case 'brokered':
      break;
    case 'rotated':
      gates.push(consumersGate(key, input), unexpectedGate(key, input));
      gates.push(confirmationGate(key, to, input.confirmed));
      break;
    case 'short-lived':
      gates.push(noStaticLeasesGate(key, input));
      break;
    case 'retired':
      gates.push(...quietGates(key, input));
      gates.push(confirmationGate(key, to, input.confirmed));
      break;
    case 'static':
      break;
  }
  return gates;
}

/**
 * The next step and whether it may be taken now. For an external key the operator's
 * confirmation counts as a blocker until given (`confirmed: true`, i.e. `--confirm`).
 */
export function nextStep(input: GateInput): NextStep {
  const to = nextState(input.key.state);
  if (to === null) return { state: null, ready: false, blockers: [], gates: [] };
  const gates = evaluateGates(input, to);
  const blockers = gates.flatMap((g) => g.blockers);
  return { state: to, ready: blockers.length === 0, blockers, gates };
}
