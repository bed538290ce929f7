/**
 * The static-key retirement ledger: add keys, judge the next step on evidence, advance
 * (rotating through the backend where the step replaces the value), roll back within
 * the restore window, and recover an operation a dead process left half done.
 *
 * `short-lived -> retired` deletes the secret downstream, restorably (AWS DeleteSecret
 * with a recovery window, Vault KV v2 soft delete; `RotatingSecretStore.retire`), and
 * records until when it can be restored; `rollback` out of `retired` within that window
 * restores it (`restore`) with the same value. Both are journaled like a rotation: the
 * journal row's operation is `rotate` (retire) or `rollback` (restore) and its evidence
 * says `retirement` / `restore`, so recovery asks the backend whether the secret is
 * deleted instead of which version is current.
 *
 * Crash safety of every backend write (a rotation, a rollback, a retirement, a restore):
 *   1. one transaction: the key's version is checked and bumped and a journal row is
 *      written naming the operation and the backend version current before it;
 *   2. the backend write (AWS staged sequence / Vault KV check-and-set version);
 *   3. one transaction: the key's new state and versions, the history row, and the
 *      journal row deleted.
 * A process killed between 1 and 3 leaves the journal row. The next `show` reports it;
 * `advance` and `recover` read the backend (`pendingRotation`, the current version) and
 * finish the operation (its value is stored downstream) or undo it (the value from
 * before it is current again). No value is ever held only in memory: the ledger never
 * sees a secret value at all, only version ids.
 */
import { type Clock, CodedError, systemClock } from '../../spiffe/errors.js';
import { parseMatcher } from '../../spiffe/spiffeid/index.js';
import type { Store } from '../../store/index.js';
import type { RetireResult } from '../backends/backend.js';
import type { RotateOptions, RotatingSecretStore, SecretDescription } from '../backends/index.js';
import { StaticKeyError } from './errors.js';
import { brokerEvidence, type KeyEvidenceSource, type KeySighting, type StaticLease } from './evidence.js';
import {
  consumerViews,
  evaluateGates,
  interruptedGate,
  nextStep,
  orderBlocker,
  windowStart,
} from './gates.js';
import {
  insertKey,
  type JournalInput,
  type KeyPatch,
  notFound,
  readHistory,
  readJournal,
  readJournals,
  readKey,
  readKeys,
  type TransitionInput,
  writeKey,
} from './ledger.js';
import { formatLocation, type KeyLocation, parseLocation } from './location.js';
import { type KeyState, nextState, parseKeyState, previousState, stateIndex } from './states.js';
import type {
  Blocker,
  ConsumerView,
  GateResult,
  JournalEntry,
  NextStep,
  StaticKey,
  Transition,
} from './types.js';

export const DEFAULT_WINDOW_SECONDS = 7 * 86_400;
export const DEFAULT_QUIET_SECONDS = 7 * 86_400;
export const DEFAULT_RESTORE_SECONDS = 30 * 86_400;
/** A journal younger than this may belong to an operation still running: recover only with `force`. */
export const DEFAULT_RECOVER_GRACE_SECONDS = 60;

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The rotating store for a key's location kind (built from config or the SDK's environment). */
export type SecretStoreResolver = (kind: 'aws' | 'vault') => RotatingSecretStore;

/** Test hooks (crash drills, concurrency): production code passes none. */
export interface LedgerHooks {
  /** After the gates passed, before anything is written. */
  afterGates?: (name: string, to: KeyState) => void | Promise<void>;
  /** Handed to the backend's `rotate` as `onStep`. */
  onRotationStep?: RotateOptions['onStep'];
  /** After the backend write, before the ledger update. */
  beforeLedgerUpdate?: (name: string) => void | Promise<void>;
}

export interface StaticKeyLedgerOptions {
  store: Store;
  /** Default: the broker's records in the same store (`brokerEvidence`). */
  evidence?: KeyEvidenceSource;
  /** Needed for keys in AWS or Vault (advance, rollback, recover, show's backend check). */
  secretStores?: SecretStoreResolver;
  clock?: Clock;
  recoverGraceSeconds?: number;
  hooks?: LedgerHooks;
}

export interface AddKeyInput {
  name: string;
  /** `aws:<secret-id>`, `vault:<kv-path>`, `external[:note]`, or a parsed location. */
  location: string | KeyLocation;
  owner: string;
  /** SPIFFE IDs or patterns (`*` within a segment, `**` for segments). At least one. */
  consumers: string[];
  /** The broker credential consumers fetch it as (default: the key's name). */
  credential?: string;
  /** A note on an external location. */
  note?: string;
  windowSeconds?: number;
  quietSeconds?: number;
  restoreSeconds?: number;
  by?: string;
}

export interface DownstreamView {
  /**
   * staged/promoted/marked: the backend reports an interrupted rotation at that stage;
   * written: the backend write landed and finished, only the ledger update is missing;
   * not-written: nothing reached the backend; unknown: the backend could not be asked.
   */
  stage: 'staged' | 'promoted' | 'marked' | 'written' | 'not-written' | 'unknown';
  currentVersion?: string;
  pendingVersion?: string;
  message?: string;
}

export interface InterruptedView {
  operation: 'rotate' | 'rollback';
  from: KeyState;
  to: KeyState;
  startedAt: string;
  by: string;
  /** Present when the backend was asked (`show`, `recover`). */
  downstream?: DownstreamView;
}

/** `keys show --json`: the contract, extended (never renamed). */
export interface KeyView {
  name: string;
  state: KeyState;
  location: string;
  owner: string;
  consumers: ConsumerView[];
  next: NextStep;
  credential: string;
  note: string | null;
  version: number;
  since: string;
  windowSeconds: number;
  quietSeconds: number;
  restoreSeconds: number;
  backend: { reference: string | null; currentVersion: string | null; previousVersion: string | null } | null;
  /** Until when the previous value can be restored by `rollback` (rotated and later), else null. */
  restoreUntil: string | null;
  /** Retired keys in AWS or Vault: until when the deleted secret can be restored downstream, else null. */
  restorableUntil: string | null;
  interrupted: InterruptedView | null;
}

