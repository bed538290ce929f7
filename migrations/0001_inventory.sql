-- 0001 inventory: what an import learned about a mesh's certificates.
--
-- Portable SQL, run as-is by SQLite and PostgreSQL. Conventions for every migration:
--   ids         TEXT (uuids or content hashes chosen by the application)
--   times       TEXT, ISO 8601 UTC with milliseconds ('2026-01-02T03:04:05.000Z'):
--               sorts and compares correctly as text in both databases
--   booleans    INTEGER 0/1
--   counters    BIGINT (read back as JS numbers; the pg pool parses int8)
--   JSON        TEXT holding JSON, encoded and decoded by the repositories
--   binary      TEXT base64 (BLOB and BYTEA differ between drivers; base64 does not)

CREATE TABLE imports (
  id TEXT PRIMARY KEY,
  started_at TEXT NOT NULL,
  finished_at TEXT NOT NULL,
  mesh TEXT,
  cluster TEXT,
  status TEXT NOT NULL CHECK (status IN ('complete', 'failed')),
  summary TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX imports_scope_idx ON imports (mesh, cluster, finished_at);

-- One place certificates were read from: a file, a Secret, a ConfigMap, an Envoy dump.
-- id is a content hash of (kind, locator, mesh, cluster), so re-reading a source hits the same row.
CREATE TABLE sources (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  locator TEXT NOT NULL,
  mesh TEXT,
  cluster TEXT,
  import_id TEXT NOT NULL REFERENCES imports (id),
  first_seen TEXT NOT NULL,
  last_seen TEXT NOT NULL
);
CREATE INDEX sources_import_idx ON sources (import_id);
CREATE INDEX sources_locator_idx ON sources (locator);

-- Every certificate once, keyed by the lowercase hex SHA-256 of its DER.
-- issuer_fingerprint / anchor_fingerprint are links found by signature and key identifiers;
-- they are not foreign keys (a chain is stored in one statement batch in any order).
CREATE TABLE certificates (
  fingerprint TEXT PRIMARY KEY CHECK (length(fingerprint) = 64),
  role TEXT NOT NULL CHECK (role IN ('anchor', 'intermediate', 'workload')),
  mesh TEXT,
  cluster TEXT,
  subject TEXT NOT NULL,
  issuer TEXT NOT NULL,
  serial TEXT NOT NULL,
  not_before TEXT NOT NULL,
  not_after TEXT NOT NULL,
  key_algorithm TEXT NOT NULL,
  key_size INTEGER,
  spiffe_id TEXT,
  mesh_identity TEXT,
  namespace TEXT,
  service_account TEXT,
  san TEXT NOT NULL DEFAULT '[]',
  issuer_fingerprint TEXT,
  anchor_fingerprint TEXT,
  der TEXT NOT NULL,
  first_seen TEXT NOT NULL,
  last_seen TEXT NOT NULL
);
CREATE INDEX certificates_role_idx ON certificates (role, not_after);
CREATE INDEX certificates_scope_idx ON certificates (mesh, cluster, namespace);
CREATE INDEX certificates_not_after_idx ON certificates (not_after);
CREATE INDEX certificates_anchor_idx ON certificates (anchor_fingerprint);
CREATE INDEX certificates_issuer_idx ON certificates (issuer_fingerprint);
CREATE INDEX certificates_spiffe_id_idx ON certificates (spiffe_id);
CREATE INDEX certificates_mesh_identity_idx ON certificates (mesh_identity);

-- Which source showed which certificate, and when it last did.
CREATE TABLE certificate_sources (
  fingerprint TEXT NOT NULL REFERENCES certificates (fingerprint),
  source_id TEXT NOT NULL REFERENCES sources (id),
  seen_at TEXT NOT NULL,
  PRIMARY KEY (fingerprint, source_id)
);
CREATE INDEX certificate_sources_source_idx ON certificate_sources (source_id);

-- Problems belong to the import that found them; the current view is the latest import per scope.
CREATE TABLE problems (
  id TEXT PRIMARY KEY,
  import_id TEXT NOT NULL REFERENCES imports (id),
  code TEXT NOT NULL,
  source TEXT NOT NULL,
  message TEXT NOT NULL,
  fingerprint TEXT,
  details TEXT
);
CREATE INDEX problems_import_idx ON problems (import_id);
CREATE INDEX problems_fingerprint_idx ON problems (fingerprint);
CREATE INDEX problems_code_idx ON problems (code);

-- That a private key was present in a source: its type and which certificate it matches.
-- Never the key itself. Rewritten for a source each time that source is imported.
CREATE TABLE private_keys_seen (
  id TEXT PRIMARY KEY,
  source_id TEXT NOT NULL REFERENCES sources (id),
  import_id TEXT NOT NULL REFERENCES imports (id),
  key_type TEXT NOT NULL,
  matches_fingerprint TEXT,
  seen_at TEXT NOT NULL
);
CREATE INDEX private_keys_seen_source_idx ON private_keys_seen (source_id);
