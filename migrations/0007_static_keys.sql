-- 0007 static keys: the retirement ledger of legacy static credentials (issue 8).
--
-- Portable SQL (SQLite and PostgreSQL); conventions as in 0001: ids TEXT, times TEXT
-- ISO 8601 UTC with milliseconds, counters BIGINT, JSON as TEXT.
-- No column holds a secret value: a key's value lives in its backend (AWS Secrets
-- Manager, Vault KV) and is named here only by backend version ids and references.

-- One legacy static key and where it stands:
--   static -> brokered -> rotated -> short-lived -> retired.
-- `version` is the optimistic lock: every write is UPDATE ... WHERE version = <read>,
-- so of two operators acting on the same key at once exactly one wins.
CREATE TABLE static_keys (
  name TEXT PRIMARY KEY,
  -- the broker credential (policy name) consumers fetch this key through
  credential TEXT NOT NULL,
  location_kind TEXT NOT NULL CHECK (location_kind IN ('aws', 'vault', 'external')),
  -- AWS secret id or ARN, Vault KV v2 `<mount>/<path>`, '' for external
  location TEXT NOT NULL,
  -- free text about an external location (where it lives, who changes it)
  note TEXT,
  owner TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('static', 'brokered', 'rotated', 'short-lived', 'retired')),
  version BIGINT NOT NULL,
  -- the evidence window (consumers seen, no static lease), the quiet period before
  -- retirement, and how long a rotation or retirement can be rolled back, in seconds
  window_seconds BIGINT NOT NULL,
  quiet_seconds BIGINT NOT NULL,
  restore_seconds BIGINT NOT NULL,
  -- non-secret name of the secret downstream (ARN, vault:<mount>/data/<path>)
  backend_reference TEXT,
  -- backend version current as far as the ledger knows, and the one a rollback restores
  current_version TEXT,
  previous_version TEXT,
  -- when previous_version stopped being current (a rotation, a confirmed external
  -- replacement, the retirement): the restore window runs from here
  replaced_at TEXT,
  state_since TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX static_keys_state_idx ON static_keys (state);
CREATE INDEX static_keys_credential_idx ON static_keys (credential);

-- Who is expected to use the key: SPIFFE IDs or patterns (`*` in a segment, `**` segments).
CREATE TABLE static_key_consumers (
  key_name TEXT NOT NULL REFERENCES static_keys (name) ON DELETE CASCADE,
  pattern TEXT NOT NULL,
  ord INTEGER NOT NULL,
  added_at TEXT NOT NULL,
  PRIMARY KEY (key_name, pattern)
);

-- Every change of a key: who, when, from, to, and the gate evidence or the reason.
-- kind: 'add' (from_state NULL), 'advance', 'rollback', 'recover' (an interrupted
-- backend operation finished or undone).
CREATE TABLE static_key_transitions (
  id TEXT PRIMARY KEY,
  key_name TEXT NOT NULL REFERENCES static_keys (name) ON DELETE CASCADE,
  -- the key's version this change produced: orders a key's history
  key_version BIGINT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('add', 'advance', 'rollback', 'recover')),
  from_state TEXT,
  to_state TEXT NOT NULL,
  at TEXT NOT NULL,
  performed_by TEXT NOT NULL,
  reason TEXT,
  evidence TEXT,
  backend_from_version TEXT,
  backend_to_version TEXT
);
CREATE UNIQUE INDEX static_key_transitions_key_idx ON static_key_transitions (key_name, key_version);
CREATE INDEX static_key_transitions_at_idx ON static_key_transitions (at);

-- The crash journal: written (with the key's version bumped) BEFORE a backend write,
-- deleted in the same transaction as the ledger update after it. A row left behind
-- means a process died in between; the next run reads the backend (pendingRotation,
-- current version) and finishes or undoes the operation. At most one per key.
CREATE TABLE static_key_journal (
  key_name TEXT PRIMARY KEY REFERENCES static_keys (name) ON DELETE CASCADE,
  operation TEXT NOT NULL CHECK (operation IN ('rotate', 'rollback')),
  from_state TEXT NOT NULL,
  to_state TEXT NOT NULL,
  -- the key's version once the journal row was written: the ledger update expects it
  key_version BIGINT NOT NULL,
  -- backend version current when the operation started
  backend_from_version TEXT NOT NULL,
  -- rollback: the version being made current again
  backend_target_version TEXT,
  started_at TEXT NOT NULL,
  performed_by TEXT NOT NULL,
  reason TEXT,
  evidence TEXT
);