export interface AdvanceOptions {
  /** Advance through every state up to this one (default: the next state). */
  to?: KeyState | string;
  /** External keys: the operator confirms the out-of-band step (value replaced, key deleted). */
  confirm?: boolean;
  /** Recover an interrupted operation even if it started within the grace period. */
  force?: boolean;
  by?: string;
  reason?: string;
}

export interface AdvanceResult {
  name: string;
  from: KeyState;
  state: KeyState;
  /** The transitions taken, in order (a finished recovery included). */
  transitions: Transition[];
  /** Set when a gate refused: the state that was not entered, its gates and blockers. */
  refused: { state: KeyState | null; blockers: Blocker[]; gates: GateResult[] } | null;
  /** An interrupted operation that was recovered first. */
  recovered: RecoveryResult | null;
}

export interface RollbackOptions {
  reason: string;
  by?: string;
}

export interface RollbackResult {
  name: string;
  from: KeyState;
  state: KeyState;
  transition: Transition | null;
  refused: { blockers: Blocker[] } | null;
}

export interface RecoverOptions {
  /** finish (default): complete the interrupted operation; undo: restore what was current before it. */
  mode?: 'finish' | 'undo';
  force?: boolean;
  by?: string;
}

export interface RecoveryResult {
  name: string;
  operation: 'rotate' | 'rollback' | null;
  /**
   * finished: the interrupted operation is complete and recorded; undone: the value from
   * before it is current again; discarded: nothing had reached the backend;
   * nothing-pending: there was no interrupted operation.
   */
  outcome: 'finished' | 'undone' | 'discarded' | 'nothing-pending';
  downstream: DownstreamView | null;
  state: KeyState;
  currentVersion: string | null;
  transition: Transition | null;
}

interface Facts {
  sightings: KeySighting[];
  staticLeases: StaticLease[];
  journal: JournalEntry | null;
  /** A retired backend key deleted downstream by `retire`: until when it is restorable. */
  restorableUntil?: Date | null;
}

const EPOCH = new Date(0);

export class StaticKeyLedger {
  readonly store: Store;
  private readonly evidence: KeyEvidenceSource;
  private readonly clock: Clock;
  private readonly graceMs: number;
  private readonly hooks: LedgerHooks;

  constructor(private readonly o: StaticKeyLedgerOptions) {
    this.store = o.store;
    this.evidence = o.evidence ?? brokerEvidence(o.store);
    this.clock = o.clock ?? systemClock;
    this.graceMs = (o.recoverGraceSeconds ?? DEFAULT_RECOVER_GRACE_SECONDS) * 1000;
    this.hooks = o.hooks ?? {};
  }

  // ------------------------------------------------------------ reading

  async get(name: string): Promise<StaticKey> {
    const key = await readKey(this.store, name);
    if (key === undefined) throw notFound(name);
    return key;
  }

  async history(name: string): Promise<Transition[]> {
    await this.get(name);
    return readHistory(this.store, name);
  }

  /** One key with its consumers' evidence and its next step; asks the backend about an interrupted operation. */
  async show(name: string, opts: { confirm?: boolean } = {}): Promise<KeyView> {
    const key = await this.get(name);
    const now = this.clock();
    const facts = await this.facts(key, now);
    const view = this.view(key, facts, now, opts.confirm === true);
    if (facts.journal !== null && view.interrupted !== null && key.location.kind !== 'external') {
      try {
        view.interrupted.downstream = await this.diagnose(key, facts.journal);
      } catch (err) {
        view.interrupted.downstream = { stage: 'unknown', message: (err as Error).message };
      }
    }
    return view;
  }

  /** Every key with its next step (no backend calls). */
  async list(): Promise<KeyView[]> {
    const now = this.clock();
    const [keys, journals] = await Promise.all([readKeys(this.store), readJournals(this.store)]);
    const views: KeyView[] = [];
    for (const key of keys) {
      const facts = await this.facts(key, now, journals.get(key.name) ?? null);
      views.push(this.view(key, facts, now, false));
    }
    return views;
  }

  // ------------------------------------------------------------ adding

  async add(input: AddKeyInput): Promise<KeyView> {
    if (!NAME_PATTERN.test(input.name))
      throw new StaticKeyError(
        'STATIC_KEY_NAME_INVALID',
        `key name "${input.name}" must start with a letter or digit and hold only letters, digits, ".", "_" and "-" (at most 128)`,
      );
    const credential = input.credential ?? input.name;
    if (!NAME_PATTERN.test(credential))
      throw new StaticKeyError(
        'STATIC_KEY_NAME_INVALID',
        `credential name "${credential}" is not a broker credential name (letters, digits, ".", "_", "-")`,
      );
    let location = typeof input.location === 'string' ? parseLocation(input.location) : input.location;
    if (input.note !== undefined && input.note.trim() !== '') {
      if (location.kind !== 'external')
        throw new StaticKeyError('STATIC_KEY_SETTING_INVALID', '--note is for external locations only');
      location = { kind: 'external', note: input.note.trim() };
    }
    const owner = input.owner.trim();
    if (owner === '') throw new StaticKeyError('STATIC_KEY_SETTING_INVALID', 'the owner must not be empty');
    const consumers = [...new Set(input.consumers.map((c) => c.trim()))];
    if (consumers.length === 0)
      throw new StaticKeyError(
        'STATIC_KEY_CONSUMER_INVALID',
        'name at least one expected consumer (--consumer spiffe://...), or the gates would prove nothing',
      );
    for (const c of consumers) checkConsumer(c);
    const now = this.clock();
    const key: StaticKey = {
      name: input.name,
      credential,
      location,
      owner,
      state: 'static',
      version: 1,
      consumers,
      windowSeconds: seconds(input.windowSeconds, DEFAULT_WINDOW_SECONDS, 'the evidence window'),
      quietSeconds: seconds(input.quietSeconds, DEFAULT_QUIET_SECONDS, 'the quiet period'),
      restoreSeconds: seconds(input.restoreSeconds, DEFAULT_RESTORE_SECONDS, 'the restore window'),
      backendReference: null,
      currentVersion: null,
      previousVersion: null,
      replacedAt: null,
      stateSince: now,
      createdAt: now,
      updatedAt: now,
    };
    await insertKey(this.store, key, input.by ?? 'unknown');
    return this.view(key, { sightings: [], staticLeases: [], journal: null }, now, false);
  }

