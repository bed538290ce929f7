/**
 * A static key in a real backend for the ledger tests: AWS Secrets Manager on moto, or
 * KV v2 on the Vault double; each `rig` seeds a fresh secret with a known old value.
 */
import { randomBytes } from 'node:crypto';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { vi } from 'vitest';
import {
  AwsSecretsManagerBackend,
  type CredentialBackend,
  type RotatingSecretStore,
  VaultBackend,
} from '../../../src/credential-broker/backends/index.js';
import { VaultDouble } from '../../doubles/vault-double.js';
import { type MotoServer, motoOrSkip, startMoto } from '../../helpers/moto.js';

const haveMoto = motoOrSkip();

export interface Rig {
  kind: 'aws' | 'vault';
  /** `--location` of `keys add`. */
  location: string;
  backend: CredentialBackend & RotatingSecretStore;
  backendName: string;
  spec: Record<string, unknown>;
  /** Where the backend location is, for the RotatingSecretStore calls. */
  where: string;
  /** Environment of the CLI (and of a crash child) to reach the backend. */
  env: Record<string, string>;
  oldPassword: string;
  /** `aws <moto-url>` or `vault <vault-url>`: how a crash child reaches the backend. */
  childArgs: [string, string];
}

export interface RigFactory {
  rig: (secret: string) => Promise<Rig>;
  stop(): Promise<void>;
}

export interface Flavour {
  name: 'aws' | 'vault';
  skip: boolean;
  start(): Promise<RigFactory>;
}

export const FLAVOURS: Flavour[] = [
  {
    name: 'aws',
    skip: !haveMoto,
    async start() {
      const moto: MotoServer = await startMoto();
      // The SDK's standard credential chain reads these from the process environment.
      vi.stubEnv('AWS_ACCESS_KEY_ID', 'testing');
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'testing');
      const client = new SecretsManagerClient(moto.clientConfig);
      const backend = new AwsSecretsManagerBackend({ client, name: 'aws' });
      return {
        async rig(secret) {
          const oldPassword = `old-${randomBytes(8).toString('hex')}`;
          await client.send(
            new CreateSecretCommand({
              Name: secret,
              SecretString: JSON.stringify({ username: 'orders', password: oldPassword }),
            }),
          );
          return {
            kind: 'aws',
            location: `aws:${secret}`,
            backend,
            backendName: 'aws',
            spec: { type: 'aws-secrets-manager', secretId: secret },
            where: secret,
            oldPassword,
            childArgs: ['aws', moto.url],
            env: {
              AWS_ENDPOINT_URL: moto.url,
              AWS_REGION: 'us-east-1',
              AWS_ACCESS_KEY_ID: 'testing',
              AWS_SECRET_ACCESS_KEY: 'testing',
            },
          };
        },
        async stop() {
          client.destroy();
          vi.unstubAllEnvs();
          await moto.stop();
        },
      };
    },
  },
  {
    name: 'vault',
    skip: false,
    async start() {
      const vault = await VaultDouble.start();
      const backend = new VaultBackend({ address: vault.url, token: vault.rootToken, name: 'vault' });
      return {
        async rig(secret) {
          const oldPassword = `old-${randomBytes(8).toString('hex')}`;
          vault.seedKv('secret', `app/${secret}`, { username: 'orders', password: oldPassword });
          return {
            kind: 'vault',
            location: `vault:secret/app/${secret}`,
            backend,
            backendName: 'vault',
            spec: { type: 'vault', kind: 'kv', path: `secret/app/${secret}` },
            where: `secret/app/${secret}`,
            oldPassword,
            childArgs: ['vault', vault.url],
            env: { VAULT_ADDR: vault.url, VAULT_TOKEN: vault.rootToken },
          };
        },
        async stop() {
          await backend.close();
          await vault.stop();
        },
      };
    },
  },
];
