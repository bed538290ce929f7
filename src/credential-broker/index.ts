/**
 * The credential broker: SVID in, short-lived secret out, under policy, on record.
 * Backends live in ./backends (their own entry point).
 */
export {
  type AuditAction,
  type AuditActor,
  type AuditRecord,
  auditFromRow,
  createBrokerLogger,
  REDACT_PATHS,
} from './audit.js';
export {
  authenticateJwt,
  authenticateX509,
  bearerToken,
  type Caller,
  type CallerIssuer,
  type LinkerdIdentity,
  type MeshIdentityMapper,
  parseLinkerdIdentity,
  templateMapper,
} from './auth/identity.js';
export {
  type AnchorLabel,
  type IdentityForm,
  ISSUER_KINDS,
  type IssuerKind,
  readTrustFileEntry,
  StaticTrust,
  type TrustEntry,
  type TrustFileEntry,
  TrustSnapshot,
  type TrustSource,
  TrustStore,
} from './auth/trust.js';
export {
  Broker,
  type BrokerHealth,
  type BrokerOptions,
  type IssueParams,
  type IssueResult,
  peerChain,
  type RequestContext,
} from './broker.js';
export {
  type BrokerConfig,
  BrokerConfigSchema,
  backendCatalog,
  DEFAULT_BROKER_PORT,
  loadBrokerConfig,
  parseBrokerConfig,
} from './config.js';
export { BrokerError, type BrokerErrorCode, httpStatusOf } from './errors.js';
export {
  type FetchAuth,
  type FetchedCredential,
  type FetchOptions,
  fetchCredential,
  formatSecret,
  type RunFetchOptions,
  runFetch,
  type SecretFormat,
  writeSecretFile,
} from './fetch.js';
export {
  type CredentialSighting,
  credentialSightings,
  type Lease,
  LeaseManager,
  lastLeaseIssued,
  type RevokeOutcome,
  type SweepReport,
} from './leases.js';
export * from './policy/index.js';
export type { BrokerTables } from './schema.js';
export {
  type BrokerApp,
  type BrokerPluginOptions,
  type BrokerRuntime,
  type BrokerServer,
  type BrokerServerDeps,
  brokerPlugin,
  createBrokerRuntime,
  createBrokerServer,
} from './server.js';
export { ServingIdentity, type ServingMaterial } from './serving.js';
export type { Writer, WriteSet } from './writer.js';