  // ------------------------------------------------------------ advancing

  async advance(name: string, opts: AdvanceOptions = {}): Promise<AdvanceResult> {
    const by = opts.by ?? 'unknown';
    const wanted = opts.to === undefined ? undefined : parseKeyState(opts.to, '--to');
    let key = await this.get(name);
    const from = key.state;
    const transitions: Transition[] = [];
    let recovered: RecoveryResult | null = null;

    if ((await readJournal(this.store, name)) !== null) {
      recovered = await this.recover(name, {
        mode: 'finish',
        by,
        ...(opts.force === undefined ? {} : { force: opts.force }),
      });
      if (recovered.transition !== null && recovered.outcome === 'finished')
        transitions.push(recovered.transition);
      key = await this.get(name);
      if (wanted === undefined && recovered.outcome === 'finished')
        return { name, from, state: key.state, transitions, refused: null, recovered };
    }

    const target = wanted ?? nextState(key.state);
    if (target === null)
      return {
        name,
        from,
        state: key.state,
        transitions,
        recovered,
        refused: {
          state: null,
          gates: [],
          blockers: [
            {
              code: 'ALREADY_RETIRED',
              message: `${name} is retired; nothing comes after (keys rollback restores it within the restore window)`,
            },
          ],
        },
      };
    if (stateIndex(target) <= stateIndex(key.state)) {
      if (target === key.state && transitions.length > 0)
        return { name, from, state: key.state, transitions, refused: null, recovered };
      throw new StaticKeyError(
        'STATIC_KEY_TARGET_INVALID',
        `${name} is ${key.state}; --to ${target} is not ahead of it (use \`meshbridge keys rollback\` to go back)`,
      );
    }
    while (key.state !== target) {
      const to = nextState(key.state) as KeyState;
      const step = await this.step(key, to, opts, by);
      if ('refused' in step)
        return {
          name,
          from,
          state: key.state,
          transitions,
          recovered,
          refused: { state: to, ...step.refused },
        };
      transitions.push(step.transition);
      key = step.key;
    }
    return { name, from, state: key.state, transitions, refused: null, recovered };
  }

  private async step(
    key: StaticKey,
    to: KeyState,
    opts: AdvanceOptions,
    by: string,
  ): Promise<
    { key: StaticKey; transition: Transition } | { refused: { blockers: Blocker[]; gates: GateResult[] } }
  > {
    const now = this.clock();
    const facts = await this.facts(key, now);
    const gates = evaluateGates({ key, now, ...facts, confirmed: opts.confirm === true }, to);
    const backend = this.backendOf(key);
    let description: SecretDescription | undefined;
    if (backend !== undefined && (to === 'brokered' || to === 'rotated' || to === 'retired')) {
      const pre = await this.preflight(key, backend.store);
      gates.push(pre.gate);
      description = pre.description;
    }
    const blockers = gates.flatMap((g) => g.blockers);
    if (blockers.length > 0) return { refused: { blockers, gates } };
    await this.hooks.afterGates?.(key.name, to);

    const evidence = transitionEvidence(key, facts, now, to, opts.confirm === true);
    if (backend !== undefined && description !== undefined && to === 'retired')
      return this.retire(key, backend, description, evidence, by, opts.reason ?? null);
    if (backend !== undefined && description !== undefined && to === 'rotated')
      return this.rotate(key, to, backend, description, evidence, by, opts.reason ?? null);

    const patch: KeyPatch = { state: to, stateSince: now };
    if (description !== undefined) {
      patch.backendReference = description.reference;
      patch.currentVersion = description.currentVersion;
    }
    if (key.location.kind === 'external' && (to === 'rotated' || to === 'retired')) patch.replacedAt = now;
    const transition: TransitionInput = {
      kind: 'advance',
      from: key.state,
      to,
      at: now,
      by,
      reason: opts.reason ?? null,
      evidence,
    };
    await writeKey(this.store, { name: key.name, expectVersion: key.version, at: now, patch, transition });
    const updated = await this.get(key.name);
    return { key: updated, transition: await this.lastTransition(key.name) };
  }

  /** The backend is reachable, the secret exists, and no rotation is in flight downstream. */
  private async preflight(
    key: StaticKey,
    store: RotatingSecretStore,
  ): Promise<{ gate: GateResult; description?: SecretDescription }> {
    const where = formatLocation(key.location);
    let description: SecretDescription;
    try {
      description = await store.describe(backendLocation(key.location));
    } catch (err) {
      if (err instanceof CodedError && err.code === 'BACKEND_SECRET_NOT_FOUND')
        return {
          gate: {
            name: 'backend-ready',
            ok: false,
            hint: 'create the secret, or fix the key (its location is set when it is added)',
            blockers: [
              { code: 'LOCATION_NOT_FOUND', message: `${where} does not exist downstream: ${err.message}` },
            ],
          },
        };
      throw err;
    }
    if (description.pending !== null)
      return {
        description,
        gate: {
          name: 'backend-ready',
          ok: false,
          hint: 'finish or undo that rotation where it was started',
          blockers: [
            {
              code: 'DOWNSTREAM_ROTATION_PENDING',
              message:
                `${where} has a rotation in flight that this ledger did not start ` +
                `(${description.pending.stage}, version ${description.pending.pendingVersion ?? '?'})`,
            },
          ],
        },
      };
    if (description.deleted !== undefined && key.state !== 'short-lived')
      return {
        description,
        gate: {
          name: 'backend-ready',
          ok: false,
          hint: 'restore the secret downstream (it was deleted), or fix the key',
          blockers: [
            {
              code: 'LOCATION_DELETED',
              message: `${where} is deleted downstream (version ${description.deleted.version}); restore it first`,
            },
          ],
        },
      };
    return { description, gate: { name: 'backend-ready', ok: true, blockers: [] } };
  }

