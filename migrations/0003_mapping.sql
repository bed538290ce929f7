-- 0003 mapping: mesh identity -> SPIFFE ID mappings, and the SPIRE entries a server holds.
--
-- Portable SQL (see 0001 for the conventions: TEXT ids and ISO 8601 times, INTEGER 0/1
-- booleans, BIGINT counters, JSON as TEXT).

-- One accepted `meshbridge map` run: the rules in force (their canonical JSON, hash and
-- format version) and when. seq orders runs even within one millisecond.
CREATE TABLE mapping_runs (
  id TEXT PRIMARY KEY,
  seq BIGINT NOT NULL,
  created_at TEXT NOT NULL,
  trust_domain TEXT NOT NULL,
  rules_hash TEXT NOT NULL CHECK (length(rules_hash) = 64),
  rules_version INTEGER NOT NULL,
  rules_file TEXT,
  rules TEXT NOT NULL,
  meshbridge_version TEXT NOT NULL,
  summary TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX mapping_runs_seq_idx ON mapping_runs (seq);
CREATE INDEX mapping_runs_scope_idx ON mapping_runs (trust_domain, seq);
CREATE INDEX mapping_runs_hash_idx ON mapping_runs (rules_hash);

-- Every workload certificate of a run and the SPIFFE ID its mesh identity maps to.
-- fingerprint is not a foreign key: a mapping outlives the certificate it was made for.
CREATE TABLE mappings (
  run_id TEXT NOT NULL REFERENCES mapping_runs (id),
  fingerprint TEXT NOT NULL,
  mesh TEXT,
  cluster TEXT,
  mesh_identity TEXT NOT NULL,
  namespace TEXT,
  service_account TEXT,
  spiffe_id TEXT NOT NULL,
  rule_index INTEGER NOT NULL,
  owner TEXT,
  PRIMARY KEY (run_id, fingerprint)
);
CREATE INDEX mappings_spiffe_id_idx ON mappings (spiffe_id);
CREATE INDEX mappings_mesh_identity_idx ON mappings (mesh_identity);
CREATE INDEX mappings_owner_idx ON mappings (owner);

-- The non-blocking problems an accepted run reported (runs with blocking ones are not stored).
CREATE TABLE mapping_problems (
  id TEXT PRIMARY KEY,
  run_id TEXT NOT NULL REFERENCES mapping_runs (id),
  code TEXT NOT NULL,
  blocking INTEGER NOT NULL,
  message TEXT NOT NULL,
  details TEXT
);
CREATE INDEX mapping_problems_run_idx ON mapping_problems (run_id);

-- A `spire-server entry show -output json` dump stored by `meshbridge spire sync --entries`.
CREATE TABLE spire_entry_dumps (
  id TEXT PRIMARY KEY,
  seq BIGINT NOT NULL,
  imported_at TEXT NOT NULL,
  source TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  entry_count BIGINT NOT NULL,
  owned_count BIGINT NOT NULL
);
CREATE UNIQUE INDEX spire_entry_dumps_seq_idx ON spire_entry_dumps (seq);

-- The entries of a dump. meshbridge_owned: the entry carries meshbridge's hint.
CREATE TABLE spire_entries (
  dump_id TEXT NOT NULL REFERENCES spire_entry_dumps (id),
  entry_id TEXT NOT NULL,
  spiffe_id TEXT NOT NULL,
  parent_id TEXT NOT NULL,
  selectors TEXT NOT NULL DEFAULT '[]',
  x509_svid_ttl BIGINT NOT NULL DEFAULT 0,
  jwt_svid_ttl BIGINT NOT NULL DEFAULT 0,
  federates_with TEXT NOT NULL DEFAULT '[]',
  dns_names TEXT NOT NULL DEFAULT '[]',
  hint TEXT NOT NULL DEFAULT '',
  admin INTEGER NOT NULL DEFAULT 0,
  downstream INTEGER NOT NULL DEFAULT 0,
  store_svid INTEGER NOT NULL DEFAULT 0,
  expires_at BIGINT NOT NULL DEFAULT 0,
  revision_number BIGINT NOT NULL DEFAULT 0,
  meshbridge_owned INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (dump_id, entry_id)
);
CREATE INDEX spire_entries_spiffe_id_idx ON spire_entries (spiffe_id);
