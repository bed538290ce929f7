-- 0006 broker: leases, audit records, credential sightings and the sweeper's lock row.
--
-- Portable SQL (SQLite and PostgreSQL), conventions as in 0001: ids TEXT, times TEXT
-- ISO 8601 UTC with milliseconds, counters BIGINT, JSON as TEXT.
-- No column anywhere holds a secret value: what was issued is named by `reference`
-- (an ARN + version, a Vault path or lease, or an HMAC of the value).

-- One row per credential handed out. A lease is revoked at most once downstream:
-- a sweeper or a DELETE first *claims* it (claimed_by / claimed_until, set by a
-- conditional UPDATE ... WHERE revoked_at IS NULL AND the claim is free), then revokes
-- downstream, then sets revoked_at. A claim whose holder died frees itself at claimed_until.
CREATE TABLE broker_leases (
  id TEXT PRIMARY KEY,
  spiffe_id TEXT NOT NULL,
  auth_method TEXT NOT NULL CHECK (auth_method IN ('x509', 'jwt')),
  issuer_kind TEXT NOT NULL,
  issuer_fingerprint TEXT NOT NULL,
  credential TEXT NOT NULL,
  backend TEXT NOT NULL,
  backend_lease_id TEXT,
  reference TEXT NOT NULL,
  policy_version TEXT NOT NULL,
  purpose TEXT,
  issued_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  revoked_at TEXT,
  revoke_reason TEXT,
  revoked_by TEXT,
  claimed_by TEXT,
  claimed_until TEXT,
  revoke_attempts INTEGER NOT NULL DEFAULT 0,
  revoke_error TEXT
);
-- Ids are time-ordered (hex milliseconds first), so inserts append to the primary key.
-- The sweeper reads open leases by expiry: a partial index holds only those.
CREATE INDEX broker_leases_due_idx ON broker_leases (expires_at) WHERE revoked_at IS NULL;
CREATE INDEX broker_leases_credential_idx ON broker_leases (credential, issued_at);

-- One row per decision (allow, deny, error), written before the answer leaves the broker.
CREATE TABLE broker_audit (
  id TEXT PRIMARY KEY,
  at TEXT NOT NULL,
  instance TEXT NOT NULL,
  request_id TEXT,
  action TEXT NOT NULL,
  decision TEXT NOT NULL CHECK (decision IN ('allow', 'deny', 'error')),
  code TEXT NOT NULL,
  reason TEXT NOT NULL,
  status INTEGER NOT NULL,
  spiffe_id TEXT,
  presented_identity TEXT,
  auth_method TEXT,
  issuer_kind TEXT,
  issuer_fingerprint TEXT,
  credential TEXT,
  policy_version TEXT,
  policy_rule TEXT,
  lease_id TEXT,
  reference TEXT,
  ttl_seconds INTEGER,
  purpose TEXT,
  actor TEXT,
  client_address TEXT
);
-- Ids are time-ordered, so the primary key also orders records by time.
CREATE INDEX broker_audit_credential_idx ON broker_audit (credential, at);

-- Who asked for which credential, and when last (allowed or denied): the evidence the
-- static-key retirement gates read ("every expected consumer fetched it through the
-- broker within the window; no unexpected SPIFFE ID asked for it").
CREATE TABLE broker_credential_sightings (
  credential TEXT NOT NULL,
  spiffe_id TEXT NOT NULL,
  first_seen TEXT NOT NULL,
  last_seen TEXT NOT NULL,
  last_allowed TEXT,
  last_denied TEXT,
  allowed_count BIGINT NOT NULL DEFAULT 0,
  denied_count BIGINT NOT NULL DEFAULT 0,
  last_issuer_kind TEXT,
  last_lease_id TEXT,
  PRIMARY KEY (credential, spiffe_id)
);

-- Named locks with an expiry, for SQLite (PostgreSQL uses an advisory lock).
CREATE TABLE broker_locks (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  until TEXT NOT NULL
);