  /** Journal, backend delete (restorable), ledger update (see the module comment). */
  private async retire(
    key: StaticKey,
    backend: { store: RotatingSecretStore; location: string },
    description: SecretDescription,
    evidence: Record<string, unknown>,
    by: string,
    reason: string | null,
  ): Promise<{ key: StaticKey; transition: Transition }> {
    await this.journaled({
      key,
      at: this.clock(),
      journal: {
        operation: 'rotate',
        fromState: key.state,
        toState: 'retired',
        backendFromVersion: description.currentVersion,
        backendTargetVersion: description.currentVersion,
        by,
        reason,
        evidence: { ...evidence, retirement: { action: 'delete', restoreWindowSeconds: key.restoreSeconds } },
      },
      backend,
      call: () => backend.store.retire(backend.location, { restoreWindowSeconds: key.restoreSeconds }),
      untouched: (d) => d.pending === null && d.deleted === undefined,
      goneIsUntouched: true,
      outcome: (result: RetireResult, done) => {
        const restorableUntil = deletionDeadline(
          key,
          done,
          result.expiresDownstream ? result.restorableUntil : undefined,
        );
        return {
          patch: { state: 'retired', stateSince: done, backendReference: description.reference },
          transition: {
            kind: 'advance',
            from: key.state,
            to: 'retired',
            at: done,
            by,
            reason,
            evidence: {
              ...evidence,
              retirement: {
                action: 'delete',
                deletedVersion: result.version,
                reference: result.reference,
                restorableUntil: restorableUntil.toISOString(),
                ...(result.expiresDownstream
                  ? { deletedForGoodAt: result.restorableUntil.toISOString() }
                  : {}),
                alreadyDeleted: !result.changed,
              },
            },
            backendFromVersion: result.version,
            backendToVersion: result.version,
          },
        };
      },
    });
    return { key: await this.get(key.name), transition: await this.lastTransition(key.name) };
  }

  /** Journal, backend rotation, ledger update (see the module comment). */
  private async rotate(
    key: StaticKey,
    to: KeyState,
    backend: { store: RotatingSecretStore; location: string },
    description: SecretDescription,
    evidence: Record<string, unknown>,
    by: string,
    reason: string | null,
  ): Promise<{ key: StaticKey; transition: Transition }> {
    const options: RotateOptions = { onPending: 'fail' };
    if (this.hooks.onRotationStep !== undefined) options.onStep = this.hooks.onRotationStep;
    await this.journaled({
      key,
      at: this.clock(),
      journal: {
        operation: 'rotate',
        fromState: key.state,
        toState: to,
        backendFromVersion: description.currentVersion,
        by,
        reason,
        evidence,
      },
      backend,
      call: () => backend.store.rotate(backend.location, undefined, options),
      untouched: (d) => d.pending === null && d.currentVersion === description.currentVersion,
      outcome: (result, done) => ({
        patch: {
          state: to,
          stateSince: done,
          backendReference: description.reference,
          currentVersion: result.newVersion,
          previousVersion: result.previousVersion,
          replacedAt: done,
        },
        transition: {
          kind: 'advance',
          from: key.state,
          to,
          at: done,
          by,
          reason,
          evidence: {
            ...evidence,
            rotation: {
              previousVersion: result.previousVersion,
              newVersion: result.newVersion,
              reference: result.reference,
            },
          },
          backendFromVersion: result.previousVersion,
          backendToVersion: result.newVersion,
        },
      }),
    });
    return { key: await this.get(key.name), transition: await this.lastTransition(key.name) };
  }

  /**
   * The crash-safe shape of every backend change (see the module comment): claim the key
   * with a journal entry, make the backend call, then write its outcome and clear the
   * journal. When the call fails, the journal goes only if the backend shows nothing
   * changed (`untouched`), and the error is rethrown.
   */
  private async journaled<R>(step: {
    key: StaticKey;
    at: Date;
    journal: Omit<JournalInput, 'startedAt'>;
    backend: { store: RotatingSecretStore; location: string };
    call: () => Promise<R>;
    untouched: (d: SecretDescription) => boolean;
    /** A secret gone downstream counts as untouched. */
    goneIsUntouched?: boolean;
    outcome: (result: R, done: Date) => { patch: KeyPatch; transition: TransitionInput };
  }): Promise<void> {
    const name = step.key.name;
    const claimed = await writeKey(this.store, {
      name,
      expectVersion: step.key.version,
      at: step.at,
      journal: { ...step.journal, startedAt: step.at },
    });
    let result: R;
    try {
      result = await step.call();
    } catch (err) {
      await this.releaseJournalIf(name, claimed, step.backend, step.untouched, step.goneIsUntouched);
      throw err;
    }
    await this.hooks.beforeLedgerUpdate?.(name);
    const done = this.clock();
    await writeKey(this.store, {
      name,
      expectVersion: claimed,
      at: done,
      clearJournal: true,
      ...step.outcome(result, done),
    });
  }

  /**
   * After a failed backend call: drop the journal when the backend shows nothing
   * changed (`untouched`); a secret gone downstream counts as untouched when
   * `goneIsUntouched`. Anything unknown keeps the journal for the next run.
   */
  private async releaseJournalIf(
    name: string,
    claimed: number,
    backend: { store: RotatingSecretStore; location: string },
    untouched: (d: SecretDescription) => boolean,
    goneIsUntouched = false,
  ): Promise<void> {
    let release: boolean;
    try {
      release = untouched(await backend.store.describe(backend.location));
    } catch (err) {
      release = goneIsUntouched && err instanceof CodedError && err.code === 'BACKEND_SECRET_NOT_FOUND';
    }
    if (release) {
      await writeKey(this.store, {
        name,
        expectVersion: claimed,
        at: this.clock(),
        clearJournal: true,
      }).catch(() => undefined);
    }
  }

