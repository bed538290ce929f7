/**
 * The Kysely view of the schema in `migrations/`, and the plain row types the
 * repositories take and give back.
 *
 * Column conventions (both dialects): ids are TEXT; times are TEXT ISO 8601 UTC with
 * milliseconds (`2026-01-02T03:04:05.000Z`), so they sort and compare as text; booleans
 * are INTEGER 0/1; counters BIGINT read back as numbers; JSON is TEXT that the
 * repositories encode and decode; DER is TEXT base64 (BLOB and BYTEA come back as
 * different types from the two drivers, base64 text is the same everywhere).
 */

export type CertificateRole = 'anchor' | 'intermediate' | 'workload';
export const CERTIFICATE_ROLES: readonly CertificateRole[] = ['anchor', 'intermediate', 'workload'];

export type ImportStatus = 'complete' | 'failed';

// ---------------------------------------------------------------- tables (snake_case, as stored)

export interface SchemaMigrationsTable {
  /** `0001` */
  version: string;
  /** `0001_inventory` */
  name: string;
  /** sha256 hex of the file that was applied for this dialect (line endings normalised). */
  checksum: string;
  /** Which file was applied: `0001_inventory.sql` or a dialect override. */
  file: string;
  applied_at: string;
}

export interface ImportsTable {
  id: string;
  started_at: string;
  finished_at: string;
  mesh: string | null;
  cluster: string | null;
  status: ImportStatus;
  /** JSON object */
  summary: string;
}

export interface SourcesTable {
  id: string;
  kind: string;
  locator: string;
  mesh: string | null;
  cluster: string | null;
  import_id: string;
  first_seen: string;
  last_seen: string;
}

export interface CertificatesTable {
  fingerprint: string;
  role: CertificateRole;
  mesh: string | null;
  cluster: string | null;
  subject: string;
  issuer: string;
  serial: string;
  not_before: string;
  not_after: string;
  key_algorithm: string;
  key_size: number | null;
  spiffe_id: string | null;
  mesh_identity: string | null;
  namespace: string | null;
  service_account: string | null;
  /** JSON array of strings */
  san: string;
  issuer_fingerprint: string | null;
  anchor_fingerprint: string | null;
  /** base64 of the DER */
  der: string;
  first_seen: string;
  last_seen: string;
}

export interface CertificateSourcesTable {
  fingerprint: string;
  source_id: string;
  seen_at: string;
}

export interface ProblemsTable {
  id: string;
  import_id: string;
  code: string;
  source: string;
  message: string;
  fingerprint: string | null;
  /** JSON object or null */
  details: string | null;
}

export interface PrivateKeysSeenTable {
  id: string;
  source_id: string;
  import_id: string;
  key_type: string;
  matches_fingerprint: string | null;
  seen_at: string;
}

export interface Database {
  schema_migrations: SchemaMigrationsTable;
  imports: ImportsTable;
  sources: SourcesTable;
  certificates: CertificatesTable;
  certificate_sources: CertificateSourcesTable;
  problems: ProblemsTable;
  private_keys_seen: PrivateKeysSeenTable;
}

// ---------------------------------------------------------------- repository rows (camelCase, plain data)

/** A source as an importer hands it over. `mesh`/`cluster` default to the import's. */
export interface SourceRow {
  /** e.g. `istio-cacerts`, `istio-ca-root-cert`, `linkerd-trust-roots`, `envoy-config-dump`, `pem-file` */
  kind: string;
  /** A path or an object reference (`secret/istio-system/cacerts`); unique within one import. */
  locator: string;
  mesh?: string | null;
  cluster?: string | null;
}

/** A certificate as an importer hands it over (no first/last seen: the store keeps those). */
export interface CertRow {
  /** lowercase hex SHA-256 of the DER */
  fingerprint: string;
  role: CertificateRole;
  mesh?: string | null;
  cluster?: string | null;
  subject: string;
  issuer: string;
  serial: string;
  /** ISO 8601 UTC */
  notBefore: string;
  /** ISO 8601 UTC */
  notAfter: string;
  keyAlgorithm: string;
  keySize?: number | null;
  spiffeId?: string | null;
  meshIdentity?: string | null;
  namespace?: string | null;
  serviceAccount?: string | null;
  /** Subject alternative names, one string each (e.g. `URI:spiffe://td/ns/a/sa/b`, `DNS:x`). */
  san?: string[];
  issuerFingerprint?: string | null;
  anchorFingerprint?: string | null;
  /** base64 (standard alphabet, no PEM armour) of the DER */
  der: string;
  /** Locators of the sources (in this import) that showed this certificate. */
  sources?: string[];
}

/** An extra certificate-to-source link, by fingerprint and source locator. */
export interface LinkRow {
  fingerprint: string;
  source: string;
}

export interface ProblemRow {
  code: string;
  /** Where it was found, as shown to people (`path/to/file.pem#3`). */
  source: string;
  message: string;
  fingerprint?: string | null;
  details?: Record<string, unknown> | null;
}

/** A private key seen in a source: never the key, only its type and which certificate it matches. */
export interface KeyRow {
  /** Locator of the source it was found in (must be among the import's sources). */
  source: string;
  /** e.g. `ec-p256`, `rsa-2048`, `ed25519` */
  keyType: string;
  /** Fingerprint of the certificate whose public key it matches, or null if none. */
  matchesFingerprint?: string | null;
}

// ---------------------------------------------------------------- rows as loaded back

export interface StoredImport {
  id: string;
  startedAt: string;
  finishedAt: string;
  mesh: string | null;
  cluster: string | null;
  status: ImportStatus;
  summary: Record<string, unknown>;
}

export interface StoredSource {
  id: string;
  kind: string;
  locator: string;
  mesh: string | null;
  cluster: string | null;
  importId: string;
  firstSeen: string;
  lastSeen: string;
}

export interface StoredCertificate {
  fingerprint: string;
  role: CertificateRole;
  mesh: string | null;
  cluster: string | null;
  subject: string;
  issuer: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  keyAlgorithm: string;
  keySize: number | null;
  spiffeId: string | null;
  meshIdentity: string | null;
  namespace: string | null;
  serviceAccount: string | null;
  san: string[];
  issuerFingerprint: string | null;
  anchorFingerprint: string | null;
  /** base64 DER, or null unless `withDer` was asked for. */
  der: string | null;
  firstSeen: string;
  lastSeen: string;
  /** Ids of the sources that showed it. */
  sourceIds: string[];
}

export interface StoredLink {
  fingerprint: string;
  sourceId: string;
  seenAt: string;
}

export interface StoredProblem {
  id: string;
  importId: string;
  code: string;
  source: string;
  message: string;
  fingerprint: string | null;
  details: Record<string, unknown> | null;
}

export interface StoredKey {
  id: string;
  sourceId: string;
  importId: string;
  keyType: string;
  matchesFingerprint: string | null;
  seenAt: string;
}
