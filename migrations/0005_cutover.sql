-- 0005 cutover: the phase of every scope, its history, the evidence its gates recorded,
-- and the observations progress is derived from (never typed in).
--
-- Portable SQL (SQLite and PostgreSQL); conventions as in 0001_inventory.sql: ids TEXT,
-- times TEXT ISO 8601 UTC with milliseconds, counters BIGINT, booleans INTEGER 0/1, JSON TEXT.

-- One row per scope the inventory knows: a mesh (`istio`), a cluster (`istio/east`), a
-- namespace (`istio/east/payments`). `version` grows with every transition of the scope:
-- a transition is written only if the version is still the one its gate was judged on.
CREATE TABLE cutover_scopes (
  scope TEXT PRIMARY KEY,
  parent TEXT,
  level TEXT NOT NULL CHECK (level IN ('mesh', 'cluster', 'namespace')),
  mesh TEXT NOT NULL,
  cluster TEXT,
  namespace TEXT,
  phase TEXT NOT NULL CHECK (phase IN ('inventoried', 'dual-trust', 'dual-issue', 'spiffe-only', 'retired')),
  version BIGINT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  updated_by TEXT
);
CREATE INDEX cutover_scopes_parent_idx ON cutover_scopes (parent);
CREATE INDEX cutover_scopes_mesh_idx ON cutover_scopes (mesh, cluster, namespace);

-- Every evaluation of a gate by `cutover plan` / `advance`: each named check, pass or fail,
-- its blockers and what it looked at (JSON). A transition points at the one that let it pass.
CREATE TABLE cutover_gate_evidence (
  id TEXT PRIMARY KEY,
  scope TEXT NOT NULL,
  from_phase TEXT NOT NULL,
  phase TEXT NOT NULL,
  evaluated_at TEXT NOT NULL,
  passed INTEGER NOT NULL,
  -- JSON object: the inputs the evaluation read (import, roots, observations, edges, phases)
  inputs TEXT NOT NULL,
  -- JSON object: the checks
  evidence TEXT NOT NULL
);
CREATE INDEX cutover_gate_evidence_scope_idx ON cutover_gate_evidence (scope, phase, evaluated_at);

-- The history: every transition, who made it, when, and why (gate evidence or a reason).
-- `via` names the scope whose transition carried this one along (NULL: asked for directly).
CREATE TABLE cutover_transitions (
  id TEXT PRIMARY KEY,
  seq BIGINT NOT NULL,
  scope TEXT NOT NULL,
  from_phase TEXT NOT NULL,
  to_phase TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('advance', 'rollback')),
  at TEXT NOT NULL,
  by_user TEXT NOT NULL,
  reason TEXT,
  evidence_id TEXT REFERENCES cutover_gate_evidence (id),
  via TEXT,
  scope_version BIGINT NOT NULL
);
CREATE UNIQUE INDEX cutover_transitions_seq_idx ON cutover_transitions (seq);
CREATE INDEX cutover_transitions_scope_idx ON cutover_transitions (scope, seq);

-- Sightings: an import or a broker authentication saw this workload present a certificate
-- that chained to this issuer (mesh anchor or SPIRE root). `workload` is NULL when the
-- sighting matched no inventoried workload.
CREATE TABLE cutover_observations (
  id TEXT PRIMARY KEY,
  at TEXT NOT NULL,
  source TEXT NOT NULL,
  workload TEXT,
  spiffe_id TEXT,
  identity TEXT,
  fingerprint TEXT,
  issuer_fingerprint TEXT,
  issuer_kind TEXT NOT NULL CHECK (issuer_kind IN ('mesh', 'spire', 'federated', 'unknown')),
  not_before TEXT,
  not_after TEXT
);
CREATE INDEX cutover_observations_workload_idx ON cutover_observations (workload, at);
CREATE INDEX cutover_observations_at_idx ON cutover_observations (at);