  // ------------------------------------------------------------ rolling back

  async rollback(name: string, opts: RollbackOptions): Promise<RollbackResult> {
    const reason = (opts.reason ?? '').trim();
    if (reason === '')
      throw new StaticKeyError('STATIC_KEY_SETTING_INVALID', 'a rollback needs a reason (--reason TEXT)');
    const by = opts.by ?? 'unknown';
    const key = await this.get(name);
    const journal = await readJournal(this.store, name);
    if (journal !== null) {
      const gate = interruptedGate(key, journal);
      throw new StaticKeyError(
        'STATIC_KEY_OPERATION_INTERRUPTED',
        gate.blockers[0]?.message ?? `an operation on ${name} was interrupted`,
      );
    }
    const to = previousState(key.state);
    const refuse = (b: Blocker): RollbackResult => ({
      name,
      from: key.state,
      state: key.state,
      transition: null,
      refused: { blockers: [orderBlocker(b)] },
    });
    if (to === null)
      return refuse({
        code: 'NOTHING_TO_ROLL_BACK',
        message: `${name} is static; there is nothing to roll back`,
      });
    const now = this.clock();
    if (key.state === 'retired' && key.location.kind !== 'external') {
      const restorableUntil = await this.restorableUntil(name);
      // null: retired before retirement deleted downstream (it rotated); rolled back as a rotation below.
      if (restorableUntil !== null) return this.restoreRetired(key, restorableUntil, now, by, reason, refuse);
    }
    const restoresValue = key.state === 'rotated' || key.state === 'retired';
    if (restoresValue) {
      const since = key.replacedAt ?? key.stateSince;
      const until = new Date(since.getTime() + key.restoreSeconds * 1000);
      if (now > until)
        return refuse({
          code: 'RESTORE_WINDOW_PASSED',
          until: until.toISOString(),
          message: `the previous value of ${name} was replaced at ${since.toISOString()}; the restore window ended at ${until.toISOString()}`,
        });
    }
    const backend = this.backendOf(key);
    if (backend === undefined || !restoresValue) {
      await writeKey(this.store, {
        name,
        expectVersion: key.version,
        at: now,
        patch: { state: to, stateSince: now },
        transition: { kind: 'rollback', from: key.state, to, at: now, by, reason },
      });
      return { name, from: key.state, state: to, transition: await this.lastTransition(name), refused: null };
    }

    const target = key.previousVersion;
    if (target === null)
      throw new StaticKeyError(
        'STATIC_KEY_RECOVERY_CONFLICT',
        `the ledger does not know which version of ${formatLocation(key.location)} to restore`,
      );
    const description = await backend.store.describe(backend.location);
    if (description.pending !== null) return refuse(foreignRotation(key));
    try {
      await this.journaled({
        key,
        at: now,
        journal: {
          operation: 'rollback',
          fromState: key.state,
          toState: to,
          backendFromVersion: description.currentVersion,
          backendTargetVersion: target,
          by,
          reason,
        },
        backend,
        call: () =>
          backend.store.rollback(backend.location, target, { restoreWindowSeconds: key.restoreSeconds }),
        untouched: (d) => d.pending === null && d.currentVersion === description.currentVersion,
        outcome: (result, done) => ({
          patch: {
            state: to,
            stateSince: done,
            currentVersion: result.newVersion,
            previousVersion: result.previousVersion,
          },
          transition: {
            kind: 'rollback',
            from: key.state,
            to,
            at: done,
            by,
            reason,
            evidence: {
              restored: { version: target, newVersion: result.newVersion, reference: result.reference },
            },
            backendFromVersion: result.previousVersion,
            backendToVersion: result.newVersion,
          },
        }),
      });
    } catch (err) {
      if (err instanceof CodedError && err.code === 'BACKEND_RESTORE_WINDOW_PASSED')
        return refuse({ code: 'RESTORE_WINDOW_PASSED', message: err.message });
      throw err;
    }
    return { name, from: key.state, state: to, transition: await this.lastTransition(name), refused: null };
  }

  /** `retired` -> `short-lived` for a key deleted downstream: journal, `restore`, ledger update. */
  private async restoreRetired(
    key: StaticKey,
    restorableUntil: Date,
    now: Date,
    by: string,
    reason: string,
    refuse: (b: Blocker) => RollbackResult,
  ): Promise<RollbackResult> {
    const name = key.name;
    const until = retiredUntil(key, restorableUntil);
    if (now > until)
      return refuse({
        code: 'RESTORE_WINDOW_PASSED',
        until: until.toISOString(),
        message: `${name} was retired (deleted downstream) at ${key.stateSince.toISOString()}; the restore window ended at ${until.toISOString()}`,
      });
    const backend = this.backendOf(key) as { store: RotatingSecretStore; location: string };
    const description = await backend.store.describe(backend.location);
    if (description.pending !== null) return refuse(foreignRotation(key));
    try {
      await this.journaled({
        key,
        at: now,
        journal: {
          operation: 'rollback',
          fromState: 'retired',
          toState: 'short-lived',
          backendFromVersion: description.currentVersion,
          backendTargetVersion: description.currentVersion,
          by,
          reason,
          evidence: {
            restore: { deletedVersion: description.deleted?.version ?? description.currentVersion },
          },
        },
        backend,
        call: () => backend.store.restore(backend.location),
        untouched: (d) => d.pending === null && d.deleted !== undefined,
        goneIsUntouched: true,
        outcome: (result, done) => ({
          patch: { state: 'short-lived', stateSince: done },
          transition: {
            kind: 'rollback',
            from: 'retired',
            to: 'short-lived',
            at: done,
            by,
            reason,
            evidence: {
              restored: {
                version: result.version,
                reference: result.reference,
                alreadyRestored: !result.changed,
              },
            },
            backendFromVersion: result.version,
            backendToVersion: result.version,
          },
        }),
      });
    } catch (err) {
      if (err instanceof CodedError && err.code === 'BACKEND_SECRET_NOT_FOUND')
        return refuse({
          code: 'RESTORE_WINDOW_PASSED',
          until: until.toISOString(),
          message: `${formatLocation(key.location)} is gone downstream; it can no longer be restored: ${err.message}`,
        });
      throw err;
    }
    return {
      name,
      from: 'retired',
      state: 'short-lived',
      transition: await this.lastTransition(name),
      refused: null,
    };
  }

