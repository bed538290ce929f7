/**
 * The Kysely view of `migrations/0005_cutover.sql`, plus the tables of the other rooms
 * the cutover reads (inventory, mapping, SPIRE entry dumps, SPIRE roots). Typed here so
 * the store's shared schema file stays untouched.
 */
import type { Kysely, Transaction } from 'kysely';
import type { DualTrustTables } from '../store/dual-trust-repo.js';
import type { Database, Store } from '../store/index.js';
import type {
  MappingProblemsTable,
  MappingRunsTable,
  MappingsTable,
  SpireEntriesTable,
  SpireEntryDumpsTable,
} from '../store/mapping-repo.js';

export interface CutoverScopesTable {
  scope: string;
  parent: string | null;
  level: 'mesh' | 'cluster' | 'namespace';
  mesh: string;
  cluster: string | null;
  namespace: string | null;
  phase: string;
  version: number;
  created_at: string;
  updated_at: string;
  updated_by: string | null;
}

export interface CutoverGateEvidenceTable {
  id: string;
  scope: string;
  from_phase: string;
  phase: string;
  evaluated_at: string;
  passed: number;
  inputs: string;
  evidence: string;
}

export interface CutoverTransitionsTable {
  id: string;
  seq: number;
  scope: string;
  from_phase: string;
  to_phase: string;
  kind: 'advance' | 'rollback';
  at: string;
  by_user: string;
  reason: string | null;
  evidence_id: string | null;
  via: string | null;
  scope_version: number;
}

export interface CutoverObservationsTable {
  id: string;
  at: string;
  source: string;
  workload: string | null;
  spiffe_id: string | null;
  identity: string | null;
  fingerprint: string | null;
  issuer_fingerprint: string | null;
  issuer_kind: string;
  not_before: string | null;
  not_after: string | null;
}

export interface CutoverWorkloadsTable {
  workload: string;
  mesh: string;
  cluster: string;
  namespace: string;
  name: string;
  wkey: string;
  mesh_identity: string | null;
  first_seen: string;
  last_at: string;
  last_source: string;
  last_fingerprint: string | null;
  last_not_before: string;
  last_spiffe_id: string | null;
  last_issuer_fingerprint: string | null;
  last_issuer_kind: string;
  mapped_spiffe_id: string | null;
  mapping_run: string | null;
  has_entry: number;
  entry_dump: string | null;
}

export interface CutoverCertificatesTable {
  fingerprint: string;
  workload: string;
  mesh: string;
  cluster: string;
  namespace: string;
  issuer_fingerprint: string | null;
  issuer_kind: string;
  not_before: string;
  not_after: string;
}

export interface CutoverImportsTable {
  import_id: string;
  ingested_at: string;
  observations: number;
}

export interface CutoverEdgesTable {
  id: string;
  source: string;
  destination: string;
  source_key: string;
  destination_key: string;
  list: string;
  added_at: string;
}

export interface CutoverStateTable {
  name: string;
  serial: number;
  value: string | null;
}

export interface CutoverTables {
  cutover_scopes: CutoverScopesTable;
  cutover_gate_evidence: CutoverGateEvidenceTable;
  cutover_transitions: CutoverTransitionsTable;
  cutover_observations: CutoverObservationsTable;
  cutover_workloads: CutoverWorkloadsTable;
  cutover_certificates: CutoverCertificatesTable;
  cutover_imports: CutoverImportsTable;
  cutover_edges: CutoverEdgesTable;
  cutover_state: CutoverStateTable;
}

export interface ReadTables {
  mapping_runs: MappingRunsTable;
  mappings: MappingsTable;
  mapping_problems: MappingProblemsTable;
  spire_entry_dumps: SpireEntryDumpsTable;
  spire_entries: SpireEntriesTable;
}

export type CutoverDatabase = Database & CutoverTables & ReadTables & DualTrustTables;
export type Db = Kysely<CutoverDatabase>;
export type Trx = Transaction<CutoverDatabase>;

export function dbOf(store: Store): Db {
  return store.db as unknown as Db;
}

/** Runs `fn` in one store transaction with the cutover's view of the schema. */
export function transact<T>(store: Store, fn: (trx: Trx) => Promise<T>): Promise<T> {
  return store.transaction((trx) => fn(trx as unknown as Trx));
}
