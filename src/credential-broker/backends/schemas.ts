/**
 * TypeBox schemas for what configuration holds about backends:
 *  - a *backend config* (`backends:` in the broker config): how to reach one backend;
 *  - a *credential spec* (a policy's credential definition): what to ask that backend for.
 * Config validation (policy loading, `createBackend`) checks against these, so a bad
 * file is refused before any request reaches a backend.
 */
import { type Static, Type } from '@sinclair/typebox';

const Name = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' });
const NonEmpty = Type.String({ minLength: 1 });
/** A field name handed to the caller (becomes an env var or JSON key in `meshbridge fetch`). */
const FieldName = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z_][A-Za-z0-9_.-]*$' });
const Seconds = Type.Integer({ minimum: 1, maximum: 31 * 24 * 3600 });

// ---------------------------------------------------------------- backend configs

export const EphemeralBackendConfigSchema = Type.Object(
  {
    type: Type.Literal('ephemeral'),
    name: Type.Optional(Name),
    /**
     * HMAC-SHA256 key for signed tokens, base64 or base64url, at least 32 bytes. Downstream
     * systems that check tokens need the same key. Omitted: a random key per process (tokens
     * then verify only against that process's key, e.g. in tests and the example).
     */
    signingKey: Type.Optional(Type.String({ minLength: 43 })),
    /** Name of an environment variable holding the signing key (kept out of the config file). */
    signingKeyEnv: Type.Optional(NonEmpty),
    /** Carried as `kid` in tokens so a downstream checker can pick the key during a key change. */
    keyId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    /** How long a revoked id is remembered when its expiry is not known here (default 24h). */
    maxTtlSeconds: Type.Optional(Seconds),
    /** How many minted passwords/API keys value checks remember, newest first (default 100000). */
    remember: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000 })),
  },
  { additionalProperties: false },
);

export const AwsSecretsManagerBackendConfigSchema = Type.Object(
  {
    type: Type.Literal('aws-secrets-manager'),
    name: Type.Optional(Name),
    /** Omitted: the SDK's standard chain (AWS_REGION, profile). */
    region: Type.Optional(NonEmpty),
    /** Omitted: the SDK's standard chain (AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL). */
    endpoint: Type.Optional(Type.String({ pattern: '^https?://' })),
    /** Attempts per call, including the first (SDK default 3). */
    maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 })),
    connectTimeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 120_000 })),
    requestTimeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 300_000 })),
    /** Refuse rollbacks to versions superseded longer ago than this (default: no limit). */
    restoreWindowSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);

export const VaultBackendConfigSchema = Type.Object(
  {
    type: Type.Literal('vault'),
    name: Type.Optional(Name),
    /** Vault address, e.g. https://vault.internal:8200 (omitted: VAULT_ADDR). */
    address: Type.Optional(Type.String({ pattern: '^https?://' })),
    /** The broker's own Vault token. Prefer `tokenEnv` or `tokenFile` over a literal. */
    token: Type.Optional(NonEmpty),
    /** Environment variable holding the token (default VAULT_TOKEN when neither token nor tokenFile). */
    tokenEnv: Type.Optional(NonEmpty),
    /** File holding the token (e.g. written by Vault Agent); read at start. */
    tokenFile: Type.Optional(NonEmpty),
    /** Enterprise/HCP namespace, sent as X-Vault-Namespace. */
    namespace: Type.Optional(NonEmpty),
    /** KV v2 mounts, so `team/kv/app/db` splits into mount `team/kv` and path `app/db` (default ["secret"]). */
    kvMounts: Type.Optional(Type.Array(NonEmpty, { minItems: 1 })),
    requestTimeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 300_000 })),
    /** PEM CA bundle file for Vault's TLS certificate. */
    caFile: Type.Optional(NonEmpty),
    /** Refuse rollbacks to versions superseded longer ago than this (default: no limit). */
    restoreWindowSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
    /** Key (base64, >= 32 bytes) for the HMAC references of Vault tokens; omitted: random per process. */
    referenceKey: Type.Optional(Type.String({ minLength: 43 })),
  },
  { additionalProperties: false },
);

export const BackendConfigSchema = Type.Union([
  EphemeralBackendConfigSchema,
  AwsSecretsManagerBackendConfigSchema,
  VaultBackendConfigSchema,
]);

export type EphemeralBackendConfig = Static<typeof EphemeralBackendConfigSchema>;
export type AwsSecretsManagerBackendConfig = Static<typeof AwsSecretsManagerBackendConfigSchema>;
export type VaultBackendConfig = Static<typeof VaultBackendConfigSchema>;
export type BackendConfig = Static<typeof BackendConfigSchema>;
export type BackendKind = BackendConfig['type'];

// ---------------------------------------------------------------- credential specs