  /**
   * Until when the downstream deletion that retired the key can be restored, from the
   * history row that entered `retired`; null when that entry deleted nothing downstream
   * (an external key, or a retirement from before retirement deleted).
   */
  private async restorableUntil(name: string): Promise<Date | null> {
    const history = await readHistory(this.store, name);
    for (let i = history.length - 1; i >= 0; i--) {
      const t = history[i] as Transition;
      if (t.from === t.to || t.to !== 'retired') continue;
      const until = asObject(asObject(t.evidence)?.retirement)?.restorableUntil;
      if (typeof until !== 'string') return null;
      const d = new Date(until);
      return Number.isNaN(d.getTime()) ? null : d;
    }
    return null;
  }

  // ------------------------------------------------------------ recovering

  /** Finish (default) or undo an operation a dead process left between backend and ledger. */
  async recover(name: string, opts: RecoverOptions = {}): Promise<RecoveryResult> {
    const mode = opts.mode ?? 'finish';
    const by = opts.by ?? 'unknown';
    const key = await this.get(name);
    const journal = await readJournal(this.store, name);
    const base = { name, state: key.state, currentVersion: key.currentVersion, transition: null };
    if (journal === null) return { ...base, operation: null, outcome: 'nothing-pending', downstream: null };
    const now = this.clock();
    const age = now.getTime() - journal.startedAt.getTime();
    if (opts.force !== true && age < this.graceMs)
      throw new StaticKeyError(
        'STATIC_KEY_CONFLICT',
        `a ${journal.operation} of ${name} started ${Math.max(0, Math.round(age / 1000))}s ago by ${journal.by} may still be running; ` +
          `wait, or pass --force if no other meshbridge process is working on it`,
      );
    if (journal.keyVersion !== key.version)
      throw new StaticKeyError(
        'STATIC_KEY_RECOVERY_CONFLICT',
        `the journal of ${name} was written at version ${journal.keyVersion} but the key is at ${key.version}`,
      );
    const backend = this.backendOf(key);
    if (backend === undefined) {
      // External keys never journal; a row here has nothing downstream to reconcile.
      await writeKey(this.store, {
        name,
        expectVersion: key.version,
        at: now,
        clearJournal: true,
        transition: recoverRow(
          journal,
          key.state,
          now,
          by,
          'interrupted operation dropped (nothing downstream)',
        ),
      });
      return {
        ...base,
        operation: journal.operation,
        outcome: 'discarded',
        downstream: null,
        transition: await this.lastTransition(name),
      };
    }

    const downstream = await this.diagnose(key, journal);
    if (isDeletionJournal(journal)) return this.recoverDeletion(key, journal, downstream, mode, by, backend);
    const { store, location } = backend;
    let outcome: RecoveryResult['outcome'];
    let current: string;
    if (downstream.stage === 'not-written' || downstream.stage === 'marked') {
      if (downstream.stage === 'marked') await store.finishRotation(location);
      outcome = 'discarded';
      current = journal.backendFromVersion;
    } else if (mode === 'finish') {
      if (downstream.stage === 'staged' || downstream.stage === 'promoted') {
        current = (await store.finishRotation(location)).currentVersion;
      } else {
        current = downstream.currentVersion as string;
      }
      outcome = 'finished';
    } else {
      if (downstream.stage === 'staged' || downstream.stage === 'promoted') {
        current = (await store.undoRotation(location)).currentVersion;
      } else {
        current = (await store.rollback(location, journal.backendFromVersion)).newVersion;
      }
      outcome = 'undone';
    }

    const done = this.clock();
    if (outcome === 'finished') {
      const patch: KeyPatch = {
        state: journal.toState,
        stateSince: done,
        currentVersion: current,
        previousVersion: journal.backendFromVersion,
      };
      if (journal.operation === 'rotate') {
        patch.replacedAt = done;
        if (key.backendReference === null) {
          const d = await store.describe(location);
          patch.backendReference = d.reference;
        }
      }
      await writeKey(this.store, {
        name,
        expectVersion: key.version,
        at: done,
        clearJournal: true,
        patch,
        transition: {
          kind: 'recover',
          from: journal.fromState,
          to: journal.toState,
          at: done,
          by,
          reason: journal.reason,
          evidence: {
            ...(asObject(journal.evidence) ?? {}),
            recovered: {
              downstream: downstream.stage,
              startedAt: journal.startedAt.toISOString(),
              startedBy: journal.by,
            },
          },
          backendFromVersion: journal.backendFromVersion,
          backendToVersion: current,
        },
      });
    } else {
      const what = journal.operation === 'rotate' ? 'rotation' : 'rollback';
      await writeKey(this.store, {
        name,
        expectVersion: key.version,
        at: done,
        clearJournal: true,
        patch: { currentVersion: current },
        transition: {
          ...recoverRow(
            journal,
            key.state,
            done,
            by,
            outcome === 'undone'
              ? `interrupted ${what} (${journal.fromState} -> ${journal.toState}) undone; downstream it was ${downstream.stage}`
              : `interrupted ${what} (${journal.fromState} -> ${journal.toState}) had written nothing; discarded`,
          ),
          backendFromVersion: downstream.currentVersion ?? journal.backendFromVersion,
          backendToVersion: current,
        },
      });
    }
    const after = await this.get(name);
    return {
      name,
      operation: journal.operation,
      outcome,
      downstream,
      state: after.state,
      currentVersion: after.currentVersion,
      transition: await this.lastTransition(name),
    };
  }

