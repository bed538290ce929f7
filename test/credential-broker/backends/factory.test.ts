import { randomBytes } from 'node:crypto';
import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';
import {
  AwsSecretsManagerBackend,
  BackendConfigSchema,
  type BackendError,
  CredentialSpecSchema,
  createBackend,
  createRotatingStore,
  EphemeralBackend,
  VaultBackend,
  validateBackendConfig,
  validateCredentialSpec,
} from '../../../src/credential-broker/backends/index.js';

function errorOf(fn: () => unknown): BackendError {
  try {
    fn();
  } catch (err) {
    return err as BackendError;
  }
  throw new Error('expected a failure');
}

describe('credential specs (a policy credential definition)', () => {
  it.each([
    ['an ephemeral password', { type: 'ephemeral', kind: 'password', length: 24, symbols: false }],
    ['an ephemeral API key', { type: 'ephemeral', kind: 'api-key', prefix: 'shop_' }],
    ['an ephemeral token', { type: 'ephemeral', kind: 'token', audience: 'orders-api' }],
    [
      'an AWS secret at a stage',
      { type: 'aws-secrets-manager', secretId: 'prod/orders/db', versionStage: 'AWSCURRENT' },
    ],
    ['a Vault KV path', { type: 'vault', kind: 'kv', path: 'secret/app/db', fields: ['password'] }],
    ['a Vault token', { type: 'vault', kind: 'token', policies: ['orders-read'], orphan: true }],
    ['Vault database creds', { type: 'vault', kind: 'database', role: 'orders' }],
    [
      'Vault AWS creds on another mount',
      { type: 'vault', kind: 'aws', role: 'deploy', mount: 'aws-prod', sendTtl: true },
    ],
  ])('accepts %s', (_name, spec) => {
    expect(Value.Check(CredentialSpecSchema, spec)).toBe(true);
    expect(validateCredentialSpec(spec)).toEqual(spec);
  });

  it.each([
    ['an unknown type', { type: 'ldap', kind: 'password' }, /"type" must be one of/],
    ['a database spec without a role', { type: 'vault', kind: 'database' }, /role/],
    ['a too-short password', { type: 'ephemeral', kind: 'password', length: 4 }, /length/],
    [
      'an unknown field',
      { type: 'aws-secrets-manager', secretId: 'x', stage: 'AWSCURRENT' },
      /stage|additional/i,
    ],
    ['a role with a slash', { type: 'vault', kind: 'database', role: '../sys' }, /role/],
  ])('refuses %s, saying where', (_name, spec, message) => {
    const err = errorOf(() => validateCredentialSpec(spec));
    expect(err.code).toBe('BACKEND_SPEC_INVALID');
    expect(err.category).toBe('input');
    expect(err.message).toMatch(message);
  });
});

describe('createBackend', () => {
  it('builds each backend kind under its configured name', () => {
    const eph = createBackend({ type: 'ephemeral', name: 'builtin' });
    expect(eph).toBeInstanceOf(EphemeralBackend);
    expect(eph.name).toBe('builtin');
    const aws = createBackend({ type: 'aws-secrets-manager', region: 'eu-west-1' });
    expect(aws).toBeInstanceOf(AwsSecretsManagerBackend);
    expect(aws.name).toBe('aws-secrets-manager');
    const vault = createBackend(
      { type: 'vault', address: 'http://127.0.0.1:8200', tokenFile: '/run/vault/token' },
      { readFile: () => 'hvs.from-file\n' },
    );
    expect(vault).toBeInstanceOf(VaultBackend);
    expect(vault.kind).toBe('vault');
  });

  it('reads the signing key from the environment variable the config names', async () => {
    const key = randomBytes(32).toString('base64url');
    const eph = createBackend({ type: 'ephemeral', signingKeyEnv: 'EPH_KEY' }, { env: { EPH_KEY: key } });
    const issued = await eph.issue({
      credential: 'x',
      subject: 'spiffe://example.org/a',
      ttlSeconds: 60,
      spec: { type: 'ephemeral', kind: 'token' },
    });
    expect(eph.verifyToken(issued.secret.token as string).cred).toBe('x');
    expect(
      errorOf(() => createBackend({ type: 'ephemeral', signingKeyEnv: 'EPH_KEY' }, { env: {} })).code,
    ).toBe('BACKEND_CONFIG_INVALID');
  });

  it.each([
    ['an unknown type', { type: 'gcp' }],
    ['a Vault address that is not a URL', { type: 'vault', address: 'vault:8200', token: 't' }],
    ['a negative timeout', { type: 'aws-secrets-manager', requestTimeoutMs: -1 }],
    ['a short signing key', { type: 'ephemeral', signingKey: 'c2hvcnQ=' }],
    ['an ephemeral value index of zero', { type: 'ephemeral', remember: 0 }],
  ])('refuses %s with BACKEND_CONFIG_INVALID', (_name, config) => {
    expect(Value.Check(BackendConfigSchema, config)).toBe(false);
    expect(errorOf(() => validateBackendConfig(config)).code).toBe('BACKEND_CONFIG_INVALID');
    expect(errorOf(() => createBackend(config as never)).code).toBe('BACKEND_CONFIG_INVALID');
  });

  it('hands the ephemeral value-index size on to the backend', async () => {
    const eph = createBackend({ type: 'ephemeral', remember: 1 });
    const spec = { type: 'ephemeral', kind: 'api-key' } as const;
    const issue = () =>
      eph.issue({ credential: 'k', spec, subject: 'spiffe://example.org/a', ttlSeconds: 60, leaseId: 'l' });
    const first = await issue();
    await issue();
    expect(eph.checkValue(first.secret.api_key as string).status).toBe('unknown');
  });

  it('gives a rotating store only for backends that hold static keys', () => {
    expect(createRotatingStore({ type: 'aws-secrets-manager', region: 'eu-west-1' }).kind).toBe(
      'aws-secrets-manager',
    );
    expect(errorOf(() => createRotatingStore({ type: 'ephemeral' })).code).toBe('BACKEND_CONFIG_INVALID');
  });
});

describe('spec errors name the kinds a type offers', () => {
  it('lists the Vault kinds for an unknown one', () => {
    const err = errorOf(() => validateCredentialSpec({ type: 'vault', kind: 'pki', role: 'x' }));
    expect(err.message).toMatch(/kv, token, database, aws/);
  });
});
