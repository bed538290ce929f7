/**
 * Build a backend from its config entry. The config is checked against
 * `BackendConfigSchema` here too, so a caller cannot skip validation; secrets named by
 * reference (`signingKeyEnv`, `tokenEnv`, `tokenFile`) are resolved here, once.
 */
import { readFileSync } from 'node:fs';
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { Clock } from '../../spiffe/errors.js';
import { AwsSecretsManagerBackend, type AwsSecretsManagerBackendOptions } from './aws-secrets-manager.js';
import type { CredentialBackend, RotatingSecretStore } from './backend.js';
import { decodeEphemeralKey, EphemeralBackend, type EphemeralBackendOptions } from './ephemeral.js';
import { BackendError } from './errors.js';
import {
  type AwsSecretsManagerBackendConfig,
  type BackendConfig,
  BackendConfigSchema,
  type CredentialSpec,
  CredentialSpecSchema,
  type EphemeralBackendConfig,
  type VaultBackendConfig,
} from './schemas.js';
import { VaultBackend, type VaultBackendOptions } from './vault.js';

export interface BackendDeps {
  clock?: Clock;
  /** Where `*Env` settings and VAULT_ADDR/VAULT_TOKEN are looked up (default process.env). */
  env?: Record<string, string | undefined>;
  readFile?: (path: string) => string;
}

/** Throw BACKEND_CONFIG_INVALID naming the first problems, or return the config typed. */
export function validateBackendConfig(config: unknown): BackendConfig {
  if (Value.Check(BackendConfigSchema, config)) return config;
  throw new BackendError(
    'BACKEND_CONFIG_INVALID',
    `backend config is invalid: ${describeErrors(config, 'config')}`,
  );
}

/** Throw BACKEND_SPEC_INVALID naming the first problems, or return the spec typed. */
export function validateCredentialSpec(spec: unknown): CredentialSpec {
  if (Value.Check(CredentialSpecSchema, spec)) return spec;
  throw new BackendError(
    'BACKEND_SPEC_INVALID',
    `credential spec is invalid: ${describeErrors(spec, 'spec')}`,
  );
}

function describeErrors(value: unknown, what: 'config' | 'spec'): string {
  const v = (value ?? {}) as { type?: unknown; kind?: unknown };
  const known = ['ephemeral', 'aws-secrets-manager', 'vault'];
  if (typeof v.type !== 'string' || !known.includes(v.type))
    return `"type" must be one of ${known.join(', ')}`;
  // Report against the member of the union that `type` (and `kind`) select, not the whole union.
  const union: TSchema[] = (what === 'config' ? BackendConfigSchema : CredentialSpecSchema).anyOf;
  const byType = union.filter((s) => Value.Check(s.properties.type, v.type));
  const byKind = byType.filter(
    (s) => s.properties.kind === undefined || Value.Check(s.properties.kind, v.kind),
  );
  if (byKind.length === 0) {
    const kinds = byType.flatMap((s) => kindNames(s.properties.kind));
    return `/kind must be one of ${kinds.join(', ')} for type ${v.type}`;
  }
  const messages = new Set<string>();
  for (const member of byKind)
    for (const e of Value.Errors(member, value)) {
      messages.add(`${e.path || '/'} ${e.message}`);
      if (messages.size >= 3) break;
    }
  return [...messages].slice(0, 3).join('; ') || 'does not match its type';
}

function kindNames(schema: TSchema | undefined): string[] {
  if (schema === undefined) return [];
  if (schema.const !== undefined) return [String(schema.const)];
  return ((schema.anyOf ?? []) as TSchema[]).flatMap(kindNames);
}

export type BackendFor<C extends BackendConfig> = C extends EphemeralBackendConfig
  ? EphemeralBackend
  : C extends AwsSecretsManagerBackendConfig
    ? AwsSecretsManagerBackend
    : VaultBackend;