-- Derived from the observations: one row per workload with its latest sighting (and what
-- the stored mapping and SPIRE entry dump say of it), so that progress and the gates per
-- scope are one GROUP BY. A workload is (mesh, cluster, namespace, name), where
-- name is the service account (or the identity when there is none).
CREATE TABLE cutover_workloads (
  workload TEXT PRIMARY KEY,
  mesh TEXT NOT NULL,
  cluster TEXT NOT NULL,
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  -- `ns/<ns>/sa/<sa>` (or the identity): what edge lists are matched by
  wkey TEXT NOT NULL,
  mesh_identity TEXT,
  first_seen TEXT NOT NULL,
  last_at TEXT NOT NULL,
  last_source TEXT NOT NULL,
  last_fingerprint TEXT,
  last_not_before TEXT NOT NULL,
  last_spiffe_id TEXT,
  last_issuer_fingerprint TEXT,
  last_issuer_kind TEXT NOT NULL,
  -- what the latest mapping run maps the workload to (NULL: unmapped), and that run's id
  mapped_spiffe_id TEXT,
  mapping_run TEXT,
  -- whether the latest SPIRE entry dump holds an entry for mapped_spiffe_id, and that dump's id
  has_entry INTEGER NOT NULL DEFAULT 0,
  entry_dump TEXT
);
CREATE INDEX cutover_workloads_scope_idx ON cutover_workloads (mesh, cluster, namespace, last_issuer_kind);
CREATE INDEX cutover_workloads_wkey_idx ON cutover_workloads (wkey);
CREATE INDEX cutover_workloads_identity_idx ON cutover_workloads (mesh_identity);
CREATE INDEX cutover_workloads_mapped_idx ON cutover_workloads (mapped_spiffe_id);

-- Every inventoried workload certificate, classified by the issuer it chains to.
CREATE TABLE cutover_certificates (
  fingerprint TEXT PRIMARY KEY,
  workload TEXT NOT NULL,
  mesh TEXT NOT NULL,
  cluster TEXT NOT NULL,
  namespace TEXT NOT NULL,
  issuer_fingerprint TEXT,
  issuer_kind TEXT NOT NULL,
  not_before TEXT NOT NULL,
  not_after TEXT NOT NULL
);
CREATE INDEX cutover_certificates_scope_idx ON cutover_certificates (mesh, cluster, namespace, issuer_kind, not_after);
CREATE INDEX cutover_certificates_workload_idx ON cutover_certificates (workload, not_before);

-- Imports already turned into observations.
CREATE TABLE cutover_imports (
  import_id TEXT PRIMARY KEY,
  ingested_at TEXT NOT NULL,
  observations BIGINT NOT NULL
);

-- The edge list in force (the last one given to `cutover plan|advance --edges`).
CREATE TABLE cutover_edges (
  id TEXT PRIMARY KEY,
  source TEXT NOT NULL,
  destination TEXT NOT NULL,
  source_key TEXT NOT NULL,
  destination_key TEXT NOT NULL,
  list TEXT NOT NULL,
  added_at TEXT NOT NULL
);
CREATE INDEX cutover_edges_source_idx ON cutover_edges (source_key);
CREATE INDEX cutover_edges_destination_idx ON cutover_edges (destination_key);

-- Counters that also serve as row locks: every transition updates `transitions` first (so
-- transitions, and the nesting checks they make, run one at a time on both databases);
-- `observations` grows with every ingest or sighting; `edges` with every new edge list.
-- `value` of `observations`: the digest of the SPIRE root set observations were classified with;
-- of `mapping` / `entries`: the mapping run / SPIRE entry dump the workloads were last matched to.
CREATE TABLE cutover_state (
  name TEXT PRIMARY KEY,
  serial BIGINT NOT NULL,
  value TEXT
);
INSERT INTO cutover_state (name, serial, value) VALUES ('transitions', 0, NULL);
INSERT INTO cutover_state (name, serial, value) VALUES ('observations', 0, NULL);
INSERT INTO cutover_state (name, serial, value) VALUES ('edges', 0, NULL);
INSERT INTO cutover_state (name, serial, value) VALUES ('mapping', 0, NULL);
INSERT INTO cutover_state (name, serial, value) VALUES ('entries', 0, NULL);
