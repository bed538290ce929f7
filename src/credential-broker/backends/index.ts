/**
 * The broker's downstream backends behind one interface (`CredentialBackend`), the
 * static-key stores behind another (`RotatingSecretStore`), their config/spec schemas,
 * and `createBackend`. Only `src/credential-broker/` imports this.
 */
export {
  AWSCURRENT,
  AWSPENDING,
  AWSPREVIOUS,
  AwsSecretsManagerBackend,
  type AwsSecretsManagerBackendOptions,
} from './aws-secrets-manager.js';
export type {
  BackendHealth,
  BackendKind,
  BackendStatus,
  CredentialBackend,
  CredentialSpec,
  GenerateOptions,
  IssuedCredential,
  IssueRequest,
  PendingRotation,
  PendingStage,
  RecoveryResult,
  RollbackOptions,
  RotateOptions,
  RotatingSecretStore,
  RotationResult,
  RotationStep,
  SecretDescription,
  SecretValue,
  SecretVersionInfo,
  StaticSecret,
} from './backend.js';
export {
  decodeEphemeralKey,
  EphemeralBackend,
  type EphemeralBackendOptions,
  type EphemeralCheck,
  type EphemeralKey,
  type EphemeralTokenClaims,
  signEphemeralToken,
  type VerifyEphemeralTokenOptions,
  verifyEphemeralToken,
} from './ephemeral.js';
export { BackendError, type BackendErrorCode, isBackendError } from './errors.js';
export {
  type BackendDeps,
  type BackendFor,
  createBackend,
  createRotatingStore,
  validateBackendConfig,
  validateCredentialSpec,
} from './factory.js';
export * from './schemas.js';
export { TOKEN_ACCESSOR_PREFIX, VaultBackend, type VaultBackendOptions } from './vault.js';
