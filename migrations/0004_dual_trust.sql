-- 0004 dual trust: roots meshbridge did not import from a mesh (SPIRE's own, federated
-- trust domains'), and the spiffe_sequence of every bundle it has published.
-- Portable SQL (SQLite and PostgreSQL); conventions as in 0001_inventory.sql.

-- One trust anchor (an X.509 root, or a JWT authority) of one trust domain, as the last
-- sync saw it. Mesh anchors stay in `certificates` (the inventory); these are the others.
-- id is a content hash of (origin, trust_domain, kind, key_id): a re-sync hits the same row.
CREATE TABLE trust_roots (
  id TEXT PRIMARY KEY,
  origin TEXT NOT NULL CHECK (origin IN ('spire', 'federated')),
  trust_domain TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('x509-svid', 'jwt-svid')),
  -- SHA-256 fingerprint (x509-svid) or kid (jwt-svid)
  key_id TEXT NOT NULL,
  -- base64 DER (x509-svid) or the public JWK as JSON (jwt-svid)
  material TEXT NOT NULL,
  subject TEXT,
  not_before TEXT,
  not_after TEXT,
  -- where the last sync read it: a file, unix:///run/spire/sockets/agent.sock, an https URL
  source TEXT NOT NULL,
  enters_phase TEXT NOT NULL DEFAULT 'dual-trust',
  leaves_phase TEXT,
  first_seen TEXT NOT NULL,
  last_seen TEXT NOT NULL,
  -- set when a later sync of the same origin and trust domain no longer had it
  removed_at TEXT
);
CREATE UNIQUE INDEX trust_roots_key_idx ON trust_roots (origin, trust_domain, kind, key_id);
CREATE INDEX trust_roots_td_idx ON trust_roots (trust_domain, removed_at);

-- Every sync: what came in, from where, with the source's own sequence number (text: up to 2^64-1).
CREATE TABLE trust_root_syncs (
  id TEXT PRIMARY KEY,
  origin TEXT NOT NULL,
  trust_domain TEXT NOT NULL,
  source TEXT NOT NULL,
  synced_at TEXT NOT NULL,
  source_sequence TEXT,
  refresh_hint INTEGER,
  added INTEGER NOT NULL,
  removed INTEGER NOT NULL,
  kept INTEGER NOT NULL
);
CREATE INDEX trust_root_syncs_td_idx ON trust_root_syncs (trust_domain, synced_at);

-- The spiffe_sequence meshbridge publishes per scope and trust domain: it grows whenever
-- the content (digest of the roots and JWT keys) changes, never otherwise (R57).
CREATE TABLE bundle_sequences (
  scope TEXT NOT NULL,
  trust_domain TEXT NOT NULL,
  sequence BIGINT NOT NULL,
  digest TEXT NOT NULL,
  phase TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (scope, trust_domain)
);

-- Each published version: which roots, for which phase, when.
CREATE TABLE bundle_versions (
  scope TEXT NOT NULL,
  trust_domain TEXT NOT NULL,
  sequence BIGINT NOT NULL,
  digest TEXT NOT NULL,
  phase TEXT NOT NULL,
  -- JSON array of root fingerprints
  roots TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (scope, trust_domain, sequence)
);
