/**
 * Kysely view of the static-key ledger's tables (migrations/0007_static_keys.sql).
 * The ledger sees the store's query builder through these types (`ledgerDb(store)`),
 * together with the broker's tables it reads evidence from.
 */
import type { Kysely } from 'kysely';
import type { Store } from '../../store/index.js';
import type { BrokerTables } from '../schema.js';

export type LocationKind = 'aws' | 'vault' | 'external';
export type TransitionKind = 'add' | 'advance' | 'rollback' | 'recover';
export type JournalOperation = 'rotate' | 'rollback';

export interface StaticKeysTable {
  name: string;
  credential: string;
  location_kind: LocationKind;
  location: string;
  note: string | null;
  owner: string;
  state: string;
  version: number;
  window_seconds: number;
  quiet_seconds: number;
  restore_seconds: number;
  backend_reference: string | null;
  current_version: string | null;
  previous_version: string | null;
  replaced_at: string | null;
  state_since: string;
  created_at: string;
  updated_at: string;
}

export interface StaticKeyConsumersTable {
  key_name: string;
  pattern: string;
  ord: number;
  added_at: string;
}

export interface StaticKeyTransitionsTable {
  id: string;
  key_name: string;
  key_version: number;
  kind: TransitionKind;
  from_state: string | null;
  to_state: string;
  at: string;
  performed_by: string;
  reason: string | null;
  /** JSON */
  evidence: string | null;
  backend_from_version: string | null;
  backend_to_version: string | null;
}

export interface StaticKeyJournalTable {
  key_name: string;
  operation: JournalOperation;
  from_state: string;
  to_state: string;
  key_version: number;
  backend_from_version: string;
  backend_target_version: string | null;
  started_at: string;
  performed_by: string;
  reason: string | null;
  /** JSON */
  evidence: string | null;
}

export interface StaticKeyTables {
  static_keys: StaticKeysTable;
  static_key_consumers: StaticKeyConsumersTable;
  static_key_transitions: StaticKeyTransitionsTable;
  static_key_journal: StaticKeyJournalTable;
}

/** The ledger's tables and the broker's (read for evidence). */
export type LedgerTables = StaticKeyTables & BrokerTables;
export type LedgerDb = Kysely<LedgerTables>;

export function ledgerDb(store: Store): LedgerDb {
  return store.db as unknown as LedgerDb;
}
