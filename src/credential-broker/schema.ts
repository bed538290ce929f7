/**
 * Kysely view of the broker's tables (migrations/0006_broker.sql). Kept here rather
 * than in src/store/schema.ts: the broker views the store's Kysely instance through
 * these types (`brokerDb(store)`); the tables themselves come from the migration.
 */
import type { Generated, Kysely } from 'kysely';
import type { Store } from '../store/index.js';

export type AuthMethod = 'x509' | 'jwt';
export type IssuerKind = 'mesh' | 'spire' | 'federated';
export type DecisionOutcome = 'allow' | 'deny' | 'error';

export interface BrokerLeasesTable {
  id: string;
  spiffe_id: string;
  auth_method: AuthMethod;
  issuer_kind: string;
  issuer_fingerprint: string;
  credential: string;
  backend: string;
  backend_lease_id: string | null;
  reference: string;
  policy_version: string;
  purpose: string | null;
  issued_at: string;
  expires_at: string;
  revoked_at: string | null;
  revoke_reason: string | null;
  revoked_by: string | null;
  claimed_by: string | null;
  claimed_until: string | null;
  revoke_attempts: Generated<number>;
  revoke_error: string | null;
}

export interface BrokerAuditTable {
  id: string;
  at: string;
  instance: string;
  request_id: string | null;
  action: string;
  decision: DecisionOutcome;
  code: string;
  reason: string;
  status: number;
  spiffe_id: string | null;
  presented_identity: string | null;
  auth_method: string | null;
  issuer_kind: string | null;
  issuer_fingerprint: string | null;
  credential: string | null;
  policy_version: string | null;
  policy_rule: string | null;
  lease_id: string | null;
  reference: string | null;
  ttl_seconds: number | null;
  purpose: string | null;
  /** JSON: `{sub, verified, issuer?}` of an RFC 8693 actor token; never the token. */
  actor: string | null;
  client_address: string | null;
}

export interface BrokerCredentialSightingsTable {
  credential: string;
  spiffe_id: string;
  first_seen: string;
  last_seen: string;
  last_allowed: string | null;
  last_denied: string | null;
  allowed_count: Generated<number>;
  denied_count: Generated<number>;
  last_issuer_kind: string | null;
  last_lease_id: string | null;
}

export interface BrokerLocksTable {
  name: string;
  holder: string;
  until: string;
}

export interface BrokerTables {
  broker_leases: BrokerLeasesTable;
  broker_audit: BrokerAuditTable;
  broker_credential_sightings: BrokerCredentialSightingsTable;
  broker_locks: BrokerLocksTable;
}

export type BrokerDb = Kysely<BrokerTables>;

/** The store's query builder, seeing the broker's tables. */
export function brokerDb(store: Store): BrokerDb {
  return store.db as unknown as BrokerDb;
}