export function createBackend<C extends BackendConfig>(config: C, deps?: BackendDeps): BackendFor<C>;
export function createBackend(config: BackendConfig, deps: BackendDeps = {}): CredentialBackend {
  const valid = validateBackendConfig(config);
  const env = deps.env ?? process.env;
  const readFile = deps.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  switch (valid.type) {
    case 'ephemeral': {
      const options: EphemeralBackendOptions = { name: valid.name ?? valid.type };
      const keyText =
        valid.signingKey ?? (valid.signingKeyEnv === undefined ? undefined : env[valid.signingKeyEnv]);
      if (valid.signingKeyEnv !== undefined && keyText === undefined)
        throw new BackendError(
          'BACKEND_CONFIG_INVALID',
          `ephemeral backend ${options.name}: environment variable ${valid.signingKeyEnv} is not set`,
        );
      if (keyText !== undefined) options.signingKey = decodeEphemeralKey(keyText);
      if (valid.keyId !== undefined) options.keyId = valid.keyId;
      if (valid.maxTtlSeconds !== undefined) options.maxTtlSeconds = valid.maxTtlSeconds;
      if (valid.remember !== undefined) options.remember = valid.remember;
      if (deps.clock !== undefined) options.clock = deps.clock;
      return new EphemeralBackend(options);
    }
    case 'aws-secrets-manager': {
      const options: AwsSecretsManagerBackendOptions = { name: valid.name ?? valid.type };
      if (valid.region !== undefined) options.region = valid.region;
      if (valid.endpoint !== undefined) options.endpoint = valid.endpoint;
      if (valid.maxAttempts !== undefined) options.maxAttempts = valid.maxAttempts;
      if (valid.connectTimeoutMs !== undefined) options.connectTimeoutMs = valid.connectTimeoutMs;
      if (valid.requestTimeoutMs !== undefined) options.requestTimeoutMs = valid.requestTimeoutMs;
      if (valid.restoreWindowSeconds !== undefined) options.restoreWindowSeconds = valid.restoreWindowSeconds;
      if (deps.clock !== undefined) options.clock = deps.clock;
      return new AwsSecretsManagerBackend(options);
    }
    case 'vault':
      return new VaultBackend(vaultOptions(valid, env, readFile, deps.clock));
  }
}

/** The backend as a store of static keys (issue 8): AWS Secrets Manager and Vault KV v2. */
export function createRotatingStore(config: BackendConfig, deps: BackendDeps = {}): RotatingSecretStore {
  const backend = createBackend(config, deps);
  if (backend.kind === 'ephemeral')
    throw new BackendError(
      'BACKEND_CONFIG_INVALID',
      'the ephemeral backend holds no static keys; use aws-secrets-manager or vault for a rotating store',
    );
  return backend as AwsSecretsManagerBackend | VaultBackend;
}

function vaultOptions(
  config: VaultBackendConfig,
  env: Record<string, string | undefined>,
  readFile: (path: string) => string,
  clock: Clock | undefined,
): VaultBackendOptions {
  const name = config.name ?? config.type;
  const address = config.address ?? env.VAULT_ADDR;
  if (address === undefined || address === '')
    throw new BackendError('BACKEND_CONFIG_INVALID', `vault backend ${name}: set "address" or VAULT_ADDR`);
  let token: string | undefined;
  if (config.token !== undefined) token = config.token;
  else if (config.tokenFile !== undefined) {
    try {
      token = readFile(config.tokenFile).trim();
    } catch {
      throw new BackendError(
        'BACKEND_CONFIG_INVALID',
        `vault backend ${name}: cannot read tokenFile ${config.tokenFile}`,
      );
    }
  } else token = env[config.tokenEnv ?? 'VAULT_TOKEN'];
  if (token === undefined || token === '')
    throw new BackendError(
      'BACKEND_CONFIG_INVALID',
      `vault backend ${name}: no token (set "tokenFile", "tokenEnv" or ${config.tokenEnv ?? 'VAULT_TOKEN'})`,
    );
  const options: VaultBackendOptions = { name, address, token };
  if (config.namespace !== undefined) options.namespace = config.namespace;
  if (config.kvMounts !== undefined) options.kvMounts = config.kvMounts;
  if (config.requestTimeoutMs !== undefined) options.requestTimeoutMs = config.requestTimeoutMs;
  if (config.restoreWindowSeconds !== undefined) options.restoreWindowSeconds = config.restoreWindowSeconds;
  if (config.referenceKey !== undefined) options.referenceKey = decodeEphemeralKey(config.referenceKey);
  if (config.caFile !== undefined) {
    try {
      options.ca = readFile(config.caFile);
    } catch {
      throw new BackendError(
        'BACKEND_CONFIG_INVALID',
        `vault backend ${name}: cannot read caFile ${config.caFile}`,
      );
    }
  }
  if (clock !== undefined) options.clock = clock;
  return options;
}