  /** Finish or undo an interrupted retire (delete downstream) or restore out of `retired`. */
  private async recoverDeletion(
    key: StaticKey,
    journal: JournalEntry,
    downstream: DownstreamView,
    mode: 'finish' | 'undo',
    by: string,
    backend: { store: RotatingSecretStore; location: string },
  ): Promise<RecoveryResult> {
    const name = key.name;
    const retiring = journal.operation === 'rotate';
    const what = retiring ? 'retirement' : 'restore';
    const { store, location } = backend;
    let outcome: RecoveryResult['outcome'];
    let restorableUntil: Date | undefined;
    if (downstream.stage === 'not-written') {
      outcome = 'discarded';
    } else if (mode === 'finish') {
      outcome = 'finished';
      if (retiring) {
        const d = await store.describe(location);
        restorableUntil = deletionDeadline(key, journal.startedAt, d.deleted?.restorableUntil);
      }
    } else {
      if (retiring) {
        await store.restore(location);
      } else {
        const recorded = await this.restorableUntil(name);
        const left =
          recorded === null
            ? key.restoreSeconds
            : Math.ceil((retiredUntil(key, recorded).getTime() - this.clock().getTime()) / 1000);
        await store.retire(location, { restoreWindowSeconds: Math.max(1, left) });
      }
      outcome = 'undone';
    }
    const done = this.clock();
    if (outcome === 'finished') {
      const evidence: Record<string, unknown> = {
        ...(asObject(journal.evidence) ?? {}),
        recovered: {
          downstream: downstream.stage,
          startedAt: journal.startedAt.toISOString(),
          startedBy: journal.by,
        },
      };
      if (restorableUntil !== undefined)
        evidence.retirement = {
          ...(asObject(evidence.retirement) ?? {}),
          deletedVersion: journal.backendFromVersion,
          restorableUntil: restorableUntil.toISOString(),
        };
      await writeKey(this.store, {
        name,
        expectVersion: key.version,
        at: done,
        clearJournal: true,
        patch: { state: journal.toState, stateSince: done },
        transition: {
          kind: 'recover',
          from: journal.fromState,
          to: journal.toState,
          at: done,
          by,
          reason: journal.reason,
          evidence,
          backendFromVersion: journal.backendFromVersion,
          backendToVersion: journal.backendFromVersion,
        },
      });
    } else {
      await writeKey(this.store, {
        name,
        expectVersion: key.version,
        at: done,
        clearJournal: true,
        transition: recoverRow(
          journal,
          key.state,
          done,
          by,
          outcome === 'undone'
            ? `interrupted ${what} (${journal.fromState} -> ${journal.toState}) undone; downstream it was ${downstream.stage}`
            : `interrupted ${what} (${journal.fromState} -> ${journal.toState}) had changed nothing downstream; discarded`,
        ),
      });
    }
    const after = await this.get(name);
    return {
      name,
      operation: journal.operation,
      outcome,
      downstream,
      state: after.state,
      currentVersion: after.currentVersion,
      transition: await this.lastTransition(name),
    };
  }

  /** Where a journaled operation stands downstream. */
  private async diagnose(key: StaticKey, journal: JournalEntry): Promise<DownstreamView> {
    const backend = this.backendOf(key);
    if (backend === undefined) return { stage: 'not-written' };
    const d = await backend.store.describe(backend.location);
    if (isDeletionJournal(journal)) {
      if (d.pending !== null)
        throw new StaticKeyError(
          'STATIC_KEY_RECOVERY_CONFLICT',
          `${formatLocation(key.location)} has a rotation in flight (${d.pending.stage}, from version ${d.pending.fromVersion}) ` +
            `that the ledger's journal (${journal.fromState} -> ${journal.toState}) does not explain; ` +
            'finish or undo it where it was started, then run keys recover again',
        );
      const deleted = d.deleted !== undefined;
      const landed = journal.operation === 'rotate' ? deleted : !deleted;
      return { stage: landed ? 'written' : 'not-written', currentVersion: d.currentVersion };
    }
    if (d.pending !== null) {
      const p = d.pending;
      if (
        journal.operation !== 'rotate' ||
        (p.fromVersion !== '' && p.fromVersion !== journal.backendFromVersion)
      )
        throw new StaticKeyError(
          'STATIC_KEY_RECOVERY_CONFLICT',
          `${formatLocation(key.location)} has a rotation in flight (${p.stage}, from version ${p.fromVersion}) that ` +
            `the ledger's journal does not explain (${journal.operation} from version ${journal.backendFromVersion}); ` +
            'finish or undo it where it was started, then run keys recover again',
        );
      const out: DownstreamView = { stage: p.stage, currentVersion: d.currentVersion };
      if (p.pendingVersion !== undefined) out.pendingVersion = p.pendingVersion;
      return out;
    }
    return d.currentVersion === journal.backendFromVersion
      ? { stage: 'not-written', currentVersion: d.currentVersion }
      : { stage: 'written', currentVersion: d.currentVersion };
  }

  // ------------------------------------------------------------ helpers

  private backendOf(key: StaticKey): { store: RotatingSecretStore; location: string } | undefined {
    const loc = key.location;
    if (loc.kind === 'external') return undefined;
    if (this.o.secretStores === undefined)
      throw new StaticKeyError(
        'STATIC_KEY_BACKEND_MISSING',
        `${key.name} lives in ${loc.kind === 'aws' ? 'AWS Secrets Manager' : 'Vault'} and no client for it is configured`,
      );
    return { store: this.o.secretStores(loc.kind), location: backendLocation(loc) };
  }