export const EphemeralPasswordSpecSchema = Type.Object(
  {
    type: Type.Literal('ephemeral'),
    kind: Type.Literal('password'),
    /** Characters (default 32). */
    length: Type.Optional(Type.Integer({ minimum: 12, maximum: 256 })),
    /** Include punctuation (default true). Some legacy systems choke on it. */
    symbols: Type.Optional(Type.Boolean()),
    /** Handed out beside the password as `username`. */
    username: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  },
  { additionalProperties: false },
);

export const EphemeralApiKeySpecSchema = Type.Object(
  {
    type: Type.Literal('ephemeral'),
    kind: Type.Literal('api-key'),
    /** Prefix that lets secret scanners recognise the key (default `mbk_`). */
    prefix: Type.Optional(Type.String({ maxLength: 32, pattern: '^[A-Za-z0-9_-]*$' })),
    /** Random characters after the prefix (default 40, base62). */
    length: Type.Optional(Type.Integer({ minimum: 24, maximum: 256 })),
  },
  { additionalProperties: false },
);

export const EphemeralTokenSpecSchema = Type.Object(
  {
    type: Type.Literal('ephemeral'),
    kind: Type.Literal('token'),
    /** Put in the token as `aud`; a checker may require it. */
    audience: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  },
  { additionalProperties: false },
);

export const EphemeralCredentialSpecSchema = Type.Union([
  EphemeralPasswordSpecSchema,
  EphemeralApiKeySpecSchema,
  EphemeralTokenSpecSchema,
]);

export const AwsSecretCredentialSpecSchema = Type.Object(
  {
    type: Type.Literal('aws-secrets-manager'),
    /** Secret name or ARN. */
    secretId: Type.String({ minLength: 1, maxLength: 2048 }),
    /** Staging label to read (default AWSCURRENT). */
    versionStage: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    /** Pin a version id instead of a stage. */
    versionId: Type.Optional(Type.String({ minLength: 32, maxLength: 64 })),
    /** Hand out only these fields of a JSON secret (default: all). */
    fields: Type.Optional(Type.Array(FieldName, { minItems: 1 })),
  },
  { additionalProperties: false },
);

export const VaultKvCredentialSpecSchema = Type.Object(
  {
    type: Type.Literal('vault'),
    kind: Type.Literal('kv'),
    /** `<mount>/<path>`, e.g. `secret/app/db` (mounts as configured in `kvMounts`). */
    path: Type.String({ minLength: 1 }),
    /** Pin a KV v2 version (default: latest). */
    version: Type.Optional(Type.Integer({ minimum: 1 })),
    fields: Type.Optional(Type.Array(FieldName, { minItems: 1 })),
  },
  { additionalProperties: false },
);

export const VaultTokenCredentialSpecSchema = Type.Object(
  {
    type: Type.Literal('vault'),
    kind: Type.Literal('token'),
    /** Policies of the new token; must be a subset of the broker token's unless it is root. */
    policies: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    /** Token role (`auth/token/create/<role>`), which may override these options. */
    role: Type.Optional(Type.String({ minLength: 1 })),
    /** Create an orphan (survives the broker's own token); needs `auth/token/create-orphan`. */
    orphan: Type.Optional(Type.Boolean()),
    /** Renewable up to the granted TTL (default false: the TTL is final). */
    renewable: Type.Optional(Type.Boolean()),
    noDefaultPolicy: Type.Optional(Type.Boolean()),
    numUses: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);

export const VaultDynamicCredentialSpecSchema = Type.Object(
  {
    type: Type.Literal('vault'),
    kind: Type.Union([Type.Literal('database'), Type.Literal('aws')]),
    /** The role: `database/creds/<role>` or `aws/creds/<role>`. */
    role: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_.-]+$' }),
    /** Secrets engine mount (default `database` or `aws`). */
    mount: Type.Optional(Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_./-]+$' })),
    /** Send the granted TTL as `ttl` (AWS assumed_role / federation_token roles accept it). */
    sendTtl: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const VaultCredentialSpecSchema = Type.Union([
  VaultKvCredentialSpecSchema,
  VaultTokenCredentialSpecSchema,
  VaultDynamicCredentialSpecSchema,
]);

/** What a policy's credential definition holds under `spec:`; `type` names the backend type. */
export const CredentialSpecSchema = Type.Union([
  EphemeralPasswordSpecSchema,
  EphemeralApiKeySpecSchema,
  EphemeralTokenSpecSchema,
  AwsSecretCredentialSpecSchema,
  VaultKvCredentialSpecSchema,
  VaultTokenCredentialSpecSchema,
  VaultDynamicCredentialSpecSchema,
]);

export type EphemeralCredentialSpec = Static<typeof EphemeralCredentialSpecSchema>;
export type AwsSecretCredentialSpec = Static<typeof AwsSecretCredentialSpecSchema>;
export type VaultCredentialSpec = Static<typeof VaultCredentialSpecSchema>;
export type CredentialSpec = Static<typeof CredentialSpecSchema>;
