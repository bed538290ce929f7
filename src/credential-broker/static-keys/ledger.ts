/**
 * The ledger's rows: reading keys, their consumers, history and crash journal, and
 * writing every change as one transaction guarded by the key's optimistic version.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type { Store } from '../../store/index.js';
import { StaticKeyError } from './errors.js';
import { locationColumns, locationFromColumns } from './location.js';
import {
  type JournalOperation,
  ledgerDb,
  type StaticKeyJournalTable,
  type StaticKeysTable,
  type StaticKeyTables,
  type StaticKeyTransitionsTable,
  type TransitionKind,
} from './schema.js';
import { isKeyState, type KeyState } from './states.js';
import type { JournalEntry, StaticKey, Transition } from './types.js';

type Db = Kysely<StaticKeyTables>;

function asState(value: string, what: string): KeyState {
  if (isKeyState(value)) return value;
  throw new StaticKeyError('STATIC_KEY_STATE_INVALID', `the ledger holds an unknown ${what} "${value}"`);
}

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function keyFromRow(row: Selectable<StaticKeysTable>, consumers: string[]): StaticKey {
  return {
    name: row.name,
    credential: row.credential,
    location: locationFromColumns(row.location_kind, row.location, row.note),
    owner: row.owner,
    state: asState(row.state, 'state'),
    version: Number(row.version),
    consumers,
    windowSeconds: Number(row.window_seconds),
    quietSeconds: Number(row.quiet_seconds),
    restoreSeconds: Number(row.restore_seconds),
    backendReference: row.backend_reference,
    currentVersion: row.current_version,
    previousVersion: row.previous_version,
    replacedAt: row.replaced_at === null ? null : new Date(row.replaced_at),
    stateSince: new Date(row.state_since),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

function journalFromRow(row: Selectable<StaticKeyJournalTable>): JournalEntry {
  return {
    operation: row.operation,
    fromState: asState(row.from_state, 'journal state'),
    toState: asState(row.to_state, 'journal state'),
    keyVersion: Number(row.key_version),
    backendFromVersion: row.backend_from_version,
    backendTargetVersion: row.backend_target_version,
    startedAt: new Date(row.started_at),
    by: row.performed_by,
    reason: row.reason,
    evidence: parseJson(row.evidence),
  };
}

function transitionFromRow(row: Selectable<StaticKeyTransitionsTable>): Transition {
  return {
    id: row.id,
    key: row.key_name,
    version: Number(row.key_version),
    kind: row.kind,
    from: row.from_state === null ? null : asState(row.from_state, 'state'),
    to: asState(row.to_state, 'state'),
    at: new Date(row.at),
    by: row.performed_by,
    reason: row.reason,
    evidence: parseJson(row.evidence),
    backendFromVersion: row.backend_from_version,
    backendToVersion: row.backend_to_version,
  };
}

export async function readKey(store: Store, name: string): Promise<StaticKey | undefined> {
  const db = ledgerDb(store) as unknown as Db;
  const row = await db.selectFrom('static_keys').selectAll().where('name', '=', name).executeTakeFirst();
  if (row === undefined) return undefined;
  const consumers = await db
    .selectFrom('static_key_consumers')
    .select('pattern')
    .where('key_name', '=', name)
    .orderBy('ord')
    .execute();
  return keyFromRow(
    row,
    consumers.map((c) => c.pattern),
  );
}

export async function readKeys(store: Store): Promise<StaticKey[]> {
  const db = ledgerDb(store) as unknown as Db;
  const rows = await db.selectFrom('static_keys').selectAll().orderBy('name').execute();
  const consumers = await db
    .selectFrom('static_key_consumers')
    .select(['key_name', 'pattern'])
    .orderBy('key_name')
    .orderBy('ord')
    .execute();
  const byKey = new Map<string, string[]>();
  for (const c of consumers) {
    const list = byKey.get(c.key_name) ?? [];
    list.push(c.pattern);
    byKey.set(c.key_name, list);
  }
  return rows.map((r) => keyFromRow(r, byKey.get(r.name) ?? []));
}

export async function readJournal(store: Store, name: string): Promise<JournalEntry | null> {
  const db = ledgerDb(store) as unknown as Db;
  const row = await db
    .selectFrom('static_key_journal')
    .selectAll()
    .where('key_name', '=', name)
    .executeTakeFirst();
  return row === undefined ? null : journalFromRow(row);
}

export async function readJournals(store: Store): Promise<Map<string, JournalEntry>> {
  const db = ledgerDb(store) as unknown as Db;
  const rows = await db.selectFrom('static_key_journal').selectAll().execute();
  return new Map(rows.map((r) => [r.key_name, journalFromRow(r)]));
}

export async function readHistory(store: Store, name: string): Promise<Transition[]> {
  const db = ledgerDb(store) as unknown as Db;
  const rows = await db
    .selectFrom('static_key_transitions')
    .selectAll()
    .where('key_name', '=', name)
    .orderBy('key_version')
    .execute();
  return rows.map(transitionFromRow);
}

export interface TransitionInput {
  kind: TransitionKind;
  from: KeyState | null;
  to: KeyState;
  at: Date;
  by: string;
  reason?: string | null;
  evidence?: unknown;
  backendFromVersion?: string | null;
  backendToVersion?: string | null;
}

function transitionRow(name: string, version: number, t: TransitionInput): StaticKeyTransitionsTable {
  return {
    id: `skt_${randomUUID().replaceAll('-', '')}`,
    key_name: name,
    key_version: version,
    kind: t.kind,
    from_state: t.from,
    to_state: t.to,
    at: t.at.toISOString(),
    performed_by: t.by,
    reason: t.reason ?? null,
    evidence: t.evidence === undefined || t.evidence === null ? null : JSON.stringify(t.evidence),
    backend_from_version: t.backendFromVersion ?? null,
    backend_to_version: t.backendToVersion ?? null,
  };
}

function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CONSTRAINT') || code === '23505');
}

/** Inserts a new key with its consumers and its `add` history row, in one transaction. */
export async function insertKey(store: Store, key: StaticKey, by: string): Promise<void> {
  try {
    await store.transaction(async (trx) => {
      const db = trx as unknown as Db;
      const exists = await db
        .selectFrom('static_keys')
        .select('name')
        .where('name', '=', key.name)
        .executeTakeFirst();
      if (exists !== undefined) throw existsError(key.name);
      const cols = locationColumns(key.location);
      await db
        .insertInto('static_keys')
        .values({
          name: key.name,
          credential: key.credential,
          location_kind: cols.kind,
          location: cols.location,
          note: cols.note,
          owner: key.owner,
          state: key.state,
          version: key.version,
          window_seconds: key.windowSeconds,
          quiet_seconds: key.quietSeconds,
          restore_seconds: key.restoreSeconds,
          backend_reference: key.backendReference,
          current_version: key.currentVersion,
          previous_version: key.previousVersion,
          replaced_at: key.replacedAt === null ? null : key.replacedAt.toISOString(),
          state_since: key.stateSince.toISOString(),
          created_at: key.createdAt.toISOString(),
          updated_at: key.updatedAt.toISOString(),
        })
        .execute();
      await db
        .insertInto('static_key_consumers')
        .values(
          key.consumers.map((pattern, ord) => ({
            key_name: key.name,
            pattern,
            ord,
            added_at: key.createdAt.toISOString(),
          })),
        )
        .execute();
      await db
        .insertInto('static_key_transitions')
        .values(
          transitionRow(key.name, key.version, {
            kind: 'add',
            from: null,
            to: key.state,
            at: key.createdAt,
            by,
          }),
        )
        .execute();
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw existsError(key.name);
    throw err;
  }
}

function existsError(name: string): StaticKeyError {
  return new StaticKeyError(
    'STATIC_KEY_EXISTS',
    `a static key named ${name} is already in the ledger; see \`meshbridge keys show ${name}\``,
  );
}

export interface KeyPatch {
  state?: KeyState;
  stateSince?: Date;
  backendReference?: string | null;
  currentVersion?: string | null;
  previousVersion?: string | null;
  replacedAt?: Date | null;
}

export interface JournalInput {
  operation: JournalOperation;
  fromState: KeyState;
  toState: KeyState;
  backendFromVersion: string;
  backendTargetVersion?: string | null;
  startedAt: Date;
  by: string;
  reason?: string | null;
  evidence?: unknown;
}

export interface KeyWrite {
  name: string;
  /** The version this change was decided on; the write fails with STATIC_KEY_CONFLICT otherwise. */
  expectVersion: number;
  at: Date;
  patch?: KeyPatch;
  transition?: TransitionInput;
  /** Write the crash journal row (before a backend write). */
  journal?: JournalInput;
  /** Delete the crash journal row written at `expectVersion` (after the backend write). */
  clearJournal?: boolean;
}

/**
 * One change of a key, in one transaction: the version check and bump, the patch, the
 * history row, the journal row written or cleared. Returns the key's new version.
 */
export async function writeKey(store: Store, w: KeyWrite): Promise<number> {
  const next = w.expectVersion + 1;
  try {
    await store.transaction(async (trx) => {
      const db = trx as unknown as Db;
      const p = w.patch ?? {};
      const set: Partial<StaticKeysTable> = { version: next, updated_at: w.at.toISOString() };
      if (p.state !== undefined) set.state = p.state;
      if (p.stateSince !== undefined) set.state_since = p.stateSince.toISOString();
      if (p.backendReference !== undefined) set.backend_reference = p.backendReference;
      if (p.currentVersion !== undefined) set.current_version = p.currentVersion;
      if (p.previousVersion !== undefined) set.previous_version = p.previousVersion;
      if (p.replacedAt !== undefined)
        set.replaced_at = p.replacedAt === null ? null : p.replacedAt.toISOString();
      const res = await db
        .updateTable('static_keys')
        .set(set)
        .where('name', '=', w.name)
        .where('version', '=', w.expectVersion)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) throw await conflictOrMissing(db, w.name, w.expectVersion);
      if (w.clearJournal === true) {
        const del = await db
          .deleteFrom('static_key_journal')
          .where('key_name', '=', w.name)
          .where('key_version', '=', w.expectVersion)
          .executeTakeFirst();
        if (Number(del.numDeletedRows) !== 1)
          throw new StaticKeyError(
            'STATIC_KEY_CONFLICT',
            `the journal of ${w.name} changed while this command ran; run \`meshbridge keys show ${w.name}\``,
          );
      }
      if (w.journal !== undefined) {
        const j = w.journal;
        await db
          .insertInto('static_key_journal')
          .values({
            key_name: w.name,
            operation: j.operation,
            from_state: j.fromState,
            to_state: j.toState,
            key_version: next,
            backend_from_version: j.backendFromVersion,
            backend_target_version: j.backendTargetVersion ?? null,
            started_at: j.startedAt.toISOString(),
            performed_by: j.by,
            reason: j.reason ?? null,
            evidence: j.evidence === undefined || j.evidence === null ? null : JSON.stringify(j.evidence),
          })
          .execute();
      }
      if (w.transition !== undefined)
        await db
          .insertInto('static_key_transitions')
          .values(transitionRow(w.name, next, w.transition))
          .execute();
    });
  } catch (err) {
    if (isUniqueViolation(err))
      throw new StaticKeyError(
        'STATIC_KEY_CONFLICT',
        `another operation on ${w.name} started first; run \`meshbridge keys show ${w.name}\``,
      );
    throw err;
  }
  return next;
}

async function conflictOrMissing(db: Db, name: string, expected: number): Promise<StaticKeyError> {
  const row = await db
    .selectFrom('static_keys')
    .select(['version', 'state'])
    .where('name', '=', name)
    .executeTakeFirst();
  if (row === undefined) return notFound(name);
  return new StaticKeyError(
    'STATIC_KEY_CONFLICT',
    `${name} was changed by someone else while this command ran (version ${expected} -> ${Number(row.version)}, now ${row.state}); ` +
      `run \`meshbridge keys show ${name}\` and try again`,
    { expectedVersion: expected, actualVersion: Number(row.version), state: row.state },
  );
}

export function notFound(name: string): StaticKeyError {
  return new StaticKeyError(
    'STATIC_KEY_NOT_FOUND',
    `no static key named ${name} in the ledger; see \`meshbridge keys list\``,
  );
}