  private async facts(key: StaticKey, now: Date, journal?: JournalEntry | null): Promise<Facts> {
    const since = new Date(Math.min(windowStart(key, now).getTime(), key.stateSince.getTime()));
    const [sightings, staticLeases, j] = await Promise.all([
      this.evidence.sightings({ credential: key.credential, reference: key.backendReference, since: EPOCH }),
      this.evidence.staticLeases({ credential: key.credential, reference: key.backendReference, since }),
      journal === undefined ? readJournal(this.store, key.name) : Promise.resolve(journal),
    ]);
    const facts: Facts = { sightings, staticLeases, journal: j };
    if (key.state === 'retired' && key.location.kind !== 'external')
      facts.restorableUntil = await this.restorableUntil(key.name);
    return facts;
  }

  private view(key: StaticKey, facts: Facts, now: Date, confirmed: boolean): KeyView {
    const restores = key.state === 'rotated' || key.state === 'short-lived' || key.state === 'retired';
    const since = key.replacedAt ?? (restores ? key.stateSince : null);
    const deletedUntil = facts.restorableUntil ?? null;
    const j = facts.journal;
    return {
      name: key.name,
      state: key.state,
      location: formatLocation(key.location),
      owner: key.owner,
      consumers: consumerViews(key, facts.sightings, now),
      next: nextStep({ key, now, ...facts, confirmed }),
      credential: key.credential,
      note: key.location.kind === 'external' ? (key.location.note ?? null) : null,
      version: key.version,
      since: key.stateSince.toISOString(),
      windowSeconds: key.windowSeconds,
      quietSeconds: key.quietSeconds,
      restoreSeconds: key.restoreSeconds,
      backend:
        key.location.kind === 'external'
          ? null
          : {
              reference: key.backendReference,
              currentVersion: key.currentVersion,
              previousVersion: key.previousVersion,
            },
      restoreUntil:
        deletedUntil !== null
          ? retiredUntil(key, deletedUntil).toISOString()
          : restores && since !== null
            ? new Date(since.getTime() + key.restoreSeconds * 1000).toISOString()
            : null,
      restorableUntil: deletedUntil === null ? null : deletedUntil.toISOString(),
      interrupted:
        j === null
          ? null
          : {
              operation: j.operation,
              from: j.fromState,
              to: j.toState,
              startedAt: j.startedAt.toISOString(),
              by: j.by,
            },
    };
  }

  private async lastTransition(name: string): Promise<Transition> {
    const all = await readHistory(this.store, name);
    return all[all.length - 1] as Transition;
  }
}

function backendLocation(loc: KeyLocation): string {
  if (loc.kind === 'aws') return loc.secretId;
  if (loc.kind === 'vault') return loc.path;
  throw new StaticKeyError('STATIC_KEY_BACKEND_MISSING', 'an external key has no backend location');
}

/** A journaled retire (delete downstream) or restore out of `retired`, rather than a rotation or rollback. */
function isDeletionJournal(journal: JournalEntry): boolean {
  const evidence = asObject(journal.evidence);
  if (journal.operation === 'rotate')
    return journal.toState === 'retired' && evidence?.retirement !== undefined;
  return journal.fromState === 'retired' && evidence?.restore !== undefined;
}

/**
 * What the ledger records as a retirement's restore deadline: its restore window from
 * `from`, cut short by the date the backend deletes the secret for good (AWS), if any.
 */
function deletionDeadline(key: StaticKey, from: Date, deletedForGoodAt: Date | undefined): Date {
  const ledger = from.getTime() + key.restoreSeconds * 1000;
  return new Date(deletedForGoodAt === undefined ? ledger : Math.min(ledger, deletedForGoodAt.getTime()));
}

/** A retired key's rollback deadline: the ledger's restore window, cut short by the backend's. */
function retiredUntil(key: StaticKey, restorableUntil: Date): Date {
  const ledger = key.stateSince.getTime() + key.restoreSeconds * 1000;
  return new Date(Math.min(ledger, restorableUntil.getTime()));
}

function recoverRow(
  journal: JournalEntry,
  state: KeyState,
  at: Date,
  by: string,
  reason: string,
): TransitionInput {
  return {
    kind: 'recover',
    from: state,
    to: state,
    at,
    by,
    reason,
    evidence: {
      journal: {
        operation: journal.operation,
        from: journal.fromState,
        to: journal.toState,
        startedAt: journal.startedAt.toISOString(),
        startedBy: journal.by,
      },
    },
  };
}

function asObject(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** What a transition's history row keeps as its evidence. */
function transitionEvidence(
  key: StaticKey,
  facts: Facts,
  now: Date,
  to: KeyState,
  confirmed: boolean,
): Record<string, unknown> {
  switch (to) {
    case 'rotated':
      return {
        windowSeconds: key.windowSeconds,
        consumers: consumerViews(key, facts.sightings, now).map((c) => ({
          id: c.id,
          lastSeen: c.lastSeen,
          seenAs: c.seenAs,
        })),
        unexpectedCallers: 0,
        ...(key.location.kind === 'external' ? { operatorConfirmed: confirmed } : {}),
      };
    case 'short-lived':
      return { windowSeconds: key.windowSeconds, staticLeasesInWindow: 0 };
    case 'retired':
      return {
        quietSeconds: key.quietSeconds,
        shortLivedSince: key.stateSince.toISOString(),
        ...(key.location.kind === 'external' ? { operatorConfirmed: confirmed } : {}),
      };
    default:
      return {};
  }
}

function checkConsumer(pattern: string): void {
  try {
    parseMatcher(pattern);
  } catch (err) {
    throw new StaticKeyError(
      'STATIC_KEY_CONSUMER_INVALID',
      `consumer "${pattern}" is not a SPIFFE ID or pattern: ${(err as Error).message}`,
    );
  }
}

function seconds(value: number | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 1)
    throw new StaticKeyError('STATIC_KEY_SETTING_INVALID', `${what} must be at least 1s`);
  return Math.floor(value);
}

/** The refusal when downstream holds a rotation this ledger did not start. */
function foreignRotation(key: StaticKey): Blocker {
  return {
    code: 'DOWNSTREAM_ROTATION_PENDING',
    message: `${formatLocation(key.location)} has a rotation in flight that this ledger did not start; finish or undo it first`,
  };
}
